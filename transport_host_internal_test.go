package signalr

import "testing"

// A transport's metric label comes from its name alone, so a new transport
// needs nothing in this package to be counted.
func TestTransportLabel(t *testing.T) {
	for name, want := range map[string]string{
		"WebSockets":       "web_sockets",
		"ServerSentEvents": "server_sent_events",
		"LongPolling":      "long_polling",
		"WebTransport":     "web_transport",
		"":                 "",
	} {
		if got := transportLabel(name); got != want {
			t.Errorf("transportLabel(%q) = %q, want %q", name, got, want)
		}
	}
}
