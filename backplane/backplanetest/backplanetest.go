// Package backplanetest checks that an implementation of
// backplane.Backplane honours the contract documented on that interface.
// Implementations run it from a test:
//
//	func TestConformance(t *testing.T) {
//		backplanetest.Run(t, func(t *testing.T) (a, b backplane.Backplane) {
//			a, b = newNode(t), newNode(t) // two nodes on one bus
//			t.Cleanup(func() { a.Close(); b.Close() })
//			return a, b
//		})
//	}
//
// The suite is written for asynchronous buses: it waits for deliveries
// with deadlines instead of assuming that Publish delivers before it
// returns. It does rely on what the contract promises: a subscription is
// in effect on every node when Subscribe returns, and gone from every node
// when Unsubscribe returns.
//
// Buses over a network run more suites against a real server: RunPrefixes
// (prefixes keep applications apart on one server), RunOutage (the server
// stopped and started again under running nodes, and a first connection
// retried) and RunConnClosed (a lent connection closed by its owner).
package backplanetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gosignalr/signalr/backplane"
)

const (
	// waitTimeout bounds every wait for a message that must arrive.
	waitTimeout = 10 * time.Second
	// quietPeriod is how long the suite watches for a message that must
	// not arrive, after a later message proved the bus has moved on.
	quietPeriod = 100 * time.Millisecond
)

// Run runs the conformance suite as subtests of t. newPair is called once
// at the start of every subtest, with that subtest's t, and returns two
// handles on one bus, as two nodes of a cluster would hold them; for an
// in-process bus both may be the same value. newPair should register the
// cleanup of what it creates with t.Cleanup; the Close subtest closes a
// itself, so that cleanup must tolerate a second Close (which returns
// backplane.ErrClosed).
func Run(t *testing.T, newPair func(t *testing.T) (a, b backplane.Backplane)) {
	tests := []struct {
		name string
		fn   func(t *testing.T, a, b backplane.Backplane)
	}{
		{"PublishReachesEveryNode", testPublishReachesEveryNode},
		{"SeveralSubscriptionsOneSubject", testSeveralSubscriptions},
		{"SubjectsAreExact", testSubjectsAreExact},
		{"Unsubscribe", testUnsubscribe},
		{"OrderPerPublisher", testOrderPerPublisher},
		{"OrderAcrossSubjects", testOrderAcrossSubjects},
		{"DataNotRetained", testDataNotRetained},
		{"RequestReply", testRequestReply},
		{"RequestNoResponders", testRequestNoResponders},
		{"RequestHonoursContext", testRequestHonoursContext},
		{"ConcurrentPublishers", testConcurrentPublishers},
		{"HandlerMayPublishAndRequest", testHandlerMayPublishAndRequest},
		{"AllowedSubjectCharacters", testAllowedSubjectCharacters},
		{"InvalidSubjects", testInvalidSubjects},
		{"LargeMessage", testLargeMessage},
		{"Close", testClose},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := newPair(t)
			tt.fn(t, a, b)
		})
	}
}

// received is one message as a handler saw it; Data is a copy.
type received struct {
	Subject  string
	Data     string
	HasReply bool
}

// recorder is a Handler that keeps what it receives. It never blocks the
// bus, and it notices overlapping calls, which the contract forbids.
type recorder struct {
	t       *testing.T
	name    string
	mu      sync.Mutex
	msgs    []received
	changed chan struct{}
	active  atomic.Int32
	overlap atomic.Bool
}

func newRecorder(t *testing.T, name string) *recorder {
	t.Helper()
	r := &recorder{t: t, name: name, changed: make(chan struct{}, 1)}
	t.Cleanup(func() {
		if r.overlap.Load() {
			t.Errorf("%s: handler calls of one subscription overlapped", r.name)
		}
	})
	return r
}

func (r *recorder) handle(msg *backplane.Message) {
	if r.active.Add(1) != 1 {
		r.overlap.Store(true)
	}
	defer r.active.Add(-1)
	m := received{Subject: msg.Subject, Data: string(msg.Data), HasReply: msg.Reply != nil}
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

func (r *recorder) snapshot() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.msgs...)
}

func (r *recorder) datas() []string {
	var out []string
	for _, m := range r.snapshot() {
		out = append(out, m.Data)
	}
	return out
}

// waitFor waits until cond holds for the messages received so far, and
// fails the test after waitTimeout.
func (r *recorder) waitFor(what string, cond func([]received) bool) []received {
	r.t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		msgs := r.snapshot()
		if cond(msgs) {
			return msgs
		}
		select {
		case <-r.changed:
		case <-deadline.C:
			r.t.Fatalf("%s: timed out after %v waiting for %s; got %d messages: %v",
				r.name, waitTimeout, what, len(msgs), summarize(msgs))
		}
	}
}

// waitLen waits until at least n messages arrived.
func (r *recorder) waitLen(n int) []received {
	r.t.Helper()
	return r.waitFor(fmt.Sprintf("%d messages", n), func(m []received) bool { return len(m) >= n })
}

// waitData waits until a message with data arrived.
func (r *recorder) waitData(data string) []received {
	r.t.Helper()
	return r.waitFor(fmt.Sprintf("message %q", data), func(m []received) bool {
		for _, x := range m {
			if x.Data == data {
				return true
			}
		}
		return false
	})
}

// expect fails the test unless exactly want was received, in order.
func (r *recorder) expect(want ...string) {
	r.t.Helper()
	got := r.datas()
	if !equalStrings(got, want) {
		r.t.Fatalf("%s: received %v, want %v", r.name, summarizeStrings(got), summarizeStrings(want))
	}
}

func summarize(msgs []received) string {
	var s []string
	for _, m := range msgs {
		s = append(s, m.Subject+":"+short(m.Data))
	}
	return summarizeStrings(s)
}

func summarizeStrings(s []string) string {
	const maxShown = 10
	parts := make([]string, 0, maxShown+1)
	for i, x := range s {
		if i == maxShown {
			parts = append(parts, fmt.Sprintf("... (%d more)", len(s)-maxShown))
			break
		}
		parts = append(parts, strconv.Quote(short(x)))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func short(s string) string {
	if len(s) > 40 {
		return s[:40] + fmt.Sprintf("...(%d bytes)", len(s))
	}
	return s
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// subscribe subscribes h and unsubscribes it when the test ends.
func subscribe(t *testing.T, bp backplane.Backplane, subject string, h backplane.Handler) *onceSub {
	t.Helper()
	sub, err := bp.Subscribe(subject, h)
	if err != nil {
		t.Fatalf("Subscribe(%q): %v", subject, err)
	}
	s := &onceSub{sub: sub}
	t.Cleanup(func() { _ = s.Unsubscribe() })
	return s
}

// onceSub calls Unsubscribe at most once: the contract does not say what
// a second call does.
type onceSub struct {
	sub  backplane.Subscription
	once sync.Once
	err  error
}

func (s *onceSub) Unsubscribe() error {
	s.once.Do(func() { s.err = s.sub.Unsubscribe() })
	return s.err
}

func record(t *testing.T, bp backplane.Backplane, subject, name string) (*recorder, *onceSub) {
	t.Helper()
	r := newRecorder(t, name)
	return r, subscribe(t, bp, subject, r.handle)
}

func publish(t *testing.T, bp backplane.Backplane, subject, data string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := bp.Publish(ctx, subject, []byte(data)); err != nil {
		t.Fatalf("Publish(%q, %q): %v", subject, short(data), err)
	}
}

func request(t *testing.T, bp backplane.Backplane, subject, data string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	reply, err := bp.Request(ctx, subject, []byte(data))
	if err != nil {
		t.Fatalf("Request(%q, %q): %v", subject, short(data), err)
	}
	return string(reply)
}

// responder answers every request on subject with prefix+data.
func responder(t *testing.T, bp backplane.Backplane, subject, prefix string) {
	t.Helper()
	subscribe(t, bp, subject, func(msg *backplane.Message) {
		if msg.Reply == nil {
			return
		}
		_ = msg.Reply([]byte(prefix + string(msg.Data)))
	})
}

func testPublishReachesEveryNode(t *testing.T, a, b backplane.Backplane) {
	const subject = "pub.every"
	onA, _ := record(t, a, subject, "subscriber on a")
	onB, _ := record(t, b, subject, "subscriber on b")

	publish(t, a, subject, "from-a")
	publish(t, a, subject, "end-a")
	for _, r := range []*recorder{onA, onB} {
		msgs := r.waitData("end-a")
		r.expect("from-a", "end-a")
		for _, m := range msgs {
			if m.Subject != subject {
				t.Errorf("%s: Subject = %q, want %q", r.name, m.Subject, subject)
			}
			if m.HasReply {
				t.Errorf("%s: published message has a Reply func", r.name)
			}
		}
	}

	publish(t, b, subject, "from-b")
	publish(t, b, subject, "end-b")
	for _, r := range []*recorder{onA, onB} {
		r.waitData("end-b")
		r.expect("from-a", "end-a", "from-b", "end-b")
	}
}

func testSeveralSubscriptions(t *testing.T, a, b backplane.Backplane) {
	const subject = "pub.several"
	var rs []*recorder
	for i := range 3 {
		r, _ := record(t, a, subject, fmt.Sprintf("subscriber %d on a", i))
		rs = append(rs, r)
	}
	for i := range 2 {
		r, _ := record(t, b, subject, fmt.Sprintf("subscriber %d on b", i))
		rs = append(rs, r)
	}
	for _, bp := range []backplane.Backplane{a, b} {
		for i := range 3 {
			publish(t, bp, subject, "m"+strconv.Itoa(i))
		}
		publish(t, bp, subject, "end")
		for _, r := range rs {
			r.waitData("end")
			r.expect("m0", "m1", "m2", "end")
		}
		for _, r := range rs {
			r.mu.Lock()
			r.msgs = nil
			r.mu.Unlock()
		}
	}
}

func testSubjectsAreExact(t *testing.T, a, b backplane.Backplane) {
	// Neighbouring subjects: a bus must not match by prefix, by token
	// hierarchy or case-insensitively.
	subjects := []string{"exact", "exact.x", "exact.x.y", "Exact", "exactx", "exact-x", "exact_x", "x.exact"}
	rs := make(map[string]*recorder)
	for _, s := range subjects {
		rs[s], _ = record(t, b, s, "subscriber of "+s)
	}
	for _, s := range subjects {
		publish(t, a, s, s)
	}
	for _, s := range subjects {
		rs[s].waitData(s)
	}
	time.Sleep(quietPeriod)
	for _, s := range subjects {
		for _, m := range rs[s].snapshot() {
			if m.Subject != s || m.Data != s {
				t.Errorf("subscriber of %q received %q on %q", s, m.Data, m.Subject)
			}
		}
		rs[s].expect(s)
	}
}

func testUnsubscribe(t *testing.T, a, b backplane.Backplane) {
	const subject = "unsub"
	goneA, subA := record(t, a, subject, "unsubscribed on a")
	goneB, subB := record(t, b, subject, "unsubscribed on b")
	keepA, _ := record(t, a, subject, "kept on a")
	keepB, _ := record(t, b, subject, "kept on b")

	publish(t, a, subject, "before")
	for _, r := range []*recorder{goneA, goneB, keepA, keepB} {
		r.waitData("before")
	}
	if err := subA.Unsubscribe(); err != nil {
		t.Fatalf("Unsubscribe on a: %v", err)
	}
	if err := subB.Unsubscribe(); err != nil {
		t.Fatalf("Unsubscribe on b: %v", err)
	}

	// Messages published after Unsubscribe returned, from either node,
	// followed by a sentinel from the same publisher on the same subject:
	// once the kept subscriptions saw both sentinels, the bus has
	// delivered everything it would have delivered.
	publish(t, a, subject, "after-a")
	publish(t, b, subject, "after-b")
	publish(t, a, subject, "end-a")
	publish(t, b, subject, "end-b")
	for _, r := range []*recorder{keepA, keepB} {
		r.waitData("end-a")
		r.waitData("end-b")
	}
	time.Sleep(quietPeriod)
	goneA.expect("before")
	goneB.expect("before")

	// Subscribing again works on both nodes.
	againA, _ := record(t, a, subject, "resubscribed on a")
	againB, _ := record(t, b, subject, "resubscribed on b")
	publish(t, b, subject, "again")
	againA.waitData("again")
	againB.waitData("again")
	againA.expect("again")
	againB.expect("again")
}

func testOrderPerPublisher(t *testing.T, a, b backplane.Backplane) {
	const (
		subject = "order"
		n       = 1000
	)
	onA, _ := record(t, a, subject, "subscriber on a")
	onB, _ := record(t, b, subject, "subscriber on b")
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for i := range n {
		if err := a.Publish(ctx, subject, []byte(strconv.Itoa(i))); err != nil {
			t.Fatalf("Publish #%d: %v", i, err)
		}
	}
	for _, r := range []*recorder{onA, onB} {
		msgs := r.waitLen(n)
		if len(msgs) != n {
			t.Fatalf("%s: received %d messages, want %d", r.name, len(msgs), n)
		}
		for i, m := range msgs {
			if m.Data != strconv.Itoa(i) {
				t.Fatalf("%s: message #%d is %q, want %q", r.name, i, m.Data, strconv.Itoa(i))
			}
		}
	}
}

// testOrderAcrossSubjects publishes from one goroutine to several
// subjects, interleaved: each node's handlers, whatever subscription they
// belong to, see the messages in the order published.
func testOrderAcrossSubjects(t *testing.T, a, b backplane.Backplane) {
	const (
		subjects = 8
		n        = 2000
	)
	onA := newRecorder(t, "subscriptions on a")
	onB := newRecorder(t, "subscriptions on b")
	for i := range subjects {
		subject := "xorder." + strconv.Itoa(i)
		subscribe(t, a, subject, onA.handle)
		subscribe(t, b, subject, onB.handle)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for i := range n {
		// Not round robin: runs on one subject, then jumps.
		subject := "xorder." + strconv.Itoa((i*i/3+i/5)%subjects)
		if err := a.Publish(ctx, subject, []byte(strconv.Itoa(i))); err != nil {
			t.Fatalf("Publish #%d: %v", i, err)
		}
	}
	for _, r := range []*recorder{onA, onB} {
		msgs := r.waitLen(n)
		if len(msgs) != n {
			t.Fatalf("%s: received %d messages, want %d", r.name, len(msgs), n)
		}
		for i, m := range msgs {
			if m.Data != strconv.Itoa(i) {
				t.Fatalf("%s: message #%d is %q (subject %s), want %q", r.name, i, m.Data, m.Subject, strconv.Itoa(i))
			}
		}
	}
}

func testDataNotRetained(t *testing.T, a, b backplane.Backplane) {
	const subject = "retain"
	onA, _ := record(t, a, subject, "subscriber on a")
	onB, _ := record(t, b, subject, "subscriber on b")
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()

	// The publisher reuses one buffer, as a pooled encoder would.
	buf := []byte("first")
	if err := a.Publish(ctx, subject, buf); err != nil {
		t.Fatal(err)
	}
	copy(buf, "XXXXX")
	if err := a.Publish(ctx, subject, buf[:2]); err != nil {
		t.Fatal(err)
	}
	copy(buf, "YYYYY")
	for _, r := range []*recorder{onA, onB} {
		r.waitLen(2)
		r.expect("first", "XX")
	}

	// So do a requester and a responder.
	subscribe(t, b, "retain.svc", func(msg *backplane.Message) {
		reply := append([]byte("reply:"), msg.Data...)
		_ = msg.Reply(reply)
		copy(reply, "ZZZZZZZZZZZZ")
	})
	req := []byte("question")
	got, err := a.Request(ctx, "retain.svc", req)
	copy(req, "QQQQQQQQ")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "reply:question" {
		t.Fatalf("Request = %q, want %q", got, "reply:question")
	}
}

func testRequestReply(t *testing.T, a, b backplane.Backplane) {
	const subject = "svc.echo"
	var (
		mu   sync.Mutex
		seen []received
	)
	subscribe(t, b, subject, func(msg *backplane.Message) {
		mu.Lock()
		seen = append(seen, received{Subject: msg.Subject, Data: string(msg.Data), HasReply: msg.Reply != nil})
		mu.Unlock()
		if msg.Reply == nil {
			return
		}
		if err := msg.Reply([]byte("echo:" + string(msg.Data))); err != nil {
			t.Errorf("Reply: %v", err)
		}
	})

	if got := request(t, a, subject, "from-a"); got != "echo:from-a" {
		t.Errorf("Request from a = %q, want %q", got, "echo:from-a")
	}
	if got := request(t, b, subject, "from-b"); got != "echo:from-b" {
		t.Errorf("Request from b = %q, want %q", got, "echo:from-b")
	}
	mu.Lock()
	for _, m := range seen {
		if m.Subject != subject || !m.HasReply {
			t.Errorf("responder got Subject %q, Reply set %v; want %q, true", m.Subject, m.HasReply, subject)
		}
	}
	mu.Unlock()

	// Empty request and empty reply.
	subscribe(t, b, "svc.empty", func(msg *backplane.Message) {
		if len(msg.Data) != 0 {
			t.Errorf("responder got %q, want no data", msg.Data)
		}
		_ = msg.Reply(nil)
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	got, err := a.Request(ctx, "svc.empty", nil)
	if err != nil || len(got) != 0 {
		t.Errorf("empty Request = %q, %v; want empty reply, nil", got, err)
	}

	// Many requests in flight at once, each gets its own reply.
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from := []backplane.Backplane{a, b}[i%2]
			data := "r" + strconv.Itoa(i)
			reply, err := from.Request(ctx, subject, []byte(data))
			if err != nil || string(reply) != "echo:"+data {
				t.Errorf("concurrent Request %d = %q, %v; want %q", i, reply, err, "echo:"+data)
			}
		}()
	}
	wg.Wait()
}

func testRequestNoResponders(t *testing.T, a, b backplane.Backplane) {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	start := time.Now()
	_, err := a.Request(ctx, "nobody.home", []byte("anyone?"))
	if !errors.Is(err, backplane.ErrNoResponders) {
		t.Fatalf("Request with no subscriber: err = %v, want ErrNoResponders", err)
	}
	if d := time.Since(start); d > waitTimeout/2 {
		t.Errorf("Request with no subscriber took %v", d)
	}

	// After the only subscriber (on the other node) unsubscribed.
	sub := subscribe(t, b, "gone.home", func(msg *backplane.Message) { _ = msg.Reply([]byte("here")) })
	if got := request(t, a, "gone.home", "x"); got != "here" {
		t.Fatalf("Request = %q, want %q", got, "here")
	}
	if err := sub.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Request(ctx, "gone.home", []byte("x")); !errors.Is(err, backplane.ErrNoResponders) {
		t.Fatalf("Request after Unsubscribe: err = %v, want ErrNoResponders", err)
	}
}

func testRequestHonoursContext(t *testing.T, a, b backplane.Backplane) {
	const subject = "svc.silent"
	got := newRecorder(t, "silent responder")
	subscribe(t, b, subject, got.handle) // never replies

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := a.Request(ctx, subject, []byte("deadline"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Request with deadline: err = %v, want context.DeadlineExceeded", err)
	}
	got.waitData("deadline")

	// Cancelled while waiting.
	ctx, cancel = context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := a.Request(ctx, subject, []byte("cancel"))
		errc <- err
	}()
	got.waitData("cancel")
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled Request: err = %v, want context.Canceled", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Request did not return after its context was cancelled")
	}

	// Already cancelled: fails without sending.
	_, err = a.Request(ctx, subject, []byte("never"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Request with a cancelled context: err = %v, want context.Canceled", err)
	}
	if err := a.Publish(ctx, subject, []byte("never")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Publish with a cancelled context: err = %v, want context.Canceled", err)
	}
}

func testConcurrentPublishers(t *testing.T, a, b backplane.Backplane) {
	const (
		subject    = "conc"
		publishers = 8
		perPub     = 250
	)
	onA, _ := record(t, a, subject, "subscriber on a")
	onB, _ := record(t, b, subject, "subscriber on b")
	responder(t, a, "conc.svc", "ok:")

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	// Subscriptions come and go meanwhile, on the same subject and others.
	var churn sync.WaitGroup
	for i := range 2 {
		churn.Add(1)
		go func() {
			defer churn.Done()
			bp := []backplane.Backplane{a, b}[i]
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				s, err := bp.Subscribe([]string{subject, "conc.other"}[n%2], func(*backplane.Message) {})
				if err != nil {
					t.Errorf("Subscribe during publishing: %v", err)
					return
				}
				if err := s.Unsubscribe(); err != nil {
					t.Errorf("Unsubscribe during publishing: %v", err)
					return
				}
			}
		}()
	}
	for p := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bp := []backplane.Backplane{a, b}[p%2]
			for i := range perPub {
				if err := bp.Publish(ctx, subject, fmt.Appendf(nil, "%d/%d", p, i)); err != nil {
					t.Errorf("publisher %d: Publish #%d: %v", p, i, err)
					return
				}
				if i%50 == 0 {
					if reply, err := bp.Request(ctx, "conc.svc", []byte("x")); err != nil || string(reply) != "ok:x" {
						t.Errorf("publisher %d: Request = %q, %v", p, reply, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	churn.Wait()
	if t.Failed() {
		return
	}
	for _, r := range []*recorder{onA, onB} {
		msgs := r.waitLen(publishers * perPub)
		next := make([]int, publishers)
		for _, m := range msgs {
			var p, i int
			if _, err := fmt.Sscanf(m.Data, "%d/%d", &p, &i); err != nil || p < 0 || p >= publishers {
				t.Fatalf("%s: unexpected message %q", r.name, m.Data)
			}
			if i != next[p] {
				t.Fatalf("%s: publisher %d: got message #%d, want #%d", r.name, p, i, next[p])
			}
			next[p]++
		}
		for p, n := range next {
			if n != perPub {
				t.Errorf("%s: publisher %d: got %d messages, want %d", r.name, p, n, perPub)
			}
		}
	}
}

func testHandlerMayPublishAndRequest(t *testing.T, a, b backplane.Backplane) {
	out, _ := record(t, b, "nest.out", "subscriber of nest.out")
	responder(t, b, "nest.svc.b", "b:")

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	// work publishes, then requests from the other node's responder, from
	// inside a handler running on a. (A Request that a's own
	// subscriptions must answer would wait for this handler to return.)
	work := func(msg *backplane.Message) string {
		if err := a.Publish(ctx, "nest.out", msg.Data); err != nil {
			return "publish: " + err.Error()
		}
		rb, err := a.Request(ctx, "nest.svc.b", msg.Data)
		if err != nil {
			return "request b: " + err.Error()
		}
		rb2, err := a.Request(ctx, "nest.svc.b", append([]byte("again "), msg.Data...))
		if err != nil {
			return "request b again: " + err.Error()
		}
		return string(rb) + "," + string(rb2)
	}
	results := newRecorder(t, "handler results")
	subscribe(t, a, "nest.trigger", func(msg *backplane.Message) {
		res := work(msg)
		if msg.Reply != nil {
			_ = msg.Reply([]byte(res))
			return
		}
		results.handle(&backplane.Message{Subject: msg.Subject, Data: []byte(res)})
	})

	publish(t, b, "nest.trigger", "p")
	results.waitLen(1)
	results.expect("b:p,b:again p")
	out.waitData("p")

	if got := request(t, b, "nest.trigger", "q"); got != "b:q,b:again q" {
		t.Fatalf("Request to a handler that publishes and requests = %q, want %q", got, "b:q,b:again q")
	}
	out.waitData("q")
	out.expect("p", "q")
}

func testAllowedSubjectCharacters(t *testing.T, a, b backplane.Backplane) {
	subjects := []string{
		"a",
		"Z",
		"0",
		"-",
		"_",
		"abc-DEF_123",
		"with.dots.in.it",
		"MiXeD.Case-1.under_score",
		"123.456",
		"-._",
		"g.dGVzdA--.u_c29tZW9uZQ",
		strings.Repeat("long", 64) + "." + strings.Repeat("x", 200),
		strings.Repeat("t.", 31) + "t",
	}
	for _, s := range subjects {
		r, sub := record(t, b, s, "subscriber of "+short(s))
		publish(t, a, s, "hello")
		msgs := r.waitLen(1)
		if msgs[0].Subject != s || msgs[0].Data != "hello" {
			t.Errorf("subject %q: got %q on %q", s, msgs[0].Data, msgs[0].Subject)
		}
		if err := sub.Unsubscribe(); err != nil {
			t.Fatal(err)
		}
		responder(t, a, s, "re:")
		if got := request(t, b, s, "x"); got != "re:x" {
			t.Errorf("subject %q: Request = %q, want %q", s, got, "re:x")
		}
	}
}

// invalidSubjects break the subject rule of backplane.Backplane: empty
// tokens, wildcards of the buses, spaces and line breaks that would end a
// protocol line, and characters outside the rule.
var invalidSubjects = []string{
	"", ".", "..", "*", ">", "a.*", "a.>", "a*", "a>b", "a..b", ".a", "a.",
	"a b", " a", "a ", "a\tb", "a\nb", "a\r\nPUB x 1", "a\r\nPUBLISH x 1", "a\x00b",
	"é", "a/b", "a:b", "a[bc]", "a?", "a,b", "a+b", "a#b", "a$b", "\x1e",
}

func testInvalidSubjects(t *testing.T, a, b backplane.Backplane) {
	ctx, cancel := testContext()
	defer cancel()
	for _, s := range invalidSubjects {
		if err := a.Publish(ctx, s, []byte("x")); err == nil || errors.Is(err, backplane.ErrClosed) {
			t.Errorf("Publish(%q): err = %v, want an invalid subject error", s, err)
		}
		if sub, err := a.Subscribe(s, func(*backplane.Message) {}); err == nil {
			_ = sub.Unsubscribe()
			t.Errorf("Subscribe(%q) succeeded", s)
		}
		if _, err := a.Request(ctx, s, []byte("x")); err == nil || errors.Is(err, backplane.ErrNoResponders) || errors.Is(err, backplane.ErrClosed) {
			t.Errorf("Request(%q): err = %v, want an invalid subject error", s, err)
		}
	}
	// The refusals leave both nodes working.
	r, _ := record(t, b, "valid.after", "subscriber after the refusals")
	publish(t, a, "valid.after", "ok")
	r.waitData("ok")
	responder(t, a, "valid.svc", "re:")
	if got := request(t, b, "valid.svc", "x"); got != "re:x" {
		t.Fatalf("Request after the refusals = %q, want %q", got, "re:x")
	}
}

func testLargeMessage(t *testing.T, a, b backplane.Backplane) {
	const size = 1 << 20
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*7 + i>>8)
	}
	got := make(chan []byte, 1)
	subscribe(t, b, "large", func(msg *backplane.Message) {
		got <- bytes.Clone(msg.Data)
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := a.Publish(ctx, "large", data); err != nil {
		t.Fatalf("Publish 1 MiB: %v", err)
	}
	select {
	case g := <-got:
		if !bytes.Equal(g, data) {
			t.Fatalf("received %d bytes that differ from the %d published", len(g), len(data))
		}
	case <-ctx.Done():
		t.Fatal("1 MiB message not delivered")
	}

	subscribe(t, b, "large.svc", func(msg *backplane.Message) {
		if !bytes.Equal(msg.Data, data) {
			t.Errorf("responder received %d bytes that differ from the %d requested", len(msg.Data), len(data))
		}
		_ = msg.Reply(msg.Data)
	})
	reply, err := a.Request(ctx, "large.svc", data)
	if err != nil {
		t.Fatalf("Request 1 MiB: %v", err)
	}
	if !bytes.Equal(reply, data) {
		t.Fatalf("1 MiB reply differs (%d bytes)", len(reply))
	}
}

func testClose(t *testing.T, a, b backplane.Backplane) {
	r, sub := record(t, a, "close", "subscriber on the closed node")
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := a.Publish(ctx, "close", []byte("x")); !errors.Is(err, backplane.ErrClosed) {
		t.Errorf("Publish after Close: err = %v, want ErrClosed", err)
	}
	if s, err := a.Subscribe("close", func(*backplane.Message) {}); !errors.Is(err, backplane.ErrClosed) {
		t.Errorf("Subscribe after Close: err = %v, want ErrClosed", err)
		if s != nil {
			_ = s.Unsubscribe()
		}
	}
	if _, err := a.Request(ctx, "close", []byte("x")); !errors.Is(err, backplane.ErrClosed) {
		t.Errorf("Request after Close: err = %v, want ErrClosed", err)
	}
	if err := a.Close(); !errors.Is(err, backplane.ErrClosed) {
		t.Errorf("second Close: err = %v, want ErrClosed", err)
	}
	// Unsubscribing a subscription that Close ended must not panic; its
	// error is not specified.
	_ = sub.Unsubscribe()

	// When b is another node, it goes on working, and the closed node's
	// subscriptions are gone.
	if err := b.Publish(ctx, "close", []byte("after")); errors.Is(err, backplane.ErrClosed) {
		return // a and b are one bus handle
	} else if err != nil {
		t.Fatalf("Publish on the other node: %v", err)
	}
	alive, _ := record(t, b, "close.alive", "subscriber on the open node")
	publish(t, b, "close.alive", "ok")
	alive.waitData("ok")
	time.Sleep(quietPeriod)
	r.expect()
}
