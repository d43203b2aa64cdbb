package client

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"github.com/gosignalr/signalr/protocol"
)

var errorType = reflect.TypeFor[error]()

// uploadKind says how an upload argument yields its values.
type uploadKind int

const (
	uploadChan uploadKind = iota + 1 // a channel the client receives from
	uploadSeq                        // func(yield func(T) bool): iter.Seq[T]
	uploadSeq2                       // func(yield func(T, error) bool): iter.Seq2[T, error]
)

// upload is a stream argument on its way to the server.
type upload struct {
	id   string
	kind uploadKind
	src  reflect.Value
}

// uploadKindOf reports whether arg is streamed rather than encoded.
func uploadKindOf(arg any) uploadKind {
	t := reflect.TypeOf(arg)
	if t == nil {
		return 0
	}
	switch t.Kind() {
	case reflect.Chan:
		if t.ChanDir()&reflect.RecvDir != 0 {
			return uploadChan
		}
	case reflect.Func:
		if t.NumIn() != 1 || t.NumOut() != 0 || t.IsVariadic() {
			return 0
		}
		y := t.In(0)
		if y.Kind() != reflect.Func || y.NumOut() != 1 || y.Out(0).Kind() != reflect.Bool || y.IsVariadic() {
			return 0
		}
		switch {
		case y.NumIn() == 1:
			return uploadSeq
		case y.NumIn() == 2 && y.In(1) == errorType:
			return uploadSeq2
		}
	}
	return 0
}

// splitUploads takes the stream arguments out of args and gives each an
// id from the client's counter, as the official client does.
func (c *Client) splitUploads(args []any) ([]any, []*upload, []string, error) {
	var ups []*upload
	var ids []string
	kept := args[:0:0]
	for i, a := range args {
		kind := uploadKindOf(a)
		if kind == 0 {
			kept = append(kept, a)
			continue
		}
		v := reflect.ValueOf(a)
		if v.IsNil() {
			return nil, nil, nil, fmt.Errorf("signalr client: argument %d is a nil %s", i, v.Type())
		}
		u := &upload{id: c.nextID(), kind: kind, src: v}
		ups = append(ups, u)
		ids = append(ids, u.id)
	}
	if kept == nil {
		kept = []any{}
	}
	return kept, ups, ids, nil
}

// startUploads streams each upload on a goroutine of its own. They stop
// when the session ends or callCtx does.
func (s *session) startUploads(callCtx context.Context, ups []*upload) {
	for _, u := range ups {
		ctx, cancel := context.WithCancel(s.ctx)
		stop := context.AfterFunc(callCtx, cancel)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer cancel()
			defer stop()
			s.pump(ctx, u)
		}()
	}
}

// pump sends the upload's values as StreamItems, then a Completion (with
// the iterator's error, or a cancellation, if any).
func (s *session) pump(ctx context.Context, u *upload) {
	var errText string
	failed := false // the connection is gone: nothing more to send
	send := func(v reflect.Value) bool {
		err := s.send(ctx, &protocol.StreamItem{InvocationID: u.id, Item: v.Interface()}, true)
		var enc *encodeError
		switch {
		case err == nil:
			return true
		case errors.As(err, &enc):
			errText = "Stream item could not be encoded: " + enc.err.Error()
		case ctx.Err() != nil:
		default:
			failed = true
		}
		return false
	}
	switch u.kind {
	case uploadChan:
		cases := []reflect.SelectCase{
			{Dir: reflect.SelectRecv, Chan: u.src},
			{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())},
		}
		for {
			chosen, v, ok := reflect.Select(cases)
			if chosen == 1 || !ok || !send(v) {
				break
			}
		}
	case uploadSeq:
		for v := range u.src.Seq() {
			if ctx.Err() != nil || !send(v) {
				break
			}
		}
	case uploadSeq2:
		for v, e := range u.src.Seq2() {
			if !e.IsNil() {
				errText = e.Interface().(error).Error()
				break
			}
			if ctx.Err() != nil || !send(v) {
				break
			}
		}
	}
	if failed || s.ctx.Err() != nil {
		return
	}
	if errText == "" && ctx.Err() != nil {
		errText = "Stream canceled by the client."
	}
	_ = s.send(s.ctx, &protocol.Completion{InvocationID: u.id, Error: errText}, false)
}
