package signalr

import (
	"sync"
	"time"
)

// Long polling after the server ends a connection. A client polls again as
// soon as a poll is answered, so the poll after the one that carried the
// server's Close message usually arrives when the connection is already
// gone. ASP.NET Core keeps such a connection until that poll and answers it
// 204 (the connection is over, without an error); a 404 there makes the
// official Java client report "Unexpected response code 404." as the
// reason of a clean close. The hub remembers the tokens of the
// long-polling connections it ended for the disconnect timeout and
// answers the next poll of each 204, once.

// endedPolls is the set of those tokens (by tokenKey), oldest first.
type endedPolls struct {
	mu    sync.Mutex
	until map[string]time.Time
	order []string
}

// add remembers key until now+ttl and forgets the expired ones.
func (e *endedPolls) add(key string, now time.Time, ttl time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.expire(now)
	if e.until == nil {
		e.until = make(map[string]time.Time)
	}
	if _, ok := e.until[key]; !ok {
		e.order = append(e.order, key)
	}
	e.until[key] = now.Add(ttl)
}

// take reports whether key was remembered and not expired, and forgets it.
func (e *endedPolls) take(key string, now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.expire(now)
	_, ok := e.until[key]
	delete(e.until, key)
	return ok
}

func (e *endedPolls) expire(now time.Time) {
	n := 0
	for _, k := range e.order {
		t, ok := e.until[k]
		if ok && now.Before(t) {
			break
		}
		delete(e.until, k)
		n++
	}
	e.order = e.order[n:]
	if len(e.order) == 0 {
		e.order = nil
	}
}
