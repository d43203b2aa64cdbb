package client

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/gosignalr/signalr/protocol"
	"github.com/gosignalr/signalr/transport"
)

// fakeTransport hands the session the given frames once go is closed,
// then waits for Close.
type fakeTransport struct {
	gate    chan struct{}
	frames  [][]byte
	drained chan struct{} // closed when every frame has been taken
	closed  chan struct{}
	once    sync.Once
	mu      sync.Mutex
}

func newFakeTransport(frames ...[]byte) *fakeTransport {
	return &fakeTransport{gate: make(chan struct{}), frames: frames, drained: make(chan struct{}), closed: make(chan struct{})}
}

func (f *fakeTransport) Receive() ([]byte, error) {
	select {
	case <-f.gate:
	case <-f.closed:
		return nil, errTransportClosed
	}
	f.mu.Lock()
	if len(f.frames) > 0 {
		b := f.frames[0]
		f.frames = f.frames[1:]
		f.mu.Unlock()
		return b, nil
	}
	f.mu.Unlock()
	select {
	case <-f.drained:
	default:
		close(f.drained)
	}
	<-f.closed
	return nil, io.EOF
}

func (f *fakeTransport) Send(ctx context.Context, data []byte, binary bool) error {
	select {
	case <-f.closed:
		return errTransportClosed
	default:
		return nil
	}
}

func (f *fakeTransport) Close(context.Context) error {
	f.once.Do(func() { close(f.closed) })
	return nil
}

func (f *fakeTransport) Name() string { return transport.WebSockets }

type fuzzPoint struct {
	X    int    `json:"x"`
	Name string `json:"name"`
}

// FuzzInbound feeds arbitrary frames from a server to a connected client
// with handlers, a pending invocation and a pending stream: nothing may
// panic, and the connection must still end cleanly.
func FuzzInbound(f *testing.F) {
	json, mp := protocol.JSON{}, protocol.MessagePack{}
	enc := func(p protocol.HubProtocol, msgs ...protocol.Message) []byte {
		var b []byte
		for _, m := range msgs {
			b, _ = p.AppendMessage(b, m)
		}
		return b
	}
	for _, p := range []protocol.HubProtocol{json, mp} {
		binary := p == protocol.HubProtocol(mp)
		for _, stateful := range []bool{false, true} {
			f.Add(enc(p,
				&protocol.Invocation{Target: "a", Arguments: []any{1, "x"}},
				&protocol.Invocation{InvocationID: "r1", Target: "A", Arguments: []any{2, "y"}},
				&protocol.Invocation{InvocationID: "r2", Target: "point", Arguments: []any{map[string]any{"x": 1, "name": "n"}}},
				&protocol.Invocation{InvocationID: "r3", Target: "a", Arguments: []any{"wrong"}},
				&protocol.StreamItem{InvocationID: "1", Item: 5},
				&protocol.StreamItem{InvocationID: "0", Item: 5},
				&protocol.Completion{InvocationID: "1"},
				&protocol.Completion{InvocationID: "0", HasResult: true, Result: 42},
				&protocol.Ack{SequenceID: 3},
				&protocol.Sequence{SequenceID: 1},
				&protocol.Ping{},
			), binary, stateful)
			f.Add(enc(p, &protocol.Close{Error: "bye", AllowReconnect: true}), binary, stateful)
			f.Add(enc(p, &protocol.Sequence{SequenceID: 99}), binary, stateful)
			f.Add(enc(p, &protocol.Completion{InvocationID: "0", Error: "boom"}), binary, stateful)
		}
	}
	f.Add([]byte("{\"type\":1,\"target\":\"a\",\"arguments\":[1]}\x1e{"), false, false)
	f.Add([]byte{0x05, 0x93, 0x01, 0x80}, true, true)

	f.Fuzz(func(t *testing.T, data []byte, binary, stateful bool) {
		var p protocol.HubProtocol = protocol.JSON{}
		if binary {
			p = protocol.MessagePack{}
		}
		c, err := New("http://127.0.0.1:1/hub", WithProtocol(p), WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.On("a", func(ctx context.Context, n int, s string) (int, error) { return n, ctx.Err() }); err != nil {
			t.Fatal(err)
		}
		if err := On1(c, "point", func(fuzzPoint) {}); err != nil {
			t.Fatal(err)
		}
		// Frames split at an arbitrary point, so that messages straddle
		// them.
		cut := len(data) / 2
		tr := newFakeTransport(data[:cut], data[cut:])
		env := &httpEnv{hc: c.cfg.httpClient, tokens: &tokenSource{}}
		s := c.newSession(context.Background(), env, tr, "id", "http://127.0.0.1:1/hub?id=x", stateful, nil)
		inv := &call{done: make(chan callResult, 1)}
		stream := &call{items: newQueue[protocol.Raw]()}
		if s.addCall("0", inv) != nil || s.addCall("1", stream) != nil {
			t.Fatal("the session refused calls before reading anything")
		}
		close(tr.gate)

		select {
		case <-tr.drained:
		case <-s.done:
		case <-time.After(10 * time.Second):
			t.Fatal("the frames were not read")
		}
		s.finish(context.Background(), nil, false)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			t.Fatal("the session did not end")
		}
		// Every call got an answer: from the fuzz input or the end.
		select {
		case <-inv.done:
		default:
			t.Fatal("the pending invocation was not completed")
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		for {
			if _, err := stream.items.pop(ctx); err != nil {
				if errors.Is(err, context.DeadlineExceeded) {
					t.Fatal("the pending stream was not ended")
				}
				break
			}
		}
	})
}

// FuzzEventStream parses arbitrary Server-Sent Events: never a panic, and
// every event's data is what its data lines said.
func FuzzEventStream(f *testing.F) {
	f.Add([]byte(":\r\n\r\ndata: {\"type\":6}\x1e\r\n\r\n"))
	f.Add([]byte("data: a\ndata: b\n\nevent: x\nid: 1\nretry: 5\ndata:c\n\n"))
	f.Add([]byte("data\n\ndata: \r\n\r\n"))
	f.Fuzz(func(t *testing.T, stream []byte) {
		c := &sseConn{r: bufio.NewReaderSize(bytes.NewReader(stream), 16), closed: make(chan struct{})}
		for range len(stream) + 1 {
			data, err := c.Receive()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if len(data) > len(stream) {
				t.Fatalf("event data longer than the stream")
			}
		}
		t.Fatal("more events than bytes")
	})
}
