// Package chathub is the chat hub and web page shared by the chat and
// cluster examples, and the handler of the browser client every example
// page loads.
package chathub

import (
	"embed"
	"net/http"
	"os"
	"strings"

	"github.com/gosignalr/signalr"
)

// Chat is the hub. Clients call Send, Join and Leave; the server calls the
// clients' "message" and "system" handlers.
type Chat struct{}

// Send posts a message to the room, or to everyone when room is empty.
func (Chat) Send(c *signalr.Context, room, name, text string) error {
	name, text = strings.TrimSpace(name), strings.TrimSpace(text)
	if text == "" {
		return signalr.NewHubError("empty message")
	}
	if len(text) > 2000 {
		return signalr.NewHubError("message too long")
	}
	if room == "" {
		return c.Clients().All().Send(c, "message", room, name, text)
	}
	return c.Clients().Group(room).Send(c, "message", room, name, text)
}

// Join adds the caller to a room and tells the room.
func (Chat) Join(c *signalr.Context, room, name string) error {
	if room == "" {
		return signalr.NewHubError("room name required")
	}
	if err := c.Groups().Add(c, c.ConnectionID(), room); err != nil {
		return err
	}
	return c.Clients().Group(room).Send(c, "system", room, name+" joined")
}

// Leave takes the caller out of a room.
func (Chat) Leave(c *signalr.Context, room, name string) error {
	if err := c.Groups().Remove(c, c.ConnectionID(), room); err != nil {
		return err
	}
	return c.Clients().Group(room).Send(c, "system", room, name+" left")
}

//go:embed index.html
var page embed.FS

// CDNClient is where the page's browser client comes from when no local
// copy is given or found.
const CDNClient = "https://cdn.jsdelivr.net/npm/@microsoft/signalr@10.0.11/dist/browser/signalr.min.js"

// LocalClient is where npm ci (see scripts/test.sh) puts the official
// browser client, relative to the repository root: the working directory
// of go run ./examples/...
const LocalClient = "internal/interop/node/node_modules/@microsoft/signalr/dist/browser/signalr.min.js"

// ClientScript serves the official browser client: from the file clientJS
// when it is not empty, else from LocalClient when that file exists in the
// working directory at the time of the call, else by a redirect to
// CDNClient.
func ClientScript(clientJS string) http.Handler {
	if clientJS == "" {
		if fi, err := os.Stat(LocalClient); err == nil && fi.Mode().IsRegular() {
			clientJS = LocalClient
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if clientJS != "" {
			http.ServeFile(w, r, clientJS)
			return
		}
		http.Redirect(w, r, CDNClient, http.StatusFound)
	})
}

// Mux serves the page at /, the browser client at /signalr.min.js (see
// ClientScript) and the hub at /chat.
func Mux(hub http.Handler, clientJS string) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/chat", hub)
	mux.Handle("/chat/", hub)
	mux.Handle("GET /{$}", http.FileServerFS(page))
	mux.Handle("GET /signalr.min.js", ClientScript(clientJS))
	return mux
}
