package signalr_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/internal/hubtest"
	"github.com/gosignalr/signalr/internal/nodetest"
)

// TestOfficialClientReleases runs the interop scenario files with older
// releases of the official JavaScript client (3.1, 5.0, 6.0, 7.0, 8.0;
// internal/interop/node/releases) over every transport and protocol each
// supports. A scenario whose feature a release lacks is skipped by the
// scenario file, with the reason; everything else must pass.
func TestOfficialClientReleases(t *testing.T) {
	// The scenario files spend most of their time waiting (keep-alive and
	// server-timeout scenarios), so several run at once: t.Run may be
	// called from several goroutines. A semaphore bounds the Node
	// processes.
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for _, release := range nodetest.Releases {
		for _, tc := range hubtest.InteropMatrix {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				t.Run(release+"/"+tc.Transport+"/"+tc.Protocol, func(t *testing.T) {
					nodetest.RequireRelease(t, release)
					url := hubtest.InteropServer(t)
					passed, skipped := nodetest.RunRelease(t, release, "scenarios.test.mjs", url, tc.Transport, tc.Protocol)
					t.Logf("scenarios: %d passed, %d skipped", passed, skipped)
					require.GreaterOrEqual(t, passed, 9, "the scenario file ran too few scenarios")
					url = hubtest.InteropServer(t)
					passed, skipped = nodetest.RunRelease(t, release, "streaming.test.mjs", url, tc.Transport, tc.Protocol)
					t.Logf("streaming: %d passed, %d skipped", passed, skipped)
					require.Positive(t, passed)
				})
			}()
		}
	}
	wg.Wait()
}

// TestStatefulReconnectOfficialClientReleases runs the stateful reconnect
// scenario (see TestStatefulReconnectOfficialClient) with each older
// release; the scenario file skips it, with the reason, for the releases
// before 8.0, which have no stateful reconnect.
func TestStatefulReconnectOfficialClientReleases(t *testing.T) {
	for _, release := range nodetest.Releases {
		t.Run(release, func(t *testing.T) {
			nodetest.RequireRelease(t, release)
			for _, proto := range []string{"json", "messagepack"} {
				t.Run(proto, func(t *testing.T) {
					sh := &statefulHub{}
					h, url := hubtest.StartHub(t, sh, signalr.WithStatefulReconnect(0), signalr.WithKeepAliveInterval(500*time.Millisecond))
					proxy := newDropProxy(t, strings.TrimPrefix(url, "http://"))
					sh.hub.Store(h)
					sh.proxy.Store(proxy)
					t.Cleanup(sh.wg.Wait)
					passed, skipped := nodetest.RunRelease(t, release, "stateful.test.mjs", proxy.URL(), "WebSockets", proto)
					if release < "v8.0" {
						require.Equal(t, 1, skipped, "releases before 8.0 have no stateful reconnect")
						return
					}
					require.Equal(t, 1, passed)
					require.Equal(t, int32(1), proxy.drops.Load(), "the replayed DropConnections call must not run twice")
					require.Positive(t, proxy.cutN.Load(), "the client's socket was cut")
				})
			}
		})
	}
}
