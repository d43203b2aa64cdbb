package transport

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

// BenchmarkWebSocketWrite measures the write path over a real loopback
// WebSocket: 16 small messages written one frame each, against the same
// 16 packed into one frame (one write), which is what the hub's writer
// does with whatever is queued. A client goroutine reads everything.
func BenchmarkWebSocketWrite(b *testing.B) {
	msg := []byte(`{"type":1,"target":"tick","arguments":[42,"payload"]}` + "\x1e")
	for _, perFrame := range []int{1, 16} {
		b.Run(fmt.Sprintf("msgs-per-frame=%d", perFrame), func(b *testing.B) {
			conns := make(chan Conn, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, err := UpgradeWebSocket(w, r, WebSocketOptions{})
				if err != nil {
					b.Error(err)
					return
				}
				conns <- c
			}))
			defer srv.Close()
			ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
			if err != nil {
				b.Fatal(err)
			}
			read := make(chan int)
			go func() {
				n := 0
				for {
					_, p, err := ws.ReadMessage()
					if err != nil {
						read <- n
						return
					}
					n += len(p) / len(msg)
				}
			}()
			c := <-conns
			parts := make([][]byte, perFrame)
			for i := range parts {
				parts[i] = msg
			}
			b.SetBytes(int64(16 * len(msg)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for j := 0; j < 16/perFrame; j++ {
					if err := c.WriteFrame(false, parts...); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			c.Close()
			if n := <-read; n != 16*b.N {
				b.Fatalf("client read %d messages, want %d", n, 16*b.N)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(16*b.N), "ns/msg")
			ws.Close()
		})
	}
}
