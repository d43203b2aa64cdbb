package signalr

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
)

// A connection negotiated with version 0 is named by its id on every
// request: the id is its token, and must not reach the logs. Its log
// records go through redactHandler, which puts a stand-in wherever the id
// appears.

// redactedLogger returns l with secret replaced, in every record, by a
// stand-in that still tells one connection's records from another's.
func redactedLogger(l *slog.Logger, secret string) *slog.Logger {
	return slog.New(&redactHandler{h: l.Handler(), secret: secret, stand: logStandIn(secret)})
}

// logStandIn is what a log record shows instead of a version 0
// connection's id: "v0-" and 16 hex digits of the id's SHA-256.
func logStandIn(id string) string {
	sum := sha256.Sum256([]byte(id))
	return "v0-" + hex.EncodeToString(sum[:8])
}

type redactHandler struct {
	h      slog.Handler
	secret string
	stand  string
}

func (r *redactHandler) Enabled(ctx context.Context, l slog.Level) bool { return r.h.Enabled(ctx, l) }

func (r *redactHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, r.str(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(r.attr(a))
		return true
	})
	return r.h.Handle(ctx, out)
}

func (r *redactHandler) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = r.attr(a)
	}
	return &redactHandler{h: r.h.WithAttrs(red), secret: r.secret, stand: r.stand}
}

func (r *redactHandler) WithGroup(name string) slog.Handler {
	return &redactHandler{h: r.h.WithGroup(name), secret: r.secret, stand: r.stand}
}

func (r *redactHandler) str(s string) string {
	if strings.Contains(s, r.secret) {
		return strings.ReplaceAll(s, r.secret, r.stand)
	}
	return s
}

// attr redacts a's value: strings, and any other value whose text holds
// the secret (errors, Stringers, ...), become redacted strings.
func (r *redactHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(r.str(a.Key), r.str(v.String()))
	case slog.KindGroup:
		g := v.Group()
		red := make([]any, len(g))
		for i, ga := range g {
			red[i] = r.attr(ga)
		}
		return slog.Group(r.str(a.Key), red...)
	case slog.KindAny:
		if s := fmt.Sprint(v.Any()); strings.Contains(s, r.secret) {
			return slog.String(r.str(a.Key), r.str(s))
		}
	}
	return slog.Attr{Key: r.str(a.Key), Value: v}
}

// logSubject is a backplane subject as it may be logged: a connection's
// subject holds its id, which for a version 0 connection is its token.
func (cl *cluster) logSubject(subject string) string {
	if prefix := cl.subject("c") + "."; strings.HasPrefix(subject, prefix) {
		return prefix + "*"
	}
	return subject
}
