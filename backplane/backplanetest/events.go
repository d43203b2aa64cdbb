package backplanetest

import (
	"strings"
	"sync"
	"sync/atomic"
)

// Events records what a backplane's error and reconnect handlers heard.
// Pass its OnError and OnReconnect methods as the handlers.
type Events struct {
	mu         sync.Mutex
	errs       []error
	reconnects atomic.Int32
}

// OnError records err.
func (e *Events) OnError(err error) {
	e.mu.Lock()
	e.errs = append(e.errs, err)
	e.mu.Unlock()
}

// OnReconnect counts a reconnection.
func (e *Events) OnReconnect() { e.reconnects.Add(1) }

// Reconnects is how many reconnections were counted.
func (e *Events) Reconnects() int { return int(e.reconnects.Load()) }

// Heard reports whether an error containing substr was recorded.
func (e *Events) Heard(substr string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, err := range e.errs {
		if strings.Contains(err.Error(), substr) {
			return true
		}
	}
	return false
}
