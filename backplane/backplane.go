// Package backplane connects the hubs of several processes so that a
// message sent on one node reaches connections held by any node. A
// Backplane is a small subject-based publish/subscribe and request/reply
// bus; the signalr package builds its routing (broadcasts, groups, users,
// connections, group changes and client results across nodes) on top of
// it. Memory is the in-process implementation; backplane/nats carries it
// over NATS and backplane/redis over Redis pub/sub. Package
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
