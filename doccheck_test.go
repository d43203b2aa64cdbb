package signalr_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// docDirs are the public packages whose exported identifiers must all
// have doc comments.
var docDirs = []string{
	".",
	"backplane",
	"backplane/backplanetest",
	"backplane/nats",
	"backplane/redis",
	"client",
	"contract",
	"examples/chathub",
	"protocol",
	"protocol/protocoltest",
	"transport",
}

// TestExportedIdentifiersHaveDocComments lists every exported identifier
// of the public packages that go doc would show without a comment: a
// package, function, type, constant or variable, and a method of an
// exported type (or of an unexported type embedded in one, whose methods
// are promoted).
func TestExportedIdentifiersHaveDocComments(t *testing.T) {
	for _, dir := range docDirs {
		t.Run(dir, func(t *testing.T) {
			missing := undocumented(t, dir)
			assert.Empty(t, missing, "exported identifiers without a doc comment in %s", dir)
		})
	}
}

func undocumented(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	fset := token.NewFileSet()
	var files []*ast.File
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.ParseComments)
		require.NoError(t, err)
		files = append(files, f)
	}
	require.NotEmpty(t, files, "no Go files in %s", dir)

	// Unexported types embedded in exported structs: their methods show.
	promoted := map[string]bool{}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok || !ts.Name.IsExported() {
				return true
			}
			if st, ok := ts.Type.(*ast.StructType); ok {
				for _, field := range st.Fields.List {
					if len(field.Names) == 0 {
						promoted[typeName(field.Type)] = true
					}
				}
			}
			return true
		})
	}

	var missing []string
	hasPackageDoc := false
	where := func(n ast.Node, what string) string {
		p := fset.Position(n.Pos())
		return filepath.Base(p.Filename) + ":" + what
	}
	for _, f := range files {
		hasPackageDoc = hasPackageDoc || f.Doc != nil
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				if !d.Name.IsExported() || d.Doc != nil {
					continue
				}
				if d.Recv == nil {
					missing = append(missing, where(d, d.Name.Name))
					continue
				}
				recv := typeName(d.Recv.List[0].Type)
				if ast.IsExported(recv) || promoted[recv] {
					missing = append(missing, where(d, recv+"."+d.Name.Name))
				}
			case *ast.GenDecl:
				grouped := d.Lparen.IsValid()
				for _, spec := range d.Specs {
					switch s := spec.(type) {
					case *ast.TypeSpec:
						if s.Name.IsExported() && s.Doc == nil && (d.Doc == nil || grouped) {
							missing = append(missing, where(s, s.Name.Name))
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if n.IsExported() && s.Doc == nil && d.Doc == nil {
								missing = append(missing, where(n, n.Name))
							}
						}
					}
				}
			}
		}
	}
	if !hasPackageDoc {
		missing = append(missing, "package comment")
	}
	sort.Strings(missing)
	return missing
}

// typeName is the name of a receiver or embedded type: T, *T, T[P], *T[P].
func typeName(e ast.Expr) string {
	for {
		switch x := e.(type) {
		case *ast.StarExpr:
			e = x.X
		case *ast.IndexExpr:
			e = x.X
		case *ast.IndexListExpr:
			e = x.X
		case *ast.SelectorExpr:
			return x.Sel.Name
		case *ast.Ident:
			return x.Name
		default:
			return ""
		}
	}
}
