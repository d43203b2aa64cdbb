package chathub_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr/examples/chathub"
)

// TestClientScript checks where /signalr.min.js comes from: the given
// file, else the npm copy below the working directory, else the CDN.
func TestClientScript(t *testing.T) {
	get := func(t *testing.T, h http.Handler) *http.Response {
		t.Helper()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/signalr.min.js", nil))
		return rec.Result()
	}
	body := func(t *testing.T, resp *http.Response) string {
		t.Helper()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return string(b)
	}

	t.Run("given file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "client.js")
		require.NoError(t, os.WriteFile(path, []byte("/* given */"), 0o644))
		resp := get(t, chathub.ClientScript(path))
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "/* given */", body(t, resp))
	})
	t.Run("npm copy in the working directory", func(t *testing.T) {
		dir := t.TempDir()
		local := filepath.Join(dir, filepath.FromSlash(chathub.LocalClient))
		require.NoError(t, os.MkdirAll(filepath.Dir(local), 0o755))
		require.NoError(t, os.WriteFile(local, []byte("/* npm */"), 0o644))
		t.Chdir(dir)
		resp := get(t, chathub.ClientScript(""))
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "/* npm */", body(t, resp))
		assert.Contains(t, resp.Header.Get("Content-Type"), "javascript")
	})
	t.Run("neither: the CDN", func(t *testing.T) {
		t.Chdir(t.TempDir())
		resp := get(t, chathub.ClientScript(""))
		assert.Equal(t, http.StatusFound, resp.StatusCode)
		assert.Equal(t, chathub.CDNClient, resp.Header.Get("Location"))
	})
}
