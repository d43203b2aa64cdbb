package signalr_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr/internal/hubtest"
	"github.com/gosignalr/signalr/internal/nodetest"
)

func TestOfficialClientStreaming(t *testing.T) {
	nodetest.Require(t)
	for _, tc := range hubtest.InteropMatrix {
		t.Run(tc.Transport+"/"+tc.Protocol, func(t *testing.T) {
			url := hubtest.InteropServer(t)
			passed, _ := hubtest.RunNodeFile(t, "streaming.test.mjs", url, tc.Transport, tc.Protocol)
			require.Positive(t, passed)
		})
	}
}
