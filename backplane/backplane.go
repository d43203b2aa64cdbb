// Package backplane connects the hubs of several processes so that a
// message sent on one node reaches connections held by any node. A
// Backplane is a small subject-based publish/subscribe and request/reply
// bus; the signalr package builds its routing (broadcasts, groups, users,
// connections, group changes and client results across nodes) on top of
// it. Memory is the in-process implementation; backplane/nats carries it
// over NATS and backplane/redis over Redis pub/sub, each a module of its
// own (github.com/gosignalr/signalr/backplane/nats and .../redis), so that
// a program that uses neither does not depend on their clients. Package
// backplane/backplanetest is the conformance suite every implementation
// passes.
//
// Users pass a Backplane to signalr.WithBackplane and never call it
// directly.
package backplane

import (
	"context"
	"errors"
)

// Backplane is a message bus between hub nodes. Implementations must be
// safe for concurrent use.
//
// Subjects are dot-separated tokens made of letters, digits, '-' and '_'
// (the signalr package encodes group and user names before using them).
type Backplane interface {
	// Publish delivers data to every subscription of subject, on every
	// node, at most once each. Messages published by one goroutine arrive
	// in the order published, across subjects: see Subscribe. It returns
	// an error when the
	// message could not be handed to the bus (for example while the bus is
	// unreachable). Publish does not keep data after it returns.
	Publish(ctx context.Context, subject string, data []byte) error
	// Subscribe calls h for every message published or requested on
	// subject until the subscription is ended. When Subscribe returns, the
	// subscription receives every message published after that, on any
	// node. Calls for one subscription
	// are sequential and in order; h must not block for long. h must not
	// keep msg.Data after it returns.
	//
	// All subscriptions of one Backplane value share one ordered dispatch:
	// a node's handlers are called in the order the messages reached the
	// node, whatever their subjects, so that messages published by one
	// goroutine (on any node) reach each node's handlers in the order
	// published, across subjects. A handler that blocks therefore holds up
	// every subscription of its Backplane, and one that waits for a
	// Request that a subscription of the same Backplane must answer may
	// wait until the Request's context ends. A caller that wants
	// parallelism hands the work on, keeping the order it needs (the
	// signalr package keeps each sender's order).
	Subscribe(subject string, h Handler) (Subscription, error)
	// Request sends data to one subscription of subject and waits for its
	// reply. It returns ErrNoResponders when nobody subscribes to subject,
	// and ctx's error when ctx ends first.
	Request(ctx context.Context, subject string, data []byte) ([]byte, error)
	// Close ends every subscription and releases the bus. Further calls
	// return ErrClosed.
	Close() error
}

// PayloadLimiter is implemented by a Backplane whose bus refuses messages
// past a size. MaxPayload returns the largest data, in bytes, that
// Publish, Request and Message.Reply accept at the moment (a bus may learn
// it from its server, and it may change when the Backplane reconnects),
// or 0 when there is no limit or it is not known yet. Callers keep what
// they send under it, splitting or refusing what does not fit. A
// Backplane that does not implement it has no limit.
type PayloadLimiter interface {
	MaxPayload() int
}

// Handler receives one message.
type Handler func(msg *Message)

// Message is a message delivered to a subscription.
type Message struct {
	Subject string
	Data    []byte
	// Reply answers a Request; it is nil for published messages.
	Reply func(data []byte) error
}

// Subscription is an active subscription.
type Subscription interface {
	// Unsubscribe stops delivery. A call in progress may still finish.
	Unsubscribe() error
}

// Errors returned by backplanes.
var (
	ErrNoResponders = errors.New("backplane: no responders")
	ErrClosed       = errors.New("backplane: closed")
)

// ValidSubject reports whether s follows the subject rule above:
// dot-separated, non-empty tokens of letters, digits, '-' and '_'.
// Implementations reject other subjects, which could be wildcards or break
// a wire protocol on their bus.
func ValidSubject(s string) bool {
	if s == "" {
		return false
	}
	tokenStart := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if tokenStart {
				return false
			}
			tokenStart = true
			continue
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
		tokenStart = false
	}
	return !tokenStart
}

// State is the condition of a backplane's link to its bus.
type State int

// States of a backplane's link to its bus.
const (
	// Connected: messages flow both ways.
	Connected State = iota
	// Disconnected: the link is down and the backplane is trying to
	// restore it by itself. Publish and Request fail meanwhile, and
	// messages published by other nodes do not arrive.
	Disconnected
	// Closed: the link is down for good and the backplane will not
	// restore it (a connection that belongs to the caller was closed, or
	// Close was called).
	Closed
)

// String returns "connected", "disconnected" or "closed".
func (s State) String() string {
	switch s {
	case Connected:
		return "connected"
	case Disconnected:
		return "disconnected"
	case Closed:
		return "closed"
	}
	return "unknown"
}

// Event is a change a HealthReporter reports: its link changed state,
// or messages meant for its subscriptions were dropped while the link
// stayed up.
type Event struct {
	// State is the link's state after the change.
	State State
	// Lost reports that messages published by other nodes may not have
	// reached this node's subscriptions: true whenever the link went down
	// or came back (what was published in between is missed), and for
	// messages dropped while connected (a subscription too slow to keep
	// up).
	Lost bool
	// Subject, when not empty, is the only subscription whose messages
	// were dropped; empty means any subscription may have missed
	// messages.
	Subject string
	// Err is the cause: why the link went down or why messages were
	// dropped. It is nil for a return to Connected.
	Err error
}

// HealthReporter is implemented by a Backplane that reports the health
// of its link to the bus. The signalr package uses it, when the Backplane
// given to it has it, to tell the application (Hub.BackplaneErr, a
// metric) and to close the connections that may have missed messages
// from other nodes.
type HealthReporter interface {
	// Health returns the link's current state and, unless it is
	// Connected, why.
	Health() (State, error)
	// Watch calls f with every Event from now on, until stop is called;
	// stop waits for a call of f in progress to return, so f must not
	// call it. Calls are made one at a time, in order, from a goroutine
	// of the backplane's; f must not block for long and must not call
	// Close. Events report changes: two in a row may have the same State
	// when the second reports lost messages.
	Watch(f func(Event)) (stop func())
}
