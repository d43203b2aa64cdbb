package signalr_test

import (
	"errors"
	"iter"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/internal/hubtest"
)

// outcomeHub has streams that fail after their first item.
type outcomeHub struct{}

func (outcomeHub) Broken() iter.Seq2[int, error] {
	return func(yield func(int, error) bool) {
		if yield(1, nil) {
			yield(0, errors.New("the disk is gone"))
		}
	}
}

func (outcomeHub) Refused() iter.Seq2[int, error] {
	return func(yield func(int, error) bool) {
		if yield(1, nil) {
			yield(0, signalr.NewHubError("no more items for you"))
		}
	}
}

func (outcomeHub) Plain() int { return 1 }

// TestStreamFailureOutcome: a stream that fails after it started is
// answered and logged as a failed method is. Its own error is for the
// operator (error level) and its text stays on the server; a *HubError is
// for the client (debug level) and its text is sent.
func TestStreamFailureOutcome(t *testing.T) {
	rh := newRecordingHandler()
	_, url := hubtest.StartHub(t, outcomeHub{}, signalr.WithLogger(slog.New(rh)))
	c := hubtest.ConnectJSON(t, url)

	stream := func(id, target string) map[string]any {
		c.SendText(`{"type":4,"invocationId":"` + id + `","target":"` + target + `","arguments":[]}` + "\x1e")
		item := c.Next()
		require.Equal(t, float64(2), item["type"], "%v", item)
		done := c.Next()
		require.Equal(t, float64(3), done["type"], "%v", done)
		return done
	}
	done := stream("s1", "Broken")
	assert.Equal(t, "An error occurred on the server while streaming results.", done["error"])
	done = stream("s2", "Refused")
	assert.Equal(t, "An error occurred on the server while streaming results. HubException: no more items for you", done["error"])

	// A stream invocation of a method that does not stream is refused
	// through the same path as a plain one, and logged for debugging.
	c.SendText(`{"type":4,"invocationId":"s3","target":"Plain","arguments":[]}` + "\x1e")
	assert.Contains(t, c.Next()["error"], "non-streaming 'Plain' method with a streaming invocation")

	levels := map[string]slog.Level{}
	for _, r := range rh.find("stream failed") {
		levels[r.attrs["method"]] = r.level
	}
	assert.Equal(t, map[string]slog.Level{"Broken": slog.LevelError, "Refused": slog.LevelDebug}, levels)
	recs := rh.find("invalid invocation")
	require.Len(t, recs, 1)
	assert.Equal(t, slog.LevelDebug, recs[0].level)
	assert.Equal(t, "Plain", recs[0].attrs["method"])
}
