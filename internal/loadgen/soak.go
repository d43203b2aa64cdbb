package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// SoakConfig configures Soak.
type SoakConfig struct {
	// Conns is how many connections are open throughout.
	Conns int
	// Stay is how many of them are never replaced; they must receive every
	// broadcast. Zero means four fifths of Conns.
	Stay int
	// Churn is how many of the others are closed and replaced by new ones
	// every second. Zero means Conns/100 (at least 1).
	Churn int
	// Duration is how long the churn goes on.
	Duration time.Duration
	// Settle is how long broadcasts go on after the churn stops, before
	// the final measurement. Zero means 15 s.
	Settle time.Duration
	// Rate is how many broadcasts per second one publisher sends to
	// everyone. Zero means 10.
	Rate float64
	// Size is the payload size.
	Size int
	// SampleEvery is how often the server's stats are sampled. Zero means
	// 10 s.
	SampleEvery time.Duration
	Dial        DialConfig
	// OnSample, when set, is called with every sample as it is taken.
	OnSample func(SoakSample)
}

// SoakSample is the state of a soak at one moment.
type SoakSample struct {
	At        time.Duration `json:"atNs"`
	Phase     string        `json:"phase"` // start, churn, settle, end
	Published uint64        `json:"published"`
	Churned   int           `json:"churned"` // connections replaced so far
	Server    Stats         `json:"server"`
}

// SoakResult is the outcome of Soak.
type SoakResult struct {
	Row     Row
	Samples []SoakSample
	// Stayed is how many connections stayed throughout; Published how
	// many broadcasts were sent; Lost how many broadcasts a connection
	// that stayed did not get; Disordered how many arrived out of order
	// or twice.
	Stayed     int
	Published  uint64
	Lost       uint64
	Disordered uint64
	Churned    int
	// Start and End are the server's stats after garbage collection,
	// before the churn and after the settling.
	Start, End Stats
}

type soakTracker struct {
	got      atomic.Uint64
	last     atomic.Int64
	disorder atomic.Uint64
}

// Soak holds Conns connections while some of them are replaced every
// second and one publisher broadcasts steadily, then lets the server
// settle. It samples the server as it goes and checks that connections
// that stayed lost nothing.
func Soak(ctx context.Context, t Target, cfg SoakConfig) (SoakResult, error) {
	if err := t.check(); err != nil {
		return SoakResult{}, err
	}
	if cfg.Stay <= 0 {
		cfg.Stay = cfg.Conns * 4 / 5
	}
	if cfg.Churn <= 0 {
		cfg.Churn = max(cfg.Conns/100, 1)
	}
	if cfg.Settle <= 0 {
		cfg.Settle = 15 * time.Second
	}
	if cfg.Rate <= 0 {
		cfg.Rate = 10
	}
	if cfg.SampleEvery <= 0 {
		cfg.SampleEvery = 10 * time.Second
	}
	cfg.Size = max(cfg.Size, MinPayloadSize)
	if err := checkBounds(cfg.Conns+1, 0, cfg.Duration+cfg.Settle); err != nil {
		return SoakResult{}, err
	}
	if cfg.Stay >= cfg.Conns || cfg.Churn > cfg.Conns-cfg.Stay {
		return SoakResult{}, fmt.Errorf("loadgen: soak of %d connections cannot keep %d and replace %d a second", cfg.Conns, cfg.Stay, cfg.Churn)
	}
	res := SoakResult{Stayed: cfg.Stay}
	row := t.row("soak", cfg.Conns, cfg.Size)

	var hist Histogram
	trackers := make([]soakTracker, cfg.Stay)
	var bad atomic.Uint64
	drivers := t.drivers()
	dcfg := cfg.Dial.withDefaults()
	optsFor := func(i int) DialOptions {
		if i >= cfg.Stay {
			return DialOptions{Subscribe: true}
		}
		tr := &trackers[i]
		tr.last.Store(-1)
		return DialOptions{Subscribe: true, OnMessage: func(p []byte, received time.Time) {
			seq, sent, ok := ParseStamp(p)
			if !ok {
				bad.Add(1)
				return
			}
			hist.Record(received.Sub(sent))
			if prev := tr.last.Swap(int64(seq)); int64(seq) != prev+1 {
				tr.disorder.Add(1)
			}
			tr.got.Add(1)
		}}
	}
	conns, err := DialN(ctx, drivers, cfg.Conns, optsFor, dcfg)
	if err != nil {
		return res, err
	}
	// conns is replaced slot by slot by the churn, which has stopped by
	// the time this runs.
	defer func() { CloseAll(conns) }()
	pubCfg := dcfg
	pubCfg.FirstAddress += dcfg.Addresses(cfg.Conns)
	pubs, err := DialN(ctx, drivers[:1], 1, nil, pubCfg)
	if err != nil {
		return res, err
	}
	defer CloseAll(pubs)

	start, haveStats, err := t.Stats(ctx, true)
	if err != nil {
		return res, err
	}
	if !haveStats {
		return res, errors.New("loadgen: a soak needs the server's stats")
	}
	res.Start = start
	t0 := time.Now()
	var published atomic.Uint64
	var churned atomic.Int64
	sample := func(phase string, gc bool) error {
		s, _, err := t.Stats(ctx, gc)
		if err != nil {
			return err
		}
		sm := SoakSample{At: time.Since(t0), Phase: phase, Published: published.Load(), Churned: int(churned.Load()), Server: s}
		res.Samples = append(res.Samples, sm)
		if cfg.OnSample != nil {
			cfg.OnSample(sm)
		}
		return nil
	}
	if err := sample("start", true); err != nil {
		return res, err
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var pubErr error
	pubCtx, stopPub := context.WithCancel(runCtx)
	defer stopPub()
	wg.Go(func() {
		tick := time.NewTicker(time.Duration(float64(time.Second) / cfg.Rate))
		defer tick.Stop()
		buf := make([]byte, 0, cfg.Size+32)
		for {
			select {
			case <-pubCtx.Done():
				return
			case <-tick.C:
			}
			buf = AppendStamp(buf[:0], cfg.Size, published.Load(), time.Now())
			if err := pubs[0].Publish(runCtx, "", buf); err != nil {
				if pubCtx.Err() == nil {
					pubErr = err
					cancel()
				}
				return
			}
			published.Add(1)
		}
	})

	churnCtx, stopChurn := context.WithTimeout(runCtx, cfg.Duration)
	defer stopChurn()
	var churnErr error
	churnDone := make(chan struct{})
	go func() {
		defer close(churnDone)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		pool := cfg.Conns - cfg.Stay
		for {
			select {
			case <-churnCtx.Done():
				return
			case <-tick.C:
			}
			slots := rand.Perm(pool)[:cfg.Churn]
			var cw sync.WaitGroup
			var mu sync.Mutex
			for _, s := range slots {
				i := cfg.Stay + s
				cw.Go(func() {
					_ = conns[i].Close()
					c, err := drivers[i%len(drivers)].Dial(runCtx, SourceIP(dcfg.FirstAddress+i/dcfg.PerAddress), optsFor(i))
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						if runCtx.Err() == nil && churnErr == nil {
							churnErr = fmt.Errorf("loadgen: soak: replacing connection %d: %w", i, err)
						}
						conns[i] = closedConn{}
						return
					}
					conns[i] = c
				})
			}
			cw.Wait()
			if churnErr != nil {
				cancel()
				return
			}
			churned.Add(int64(cfg.Churn))
		}
	}()

	sampleTick := time.NewTicker(cfg.SampleEvery)
	defer sampleTick.Stop()
	phase := "churn"
	settleAt := time.Time{}
loop:
	for {
		select {
		case <-runCtx.Done():
			break loop
		case <-churnDone:
			churnDone = nil
			phase, settleAt = "settle", time.Now()
			if err := sample("settle", false); err != nil {
				cancel()
			}
		case <-sampleTick.C:
			if err := sample(phase, false); err != nil {
				cancel()
			}
		}
		if !settleAt.IsZero() && time.Since(settleAt) >= cfg.Settle {
			break loop
		}
	}
	stopPub()
	wg.Wait()
	if churnDone != nil {
		stopChurn()
		<-churnDone
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if pubErr != nil {
		return res, fmt.Errorf("loadgen: soak: publishing: %w", pubErr)
	}
	if churnErr != nil {
		return res, churnErr
	}

	// Let the last broadcasts arrive.
	res.Published = published.Load()
	want := res.Published * uint64(cfg.Stay)
	deadline := time.Now().Add(10 * time.Second)
	var got uint64
	for {
		got = 0
		for i := range trackers {
			got += trackers[i].got.Load()
		}
		if got >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i := range trackers {
		res.Disordered += trackers[i].disorder.Load()
	}
	res.Lost = want - min(want, got)
	res.Churned = int(churned.Load())
	if err := sample("end", true); err != nil {
		return res, err
	}
	res.End = res.Samples[len(res.Samples)-1].Server

	row.Elapsed = time.Since(t0)
	row.Ops = got
	row.Lost = res.Lost
	row.Errors = int(bad.Load() + res.Disordered)
	row.Rate = float64(got) / row.Elapsed.Seconds()
	row.P50, row.P99, row.Max = hist.Quantile(0.5), hist.Quantile(0.99), hist.Max()
	row.ServerRSS, row.PeakRSS = res.End.RSS, res.End.HWM
	row.Note = fmt.Sprintf("churn %d/s for %s, %d replaced, %d stayed; goroutines %d→%d, heap %s→%s, RSS %s→%s",
		cfg.Churn, cfg.Duration, res.Churned, cfg.Stay, res.Start.Goroutines, res.End.Goroutines,
		FormatBytes(float64(res.Start.HeapInuse)), FormatBytes(float64(res.End.HeapInuse)),
		FormatBytes(float64(res.Start.RSS)), FormatBytes(float64(res.End.RSS)))
	res.Row = row
	return res, nil
}

// closedConn stands in for a connection that could not be replaced.
type closedConn struct{}

var closedCh = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (closedConn) Publish(context.Context, string, []byte) error { return errConnClosed }
func (closedConn) Echo(context.Context, []byte) error            { return errConnClosed }
func (closedConn) StopReading()                                  {}
func (closedConn) Done() <-chan struct{}                         { return closedCh }
func (closedConn) CloseReason() string                           { return "" }
func (closedConn) Close() error                                  { return nil }
