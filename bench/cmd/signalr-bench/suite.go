package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/gosignalr/signalr/internal/loadgen"
)

// allScenarios are the scenarios of the default suite, in order.
var allScenarios = []string{"idle", "echo", "fanout", "groups", "coalesce", "slow", "backplane"}

// suite holds the settings of a suite or load run.
type suite struct {
	external        bool // load: the server is already running
	url, statsURL   string
	scenarios       map[string]bool
	proto           loadgen.Protocol
	tr              loadgen.Transport
	pairs           []benchPair // transport and protocol pairs every scenario runs on
	idleHTTP        []int
	serverGOGC      int
	publishWS       bool
	pubVia          loadgen.Driver // the publishers' driver; nil: the subscribers'
	serverMemLimit  int
	pid             int
	negotiate       bool
	jsonOut         bool
	out             io.Writer
	log             io.Writer
	headerPrinted   bool
	dial            loadgen.DialConfig
	idle            []int
	idleHold        time.Duration
	echo            []int
	echoDuration    time.Duration
	echoRate        float64
	echoSize        int
	fanout, sizes   []int
	deliveries      int
	window          int
	publishers      int
	groupConns      int
	groups          int
	coalesceSubs    int
	coalescePubs    int
	coalesceWindow  int
	slowSubs        int
	slowSize        int
	slowPubs        int
	slowWindow      int
	slowWrite       time.Duration
	backplaneSubs   int
	big             bool
	bigMemLimit     int
	bigHold         time.Duration
	bigSingle       int
	bigConns        int
	bigHubs         int
	bigMessages     int
	soak            time.Duration
	soakConns       int
	soakChurn       int
	soakRate        float64
	soakSampleEvery time.Duration
	soakSettle      time.Duration
}

func runSuite(args []string, children bool) error {
	return runSuiteTo(args, children, os.Stdout, os.Stderr)
}

// runSuiteTo runs the suite (children: servers it starts) or load command,
// printing results to out and progress to log.
func runSuiteTo(args []string, children bool, out, log io.Writer) error {
	name := "suite"
	if !children {
		name = "load"
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(log)
	s := &suite{external: !children, out: out, log: log}
	scen := fs.String("scenario", strings.Join(allScenarios, ","), "comma-separated scenarios: "+strings.Join(allScenarios, ", ")+" (none with -big or -soak alone)")
	proto := fs.String("protocol", "json", "hub protocols, comma-separated: json, messagepack")
	transports := fs.String("transport", "ws", "transports, comma-separated: ws, sse, lp (SSE takes JSON only; big and soak run on ws)")
	pairs := fs.String("pairs", "", `transport/protocol pairs, comma-separated (ws/json,lp/msgpack,...) or "all"; overrides -transport and -protocol`)
	fs.BoolVar(&s.publishWS, "publish-ws", false, "fanout, groups, coalesce, slow: publishers use WebSockets (with the pair's protocol) whatever the subscribers' transport")
	fs.IntVar(&s.serverGOGC, "server-gogc", 0, "GOGC of every server process started (0: as inherited; -1: off)")
	fs.IntVar(&s.serverMemLimit, "server-memlimit-mib", 0, "soft memory limit (GOMEMLIMIT) of every server process started, in MiB (0: none)")
	idleHTTP := fs.String("idle-http", "", "idle: connection counts on sse and lp (default: as -idle)")
	fs.BoolVar(&s.negotiate, "negotiate", false, "negotiate before every WebSocket (default: skip negotiation)")
	fs.BoolVar(&s.jsonOut, "json", false, "print rows as JSON lines instead of a markdown table")
	fs.IntVar(&s.dial.Concurrency, "dial-concurrency", 64, "dials in flight per process")
	fs.IntVar(&s.dial.PerAddress, "per-address", 10000, "connections per source address")
	idle := fs.String("idle", "1000,10000", "idle: connection counts")
	fs.DurationVar(&s.idleHold, "idle-hold", 20*time.Second, "idle: how long connections are held (keep-alive pings every 15 s)")
	echo := fs.String("echo", "100,1000", "echo: connection counts")
	fs.DurationVar(&s.echoDuration, "echo-duration", 5*time.Second, "echo: duration of each run")
	fs.Float64Var(&s.echoRate, "echo-rate", 2000, "echo: calls per second of the fixed-rate runs (0: closed loop only)")
	fs.IntVar(&s.echoSize, "echo-size", 64, "echo: payload bytes")
	fanout := fs.String("fanout", "100,1000,5000", "fanout: subscriber counts")
	sizes := fs.String("sizes", "64,1024", "fanout, coalesce, backplane: payload sizes in bytes")
	fs.IntVar(&s.deliveries, "deliveries", 300000, "fanout, groups, coalesce, backplane: deliveries per run (messages = deliveries / receivers)")
	fs.IntVar(&s.window, "window", 8, "messages in flight per run")
	fs.IntVar(&s.publishers, "publishers", 1, "fanout, coalesce, slow, backplane: connections publishing at once")
	fs.IntVar(&s.groupConns, "group-conns", 1000, "groups: connections")
	fs.IntVar(&s.groups, "groups", 100, "groups: number of groups")
	fs.IntVar(&s.coalesceSubs, "coalesce-subs", 1000, "coalesce: subscribers")
	fs.IntVar(&s.coalescePubs, "coalesce-publishers", 8, "coalesce: connections publishing at once (bursts let queues build)")
	fs.IntVar(&s.coalesceWindow, "coalesce-window", 64, "coalesce: messages in flight")
	fs.IntVar(&s.slowSubs, "slow-subs", 1000, "slow: subscribers that keep up")
	fs.IntVar(&s.slowSize, "slow-size", 1024, "slow: payload bytes")
	fs.IntVar(&s.slowPubs, "slow-publishers", 8, "slow: connections publishing at once (the slow client's buffers fill sooner)")
	fs.IntVar(&s.slowWindow, "slow-window", 64, "slow: messages in flight")
	fs.DurationVar(&s.slowWrite, "slow-write-timeout", 0, "slow: the server's write timeout (0: the library default)")
	fs.IntVar(&s.backplaneSubs, "backplane-subs", 1000, "backplane: subscribers")
	fs.BoolVar(&s.big, "big", false, "also run the big scenarios: 19k connections on one server, then -big-conns over -big-hubs NATS-joined hubs")
	fs.DurationVar(&s.bigHold, "big-hold", 20*time.Second, "big: how long the idle connections are held")
	fs.IntVar(&s.bigSingle, "big-single", 19000, "big: idle connections on one server process (0: skip)")
	fs.IntVar(&s.bigConns, "big-conns", 100000, "big: connections over all hubs (0: skip)")
	fs.IntVar(&s.bigHubs, "big-hubs", 6, "big: hub processes")
	fs.IntVar(&s.bigMessages, "big-messages", 5, "big: broadcasts sent to every connection")
	fs.IntVar(&s.bigMemLimit, "big-memlimit-mib", 0, "big: soft memory limit of each hub process of the multi-hub run, in MiB (0: none)")
	fs.DurationVar(&s.soak, "soak", 0, "run the churn soak for this long (0: no soak)")
	fs.IntVar(&s.soakConns, "soak-conns", 5000, "soak: connections")
	fs.IntVar(&s.soakChurn, "soak-churn", 50, "soak: connections replaced per second")
	fs.Float64Var(&s.soakRate, "soak-rate", 10, "soak: broadcasts per second")
	fs.DurationVar(&s.soakSampleEvery, "soak-sample", 30*time.Second, "soak: how often the server is sampled")
	fs.DurationVar(&s.soakSettle, "soak-settle", 30*time.Second, "soak: how long broadcasts go on after the churn stops, before the final sample")
	if !children {
		fs.StringVar(&s.url, "url", "", "hub URL of the running server (loopback only)")
		fs.StringVar(&s.statsURL, "stats", "", "its stats URL (default: /debug/stats on the hub's host)")
		fs.IntVar(&s.pid, "pid", 0, "its process id, to read its resident set from /proc (0: ask its stats URL)")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if s.pairs, err = parsePairs(*pairs, *transports, *proto); err != nil {
		return err
	}
	s.tr, s.proto = s.pairs[0].tr, s.pairs[0].p
	s.scenarios = make(map[string]bool)
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "scenario" })
	if !explicit && (s.big || s.soak > 0) {
		*scen = "" // -big or -soak alone run only those
	}
	for _, sc := range strings.Split(*scen, ",") {
		if sc = strings.TrimSpace(sc); sc == "" {
			continue
		}
		if !slices.Contains(allScenarios, sc) {
			return fmt.Errorf("-scenario: unknown scenario %q", sc)
		}
		s.scenarios[sc] = true
	}
	for _, l := range []struct {
		dst  *[]int
		flag string
		val  string
	}{{&s.idle, "idle", *idle}, {&s.echo, "echo", *echo}, {&s.fanout, "fanout", *fanout}, {&s.sizes, "sizes", *sizes}, {&s.idleHTTP, "idle-http", *idleHTTP}} {
		if *l.dst, err = parseInts(l.val); err != nil {
			return fmt.Errorf("-%s: %w", l.flag, err)
		}
	}
	if s.external {
		if s.url == "" {
			return errors.New("load needs -url")
		}
		if err := loadgen.CheckLoopback(s.url); err != nil {
			return err
		}
		if s.statsURL == "" {
			s.statsURL = statsURLFor(s.url)
		}
		if err := loadgen.CheckLoopback(s.statsURL); err != nil {
			return err
		}
	}
	if lim, err := loadgen.RaiseFileLimit(); err != nil {
		fmt.Fprintln(s.log, "signalr-bench:", err)
	} else {
		s.logf("open-file limit %d; %s", lim, kernelLimits())
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return s.run(ctx)
}

func (s *suite) run(ctx context.Context) error {
	steps := []struct {
		name string
		run  func(context.Context) error
	}{
		{"idle", s.runIdle}, {"echo", s.runEcho}, {"fanout", s.runFanOut}, {"groups", s.runGroups},
		{"coalesce", s.runCoalesce}, {"slow", s.runSlow}, {"backplane", s.runBackplane},
	}
	for _, st := range steps {
		if !s.scenarios[st.name] {
			continue
		}
		for _, p := range s.pairs {
			s.tr, s.proto = p.tr, p.p
			if err := st.run(ctx); err != nil {
				return fmt.Errorf("%s on %s: %w", st.name, p, err)
			}
		}
	}
	// The big runs and the soak hold WebSockets (their worker processes
	// speak nothing else).
	s.tr, s.proto = loadgen.WebSockets, s.pairs[0].p
	if s.big {
		if err := s.runBig(ctx); err != nil {
			return fmt.Errorf("big: %w", err)
		}
	}
	if s.soak > 0 {
		if err := s.runSoak(ctx); err != nil {
			return fmt.Errorf("soak: %w", err)
		}
	}
	return nil
}

func (s *suite) logf(format string, args ...any) {
	fmt.Fprintf(s.log, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// print writes one result row.
func (s *suite) print(r loadgen.Row) {
	if s.jsonOut {
		fmt.Fprintln(s.out, r.JSON())
		return
	}
	if !s.headerPrinted {
		fmt.Fprintln(s.out, loadgen.MarkdownHeader())
		s.headerPrinted = true
	}
	fmt.Fprintln(s.out, r.Markdown())
}

func (s *suite) driver(url string) (loadgen.Driver, error) {
	return loadgen.NewDriver(s.tr, loadgen.SignalROptions{URL: url, Protocol: s.proto, Negotiate: s.negotiate})
}

// withServer runs fn against a fresh server child started with args (or
// against the running server, for load), then stops the child.
func (s *suite) withServer(ctx context.Context, label string, args []string, fn func(loadgen.Target) (loadgen.Row, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.logf("run %s on %s/%s", label, s.tr, s.proto)
	url, statsURL, pid := s.url, s.statsURL, s.pid
	if !s.external {
		srv, err := startServerChild("server", s.serverArgs(args)...)
		if err != nil {
			return err
		}
		defer srv.stop(10 * time.Second)
		url, statsURL, pid = srv.hubURL(), srv.statsURL(), srv.cmd.Process.Pid
	}
	d, err := s.driver(url)
	if err != nil {
		return err
	}
	if s.pubVia, err = s.publishDriver(url); err != nil {
		return err
	}
	row, err := fn(loadgen.Target{Nodes: []loadgen.Node{{Driver: d, StatsURL: statsURL, PID: pid}}})
	if err != nil {
		return err
	}
	s.print(row)
	return nil
}

// publishDriver is the publishers' driver with -publish-ws on a transport
// other than WebSockets, else nil (the subscribers' driver).
func (s *suite) publishDriver(url string) (loadgen.Driver, error) {
	if !s.publishWS || s.tr == loadgen.WebSockets {
		return nil, nil
	}
	return loadgen.NewSignalR(loadgen.SignalROptions{URL: url, Protocol: s.proto, Negotiate: s.negotiate})
}

// serverArgs adds the collector settings to a server child's args.
func (s *suite) serverArgs(args []string) []string {
	a := append([]string(nil), args...)
	if s.serverGOGC != 0 {
		a = append(a, "-gogc", strconv.Itoa(s.serverGOGC))
	}
	if s.serverMemLimit > 0 {
		a = append(a, "-memlimit-mib", strconv.Itoa(s.serverMemLimit))
	}
	return a
}

func (s *suite) runIdle(ctx context.Context) error {
	counts := s.idle
	if s.tr != loadgen.WebSockets && len(s.idleHTTP) > 0 {
		counts = s.idleHTTP
	}
	for _, n := range counts {
		err := s.withServer(ctx, fmt.Sprintf("idle %d", n), nil, func(t loadgen.Target) (loadgen.Row, error) {
			return loadgen.Idle(ctx, t, loadgen.IdleConfig{Conns: n, Hold: s.idleHold, Dial: s.dial})
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *suite) runEcho(ctx context.Context) error {
	for _, n := range s.echo {
		rates := []float64{0}
		if s.echoRate > 0 {
			rates = append(rates, s.echoRate)
		}
		for _, rate := range rates {
			err := s.withServer(ctx, fmt.Sprintf("echo %d rate %v", n, rate), nil, func(t loadgen.Target) (loadgen.Row, error) {
				return loadgen.Echo(ctx, t, loadgen.EchoConfig{Conns: n, Duration: s.echoDuration, Rate: rate, Size: s.echoSize, Dial: s.dial})
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// messagesFor is how many messages give about s.deliveries deliveries to
// receivers receivers each.
func (s *suite) messagesFor(receivers int) int {
	return min(max(s.deliveries/max(receivers, 1), 20), 20000)
}

func (s *suite) fanOut(subs, size int, note string) loadgen.FanOutConfig {
	if s.pubVia != nil {
		note = strings.TrimSpace(note + " publisher on ws")
	}
	return loadgen.FanOutConfig{
		Subscribers: subs, Messages: s.messagesFor(subs), Size: size, Window: s.window, Publishers: s.publishers,
		Dial: s.dial, Note: note, PublishVia: s.pubVia,
	}
}

func (s *suite) runFanOut(ctx context.Context) error {
	for _, n := range s.fanout {
		for _, size := range s.sizes {
			err := s.withServer(ctx, fmt.Sprintf("fanout %d × %d B", n, size), nil, func(t loadgen.Target) (loadgen.Row, error) {
				return loadgen.FanOut(ctx, t, s.fanOut(n, size, ""))
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *suite) runGroups(ctx context.Context) error {
	const publishers = 10
	size := s.sizes[0]
	return s.withServer(ctx, fmt.Sprintf("groups %d in %d", s.groupConns, s.groups), nil, func(t loadgen.Target) (loadgen.Row, error) {
		cfg := s.fanOut(s.groupConns, size, fmt.Sprintf("%d groups, %d publishers", s.groups, publishers))
		cfg.Groups = s.groups
		cfg.Publishers = publishers
		cfg.Window = max(s.window, 2*publishers)
		cfg.Messages = s.messagesFor(s.groupConns / max(s.groups, 1))
		return loadgen.FanOut(ctx, t, cfg)
	})
}

func (s *suite) runCoalesce(ctx context.Context) error {
	if s.external {
		s.logf("coalesce: skipped (needs servers started by the suite)")
		return nil
	}
	for _, size := range s.sizes {
		for _, on := range []bool{false, true} {
			note := fmt.Sprintf("coalescing off, %d publishers, window %d", s.coalescePubs, s.coalesceWindow)
			if on {
				note = strings.Replace(note, "off", "on", 1)
			}
			err := s.withServer(ctx, fmt.Sprintf("coalesce %v %d B", on, size), []string{"-coalesce=" + strconv.FormatBool(on)}, func(t loadgen.Target) (loadgen.Row, error) {
				cfg := s.fanOut(s.coalesceSubs, size, note)
				cfg.Scenario = "coalesce"
				cfg.Publishers, cfg.Window = s.coalescePubs, s.coalesceWindow
				return loadgen.FanOut(ctx, t, cfg)
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *suite) runSlow(ctx context.Context) error {
	var args []string
	if s.slowWrite > 0 {
		args = append(args, "-write-timeout="+s.slowWrite.String())
	}
	for _, slow := range []int{0, 1} {
		err := s.withServer(ctx, fmt.Sprintf("slow consumers %d", slow), args, func(t loadgen.Target) (loadgen.Row, error) {
			cfg := s.fanOut(s.slowSubs, s.slowSize, fmt.Sprintf("%d publishers, window %d:", s.slowPubs, s.slowWindow))
			cfg.Scenario = "slow"
			cfg.Slow = slow
			cfg.Publishers, cfg.Window = s.slowPubs, s.slowWindow
			if slow == 0 {
				cfg.Note += " baseline, no slow consumer"
			}
			return loadgen.FanOut(ctx, t, cfg)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// startNATS starts an embedded NATS server on a free loopback port.
func startNATS() (*server.Server, error) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true})
	if err != nil {
		return nil, err
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("the embedded NATS server did not start")
	}
	return ns, nil
}

// withCluster runs fn against n fresh server children joined by the NATS
// server at natsURL ("" for a lone server without a backplane).
func (s *suite) withCluster(ctx context.Context, label string, n int, natsURL string, args []string, fn func(loadgen.Target) (loadgen.Row, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.logf("run %s", label)
	var t loadgen.Target
	for i := range n {
		a := append([]string(nil), args...)
		if natsURL != "" {
			a = append(a, "-nats", natsURL, "-name", "bench")
		}
		srv, err := startServerChild(fmt.Sprintf("hub %d", i), s.serverArgs(a)...)
		if err != nil {
			return err
		}
		defer srv.stop(10 * time.Second)
		d, err := s.driver(srv.hubURL())
		if err != nil {
			return err
		}
		t.Nodes = append(t.Nodes, loadgen.Node{Driver: d, StatsURL: srv.statsURL(), PID: srv.cmd.Process.Pid})
		if i == 0 {
			if s.pubVia, err = s.publishDriver(srv.hubURL()); err != nil {
				return err
			}
		}
	}
	row, err := fn(t)
	if err != nil {
		return err
	}
	s.print(row)
	return nil
}

func (s *suite) runBackplane(ctx context.Context) error {
	if s.external {
		s.logf("backplane: skipped (needs servers started by the suite)")
		return nil
	}
	ns, err := startNATS()
	if err != nil {
		return err
	}
	defer ns.Shutdown()
	for _, size := range s.sizes {
		for _, c := range []struct {
			nodes int
			nats  string
			note  string
		}{{1, "", "1 node, no backplane"}, {1, ns.ClientURL(), "1 node on NATS"}, {3, ns.ClientURL(), "3 nodes on NATS"}} {
			err := s.withCluster(ctx, fmt.Sprintf("backplane %s %d B", c.note, size), c.nodes, c.nats, nil, func(t loadgen.Target) (loadgen.Row, error) {
				cfg := s.fanOut(s.backplaneSubs, size, c.note)
				cfg.Scenario = "backplane"
				return loadgen.FanOut(ctx, t, cfg)
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *suite) runSoak(ctx context.Context) error {
	return s.withServer(ctx, fmt.Sprintf("soak %s at %d connections", s.soak, s.soakConns), nil, func(t loadgen.Target) (loadgen.Row, error) {
		s.logf("soak: %d connections, %d replaced a second for %s, %v broadcasts a second", s.soakConns, s.soakChurn, s.soak, s.soakRate)
		if !s.jsonOut {
			fmt.Fprintln(s.out, "| t | phase | server conns | goroutines | heap | stack | RSS | published | replaced |")
			fmt.Fprintln(s.out, "|---|---|---|---|---|---|---|---|---|")
		}
		res, err := loadgen.Soak(ctx, t, loadgen.SoakConfig{
			Conns: s.soakConns, Churn: s.soakChurn, Duration: s.soak, Settle: s.soakSettle, Rate: s.soakRate, Size: 64,
			SampleEvery: s.soakSampleEvery, Dial: s.dial,
			OnSample: func(sm loadgen.SoakSample) {
				if s.jsonOut {
					b, _ := json.Marshal(sm)
					fmt.Fprintf(s.out, "{\"soakSample\":%s}\n", b)
					return
				}
				fmt.Fprintf(s.out, "| %s | %s | %d | %d | %s | %s | %s | %d | %d |\n",
					sm.At.Round(time.Second), sm.Phase, sm.Server.Conns, sm.Server.Goroutines,
					loadgen.FormatBytes(float64(sm.Server.HeapInuse)), loadgen.FormatBytes(float64(sm.Server.StackInuse)),
					loadgen.FormatBytes(float64(sm.Server.RSS)), sm.Published, sm.Churned)
			},
		})
		if err != nil {
			return loadgen.Row{}, err
		}
		s.logf("soak: %d broadcasts, %d connections stayed, %d lost, %d out of order; %d connections replaced",
			res.Published, res.Stayed, res.Lost, res.Disordered, res.Churned)
		if !s.jsonOut {
			fmt.Fprintln(s.out)
			s.headerPrinted = false
		}
		return res.Row, nil
	})
}

func statsURLFor(hubURL string) string {
	i := strings.Index(hubURL, "://")
	if i < 0 {
		return hubURL
	}
	rest := hubURL[i+3:]
	if j := strings.IndexByte(rest, '/'); j >= 0 {
		rest = rest[:j]
	}
	scheme := "http"
	if strings.HasPrefix(hubURL, "https") || strings.HasPrefix(hubURL, "wss") {
		scheme = "https"
	}
	return scheme + "://" + rest + "/debug/stats"
}

func parseInts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(strings.ReplaceAll(f, "_", ""))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// kernelLimits reads the kernel settings that bound loopback load.
func kernelLimits() string {
	var parts []string
	for _, k := range []string{"net/ipv4/ip_local_port_range", "net/core/somaxconn", "net/ipv4/tcp_max_syn_backlog", "net/ipv4/tcp_tw_reuse"} {
		b, err := os.ReadFile("/proc/sys/" + k)
		if err != nil {
			continue
		}
		name := k[strings.LastIndexByte(k, '/')+1:]
		parts = append(parts, name+"="+strings.Join(strings.Fields(string(b)), "-"))
	}
	return strings.Join(parts, " ")
}

// benchPair is a transport with a hub protocol.
type benchPair struct {
	tr loadgen.Transport
	p  loadgen.Protocol
}

func (p benchPair) String() string { return string(p.tr) + "/" + string(p.p) }

// allPairs are every transport with every protocol it carries.
var allPairs = []benchPair{
	{loadgen.WebSockets, loadgen.JSON}, {loadgen.WebSockets, loadgen.MessagePack},
	{loadgen.ServerSentEvents, loadgen.JSON},
	{loadgen.LongPolling, loadgen.JSON}, {loadgen.LongPolling, loadgen.MessagePack},
}

// parsePairs reads -pairs, or else every combination of -transport and
// -protocol that exists (SSE carries no MessagePack).
func parsePairs(pairs, transports, protocols string) ([]benchPair, error) {
	if strings.TrimSpace(pairs) == "all" {
		return allPairs, nil
	}
	var out []benchPair
	add := func(tr, proto string, explicit bool) error {
		t, err := loadgen.ParseTransport(strings.TrimSpace(tr))
		if err != nil {
			return err
		}
		p, err := loadgen.ParseProtocol(strings.TrimSpace(proto))
		if err != nil {
			return err
		}
		if t == loadgen.ServerSentEvents && p != loadgen.JSON {
			if explicit {
				return fmt.Errorf("%s/%s: Server-Sent Events carry JSON only", t, p)
			}
			return nil
		}
		bp := benchPair{t, p}
		if !slices.Contains(out, bp) {
			out = append(out, bp)
		}
		return nil
	}
	if strings.TrimSpace(pairs) != "" {
		for f := range strings.SplitSeq(pairs, ",") {
			tr, proto, ok := strings.Cut(strings.TrimSpace(f), "/")
			if !ok {
				return nil, fmt.Errorf("-pairs: %q is not transport/protocol", f)
			}
			if err := add(tr, proto, true); err != nil {
				return nil, fmt.Errorf("-pairs: %w", err)
			}
		}
		return out, nil
	}
	for tr := range strings.SplitSeq(transports, ",") {
		for proto := range strings.SplitSeq(protocols, ",") {
			if err := add(tr, proto, false); err != nil {
				return nil, err
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no transport carries protocol %q on %q", protocols, transports)
	}
	return out, nil
}
