package client_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr/internal/nodetest"
)

// TestGoAndOfficialClientInOneGroup puts a Go client and the official
// JavaScript client (under Node) in one group, each with its own
// transport and protocol, and has them talk.
func TestGoAndOfficialClientInOneGroup(t *testing.T) {
	nodetest.Require(t)
	for _, tc := range []struct {
		goSide             combo
		jsTransport, jsPro string
	}{
		{combos[4], "WebSockets", "json"},
		{combos[2], "LongPolling", "messagepack"},
		{combos[1], "ServerSentEvents", "json"},
	} {
		t.Run("go "+tc.goSide.String()+" js "+tc.jsTransport+"/"+tc.jsPro, func(t *testing.T) {
			srv := startServer(t, newTestHub(), nil)
			cl := newClient(t, srv.URL, tc.goSide)
			heard := make(chan string, 4)
			require.NoError(t, cl.On("groupMessage", func(ctx context.Context, from, msg string) error {
				if from != "js" {
					return nil
				}
				heard <- msg
				return cl.Send(ctx, "SendToGroup", "mixed", "go", msg+", said go")
			}))
			start(t, cl)
			require.NoError(t, cl.Invoke(ctxT(t), nil, "Join", "mixed"))

			passed, _ := nodetest.Run(t, "goclient.test.mjs", srv.srv.URL, tc.jsTransport, tc.jsPro)
			assert.Equal(t, 1, passed)
			assert.Equal(t, "hello from js", recv(t, heard, "the official client's message"))
		})
	}
}
