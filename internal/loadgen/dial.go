package loadgen

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// DialConfig says how DialN spreads and paces its connections. The zero
// value is usable.
type DialConfig struct {
	// Concurrency bounds the dials in flight. Zero means 64.
	Concurrency int
	// PerAddress is how many connections share one source address. Zero
	// means 20,000, well inside one address's ephemeral port range.
	PerAddress int
	// FirstAddress is the SourceIP index of the first source address
	// (0 is 127.0.0.1). Processes that dial at the same time give each other
	// distinct ranges.
	FirstAddress int
	// Retries is how many times a failed dial is tried again. Zero means
	// 2; a negative value means none.
	Retries int
}

func (c DialConfig) withDefaults() DialConfig {
	if c.Concurrency <= 0 {
		c.Concurrency = 64
	}
	if c.PerAddress <= 0 {
		c.PerAddress = 20000
	}
	if c.Retries == 0 {
		c.Retries = 2
	}
	return c
}

// Addresses is how many source addresses n connections use.
func (c DialConfig) Addresses(n int) int {
	c = c.withDefaults()
	return (n + c.PerAddress - 1) / c.PerAddress
}

// DialN opens n connections. Connection i goes through
// drivers[i%len(drivers)], from source address
// SourceIP(FirstAddress+i/PerAddress), with the options opts(i) (nil
// means the zero DialOptions). It is all or nothing: if a connection
// cannot be opened (after the retries), DialN closes those it opened and
// returns the error.
func DialN(ctx context.Context, drivers []Driver, n int, opts func(i int) DialOptions, cfg DialConfig) ([]Conn, error) {
	if len(drivers) == 0 {
		return nil, errors.New("loadgen: DialN without a driver")
	}
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	conns := make([]Conn, n)
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for range min(cfg.Concurrency, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				var o DialOptions
				if opts != nil {
					o = opts(i)
				}
				src := SourceIP(cfg.FirstAddress + i/cfg.PerAddress)
				d := drivers[i%len(drivers)]
				var err error
				for attempt := 0; attempt <= max(cfg.Retries, 0); attempt++ {
					if attempt > 0 {
						select {
						case <-ctx.Done():
						case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
						}
					}
					if ctx.Err() != nil {
						break
					}
					var c Conn
					if c, err = d.Dial(ctx, src, o); err == nil {
						conns[i] = c
						break
					}
				}
				if err != nil {
					errOnce.Do(func() {
						firstErr = fmt.Errorf("loadgen: connection %d of %d from %s: %w", i, n, src, err)
						cancel()
					})
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		CloseAll(conns)
		return nil, firstErr
	}
	return conns, nil
}

// CloseAll closes every non-nil connection, several at a time, and
// returns once all are closed.
func CloseAll(conns []Conn) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(16, len(conns)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(conns) {
					return
				}
				if c := conns[i]; c != nil {
					_ = c.Close()
				}
			}
		})
	}
	wg.Wait()
}

// Alive counts the connections that have not ended.
func Alive(conns []Conn) int {
	n := 0
	for _, c := range conns {
		select {
		case <-c.Done():
		default:
			n++
		}
	}
	return n
}
