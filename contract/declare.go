package contract

import (
	"fmt"
	"reflect"
	"strings"
)

// Declare returns a T, a struct of descriptors, with every descriptor named
// after its field, or after the field's signalr tag:
//
//	type ChatClient struct {
//		ReceiveMessage contract.Method2[string, string]              // "ReceiveMessage"
//		AskName        contract.Func0[string] `signalr:"askName"` // "askName"
//	}
//
// Every field must be an exported descriptor (Method0 … Method4, Func0 …
// Func4) or an embedded contract struct, whose descriptors join T's, and
// no two descriptors may share a name, ignoring case, since SignalR
// matches method names without regard to case. Declare checks T once;
// call it when the program starts, usually through [MustDeclare] in a
// package variable.
func Declare[T any]() (T, error) {
	var v T
	rv := reflect.ValueOf(&v).Elem()
	if rv.Kind() != reflect.Struct {
		return v, fmt.Errorf("contract: %v is not a struct of method descriptors", rv.Type())
	}
	if err := declare(rv, rv.Type().String(), make(map[string]string)); err != nil {
		return v, err
	}
	return v, nil
}

// declare names the descriptors of the struct rv, reached by path; seen
// maps the lower-case names given so far to their fields.
func declare(rv reflect.Value, path string, seen map[string]string) error {
	t := rv.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		field := path + "." + f.Name
		fv := rv.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct && !reflect.PointerTo(f.Type).Implements(namedType) {
			// An embedded contract, exported or not: its descriptors
			// are promoted into this one.
			if err := declare(fv, field, seen); err != nil {
				return err
			}
			continue
		}
		if !f.IsExported() {
			return fmt.Errorf("contract: %s is not exported; a contract holds only method descriptors", field)
		}
		d, ok := fv.Addr().Interface().(named)
		if !ok {
			return fmt.Errorf("contract: %s: %v is not a method descriptor (Method0 … Method4, Func0 … Func4)", field, f.Type)
		}
		name := f.Name
		if tag := f.Tag.Get("signalr"); tag != "" {
			name = tag
		}
		key := strings.ToLower(name)
		if other, dup := seen[key]; dup {
			return fmt.Errorf("contract: %s and %s both name the method %q (names ignore case)", other, field, name)
		}
		seen[key] = field
		d.setName(name)
	}
	return nil
}

var namedType = reflect.TypeFor[named]()

// MustDeclare is [Declare] for package variables: it panics when T is not
// a valid contract, a mistake in the program's source.
func MustDeclare[T any]() T {
	v, err := Declare[T]()
	if err != nil {
		panic(err)
	}
	return v
}
