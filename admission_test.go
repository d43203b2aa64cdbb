package signalr_test

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/internal/hubtest"
)

// fromAddress is an HTTP client whose connections come from the loopback
// address ip (any of 127.0.0.0/8), so that the hub sees another client
// address.
func fromAddress(t *testing.T, ip string) *http.Client {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// negotiateFrom POSTs a negotiate request with client and returns its
// status and body.
func negotiateFrom(t *testing.T, client *http.Client, url string, hdr http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/hub/negotiate?negotiateVersion=1", nil)
	require.NoError(t, err)
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func tokenOf(t *testing.T, body string) string {
	t.Helper()
	_, rest, ok := strings.Cut(body, `"connectionToken":"`)
	require.True(t, ok, body)
	tok, _, _ := strings.Cut(rest, `"`)
	return tok
}

// With the default share, one address that floods negotiate takes only a
// tenth of the hub-wide cap, and another address still negotiates.
func TestNegotiationFloodFromOneAddressLeavesOthersIn(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{}, signalr.WithMaxPendingNegotiations(20))
	flooder, other := fromAddress(t, "127.0.0.1"), fromAddress(t, "127.0.0.2")
	codes := map[int]int{}
	for range 100 {
		status, _ := negotiateFrom(t, flooder, url, nil)
		codes[status]++
	}
	assert.Equal(t, map[int]int{http.StatusOK: 2, http.StatusTooManyRequests: 98}, codes)
	for range 2 {
		status, body := negotiateFrom(t, other, url, nil)
		assert.Equal(t, http.StatusOK, status, body)
	}
}

func TestPendingNegotiationsPerAddressLimit(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{},
		signalr.WithMaxPendingNegotiations(100), signalr.WithMaxPendingNegotiationsPerAddress(3))
	a, b := fromAddress(t, "127.0.0.1"), fromAddress(t, "127.0.0.2")
	var tokens []string
	for range 3 { // at the limit
		status, body := negotiateFrom(t, a, url, nil)
		require.Equal(t, http.StatusOK, status, body)
		tokens = append(tokens, tokenOf(t, body))
	}
	status, body := negotiateFrom(t, a, url, nil) // past it
	assert.Equal(t, http.StatusTooManyRequests, status)
	assert.Contains(t, body, "from this address")
	status, body = negotiateFrom(t, b, url, nil)
	assert.Equal(t, http.StatusOK, status, "another address is not affected: %s", body)

	// Using a token gives its place back to its address.
	c := hubtest.ConnectJSONQuery(t, url, "?id="+tokens[0])
	c.Sync()
	status, body = negotiateFrom(t, a, url, nil)
	assert.Equal(t, http.StatusOK, status, body)
	status, _ = negotiateFrom(t, a, url, nil)
	assert.Equal(t, http.StatusTooManyRequests, status)
}

func TestPendingNegotiationsPerAddressExpire(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{}, signalr.WithNegotiateTimeout(200*time.Millisecond),
		signalr.WithMaxPendingNegotiationsPerAddress(1))
	a := fromAddress(t, "127.0.0.1")
	status, body := negotiateFrom(t, a, url, nil)
	require.Equal(t, http.StatusOK, status, body)
	status, _ = negotiateFrom(t, a, url, nil)
	require.Equal(t, http.StatusTooManyRequests, status)
	// Once the unused token expires, the address may negotiate again.
	deadline := time.Now().Add(5 * time.Second)
	for {
		status, body = negotiateFrom(t, a, url, nil)
		if status == http.StatusOK {
			break
		}
		require.Equal(t, http.StatusTooManyRequests, status, body)
		require.True(t, time.Now().Before(deadline), "the expired token still counts")
		time.Sleep(50 * time.Millisecond)
	}
}

// The hub-wide cap still holds across addresses.
func TestMaxPendingNegotiationsAcrossAddresses(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{},
		signalr.WithMaxPendingNegotiations(4), signalr.WithMaxPendingNegotiationsPerAddress(2))
	for _, ip := range []string{"127.0.0.1", "127.0.0.2"} {
		c := fromAddress(t, ip)
		for range 2 {
			status, body := negotiateFrom(t, c, url, nil)
			require.Equal(t, http.StatusOK, status, body)
		}
	}
	status, _ := negotiateFrom(t, fromAddress(t, "127.0.0.3"), url, nil)
	assert.Equal(t, http.StatusServiceUnavailable, status)
}

// Behind a proxy, WithClientAddressFunc names the client; without it all
// requests share the proxy's address.
func TestClientAddressFunc(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{}, signalr.WithMaxPendingNegotiationsPerAddress(1),
		signalr.WithClientAddressFunc(func(r *http.Request) string { return r.Header.Get("X-Real-IP") }))
	c := fromAddress(t, "127.0.0.1") // the proxy
	for _, client := range []string{"198.51.100.1", "198.51.100.2"} {
		hdr := http.Header{"X-Real-Ip": {client}}
		status, body := negotiateFrom(t, c, url, hdr)
		require.Equal(t, http.StatusOK, status, body)
		status, _ = negotiateFrom(t, c, url, hdr)
		assert.Equal(t, http.StatusTooManyRequests, status, client)
	}
	// No key: the remote address counts.
	status, _ := negotiateFrom(t, c, url, nil)
	assert.Equal(t, http.StatusOK, status)
	status, _ = negotiateFrom(t, c, url, nil)
	assert.Equal(t, http.StatusTooManyRequests, status)
}

// concurrentDials opens n WebSockets at once for header's user, sends no
// handshake, and returns the open ones and the refusals' statuses.
func concurrentDials(t *testing.T, url, query string, header http.Header, n int) (open []*websocket.Conn, refused []int) {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(url, "http")+"/hub"+query, header)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				open = append(open, ws)
				return
			}
			status := 0
			if resp != nil {
				status = resp.StatusCode
				resp.Body.Close()
			}
			refused = append(refused, status)
		})
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, ws := range open {
			ws.Close()
		}
	})
	return open, refused
}

// The per-user cap counts connections from the moment they are asked for:
// sockets opened together before any handshake cannot pass it together.
func TestMaxConnectionsPerUserBeforeHandshake(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{}, signalr.WithAuthenticator(tokenAuth), signalr.WithMaxConnectionsPerUser(1))
	hdr := http.Header{"Authorization": {"Bearer user:zed"}}
	open, refused := concurrentDials(t, url, "", hdr, 5)
	require.Len(t, open, 1, "exactly one of five sockets lives")
	assert.Equal(t, []int{429, 429, 429, 429}, refused)

	// The one that lives works.
	c := &hubtest.RawClient{T: t, WS: open[0]}
	c.SendText(`{"protocol":"json","version":1}` + "\x1e")
	require.Equal(t, "{}\x1e", c.ReadText())
	_, status := dialWith(t, url, "", hdr)
	assert.Equal(t, http.StatusTooManyRequests, status, "the cap holds after the handshake")
	_, status = dialWith(t, url, "", http.Header{"Authorization": {"Bearer user:other"}})
	assert.Equal(t, http.StatusSwitchingProtocols, status, "other users are not affected")

	// Its end frees the slot.
	c.SendText(`{"type":7}` + "\x1e")
	_, _ = c.ExpectClosed()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c2, status := dialWith(t, url, "", hdr)
		if status == http.StatusSwitchingProtocols {
			c2.WS.Close()
			break
		}
		require.Equal(t, http.StatusTooManyRequests, status)
		require.True(t, time.Now().Before(deadline), "the slot was not freed")
		time.Sleep(20 * time.Millisecond)
	}
}

// A negotiation holds the user's slot: the cap applies at negotiate, the
// token's connection takes the slot over, and an unused token gives it
// back when it expires.
func TestMaxConnectionsPerUserCountsNegotiations(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{}, signalr.WithAuthenticator(tokenAuth), signalr.WithMaxConnectionsPerUser(1),
		signalr.WithNegotiateTimeout(300*time.Millisecond))
	hdr := http.Header{"Authorization": {"Bearer user:zed"}}
	client := fromAddress(t, "127.0.0.1")
	var mu sync.Mutex
	var wg sync.WaitGroup
	codes := map[int]int{}
	var token string
	for range 5 {
		wg.Go(func() {
			status, body := negotiateFrom(t, client, url, hdr)
			mu.Lock()
			defer mu.Unlock()
			codes[status]++
			if status == http.StatusOK {
				token = tokenOf(t, body)
			}
		})
	}
	wg.Wait()
	require.Equal(t, map[int]int{http.StatusOK: 1, http.StatusTooManyRequests: 4}, codes)
	_, status := dialWith(t, url, "", hdr)
	assert.Equal(t, http.StatusTooManyRequests, status, "the negotiation holds the slot")

	c, status := dialWith(t, url, "?id="+token, hdr)
	require.Equal(t, http.StatusSwitchingProtocols, status, "the negotiated connection takes its own slot")
	c.SendText(`{"protocol":"json","version":1}` + "\x1e")
	require.Equal(t, "{}\x1e", c.ReadText())
	c.WS.Close()

	// Once that connection is over, a negotiation left unused gives its
	// slot back when its token expires.
	deadline := time.Now().Add(5 * time.Second)
	for {
		status, _ = negotiateFrom(t, client, url, hdr)
		if status == http.StatusOK {
			break
		}
		require.Equal(t, http.StatusTooManyRequests, status)
		require.True(t, time.Now().Before(deadline), "the slot was not freed")
		time.Sleep(20 * time.Millisecond)
	}
	status, _ = negotiateFrom(t, client, url, hdr)
	require.Equal(t, http.StatusTooManyRequests, status)
	deadline = time.Now().Add(5 * time.Second)
	for {
		status, _ = negotiateFrom(t, client, url, hdr)
		if status == http.StatusOK {
			break
		}
		require.True(t, time.Now().Before(deadline), "the expired token's slot was not freed")
		time.Sleep(50 * time.Millisecond)
	}
}
