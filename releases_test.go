package signalr_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr/internal/nodetest"
)

// TestOfficialClientReleases runs the interop scenario files with older
// releases of the official JavaScript client (3.1, 5.0, 6.0, 7.0, 8.0;
// internal/interop/node/releases) over every transport and protocol each
// supports. A scenario whose feature a release lacks is skipped by the
// scenario file, with the reason; everything else must pass.
func TestOfficialClientReleases(t *testing.T) {
	for _, release := range nodetest.Releases {
		t.Run(release, func(t *testing.T) {
			t.Parallel()
			nodetest.RequireRelease(t, release)
			for _, tc := range interopMatrix {
				t.Run(tc.transport+"/"+tc.protocol, func(t *testing.T) {
					url := interopServer(t)
					passed, skipped := nodetest.RunRelease(t, release, "scenarios.test.mjs", url, tc.transport, tc.protocol)
					t.Logf("scenarios: %d passed, %d skipped", passed, skipped)
					require.GreaterOrEqual(t, passed, 9, "the scenario file ran too few scenarios")
					url = interopServer(t)
					passed, skipped = nodetest.RunRelease(t, release, "streaming.test.mjs", url, tc.transport, tc.protocol)
					t.Logf("streaming: %d passed, %d skipped", passed, skipped)
					require.Positive(t, passed)
				})
			}
		})
	}
}
