package signalr_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rootFiles parses the root package's non-test Go files.
func rootFiles(t *testing.T) map[string]*ast.File {
	t.Helper()
	entries, err := os.ReadDir(".")
	require.NoError(t, err)
	fset := token.NewFileSet()
	files := map[string]*ast.File{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		require.NoError(t, err)
		files[name] = f
	}
	require.NotEmpty(t, files)
	return files
}

// TestOptionsTableListsEveryOption: the Options section of the package
// documentation has a row for every exported With… function that returns
// an Option, and no row for one that does not exist.
func TestOptionsTableListsEveryOption(t *testing.T) {
	files := rootFiles(t)
	var options []string
	for _, f := range files {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Recv != nil || !fd.Name.IsExported() || !strings.HasPrefix(fd.Name.Name, "With") {
				continue
			}
			res := fd.Type.Results
			if res == nil || len(res.List) != 1 {
				continue
			}
			if id, ok := res.List[0].Type.(*ast.Ident); ok && id.Name == "Option" {
				options = append(options, fd.Name.Name)
			}
		}
	}
	require.NotEmpty(t, options)

	doc := files["doc.go"]
	require.NotNil(t, doc, "doc.go")
	require.NotNil(t, doc.Doc, "doc.go's package comment")
	var table []string
	in := false
	for _, line := range strings.Split(doc.Doc.Text(), "\n") {
		if strings.HasPrefix(line, "# ") {
			in = line == "# Options"
			continue
		}
		if !in || !strings.HasPrefix(line, "\t") {
			continue
		}
		if name := strings.Fields(line)[0]; strings.HasPrefix(name, "With") {
			table = append(table, name)
		}
	}
	require.NotEmpty(t, table, "no Options table in doc.go")

	sort.Strings(options)
	sort.Strings(table)
	assert.Equal(t, options, table, "the Options table of doc.go and the exported options differ")
}

// TestExportedErrorsLiveInErrorsGo: every exported error of the package,
// a variable named Err… or a type named …Error, is declared in errors.go,
// so that one file lists them all.
func TestExportedErrorsLiveInErrorsGo(t *testing.T) {
	var elsewhere []string
	for name, f := range rootFiles(t) {
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok {
				continue
			}
			for _, spec := range gd.Specs {
				switch s := spec.(type) {
				case *ast.ValueSpec:
					for _, n := range s.Names {
						if n.IsExported() && strings.HasPrefix(n.Name, "Err") && name != "errors.go" {
							elsewhere = append(elsewhere, name+": "+n.Name)
						}
					}
				case *ast.TypeSpec:
					if s.Name.IsExported() && strings.HasSuffix(s.Name.Name, "Error") && name != "errors.go" {
						elsewhere = append(elsewhere, name+": "+s.Name.Name)
					}
				}
			}
		}
	}
	assert.Empty(t, elsewhere, "exported errors declared outside errors.go")
}
