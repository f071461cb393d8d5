// Command bench is hookwall's load benchmark. In one run it drives signed
// LINE webhooks into hookwall on a private redis-server and into a bare Fiber
// handler that only answers 200, and prints the figures as markdown:
//
//	go run ./scripts/bench [flags]
//
// Phase A (closed loop) measures the highest throughput of each; phase B
// (open loop, at a fraction of hookwall's phase-A rate) measures latency
// from each request's scheduled send time; the delivery pace is read from
// the sink that plays the bot and from the depth of the Redis queue shards.
// docs/benchmarks.md has the method and the figures.
//
// The same binary also runs the two helper servers, as subprocesses:
//
//	bench bare -listen HOST:PORT   the bare Fiber baseline
//	bench sink -listen HOST:PORT   the bot and helpdesk, answering 200
//	bench naive -listen HOST:PORT -redis HOST:PORT -secret S
//	                               with -naive: one Redis script per request
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

func main() {
	var err error
	switch {
	case len(os.Args) > 1 && os.Args[1] == "bare":
		err = runBare(os.Args[2:])
	case len(os.Args) > 1 && os.Args[1] == "sink":
		err = runSink(os.Args[2:])
	case len(os.Args) > 1 && os.Args[1] == "naive":
		err = runNaive(os.Args[2:])
	default:
		err = runBench(os.Args[1:], os.Stdout)
	}
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type options struct {
	conns        int
	dur          time.Duration
	warmup       time.Duration
	openConns    int
	fraction     float64
	genProcs     int
	events       int
	contacts     int
	aof          bool
	pprof        bool
	profileOut   string
	drainTimeout time.Duration
	hookwallBin  string
	keep         bool
	naive        bool
	experiment   string
	split        bool
}

const lineSecret = "bench-line-channel-secret-0123456789"

func runBench(args []string, stdout io.Writer) error {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.IntVar(&o.conns, "c", 64, "phase A: concurrent connections (closed loop)")
	fs.DurationVar(&o.dur, "d", 10*time.Second, "length of each measured phase")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "phase A: unmeasured warm-up before each run")
	fs.IntVar(&o.openConns, "open-conns", 64, "phase B: connections the open-loop schedule may use")
	fs.Float64Var(&o.fraction, "load", 0.5, "phase B: request rate as a fraction of hookwall's phase-A rate")
	fs.IntVar(&o.genProcs, "gen-procs", 1, "GOMAXPROCS of the load generator (0: leave as is)")
	fs.IntVar(&o.events, "events", 250000, "unique signed webhooks generated up front (more are made before phase B if needed)")
	fs.IntVar(&o.contacts, "contacts", 1000, "distinct LINE users the webhooks come from")
	fs.BoolVar(&o.aof, "aof", false, "run redis-server with --appendonly yes --appendfsync everysec")
	fs.BoolVar(&o.pprof, "pprof", false, "profile hookwall's CPU during phases A and B (HOOKWALL_PPROF)")
	fs.StringVar(&o.profileOut, "profile-out", filepath.Join(os.TempDir(), "hookwall-bench-cpu"), "-pprof writes PREFIX-a.pprof and PREFIX-b.pprof")
	fs.DurationVar(&o.drainTimeout, "drain-timeout", 60*time.Second, "longest wait for the delivery queue to drain")
	fs.StringVar(&o.hookwallBin, "hookwall", "", "use this hookwall binary instead of building ./cmd/hookwall")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (config, logs, redis dir)")
	fs.BoolVar(&o.naive, "naive", false, "also run phase A against a naive handler (signature check + one Redis script per request), as a calibration point")
	fs.BoolVar(&o.split, "split", false, "pin the servers under test (bare, naive, hookwall and its redis) to CPU 0, and the generator and the sink (the bot) to CPU 1, as if the load and the bot were on other machines")
	fs.StringVar(&o.experiment, "goexperiment", "jsonv2", "GOEXPERIMENT hookwall is built with, as the Dockerfile builds it (\"\": none)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.conns < 1 || o.openConns < 1 || o.dur <= 0 || o.fraction <= 0 || o.events < 1 || o.contacts < 1 {
		return errors.New("-c, -open-conns, -d, -load, -events and -contacts must be positive")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	root, err := moduleRoot()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "hookwall-bench-")
	if err != nil {
		return err
	}
	ps := &procs{}
	if o.split {
		if runtime.NumCPU() < 2 {
			return errors.New("-split needs two CPUs")
		}
		ps.cpus = map[string]string{"redis-server": "0", "hookwall": "0", "bare": "0", "naive": "0", "sink": "1"}
		// The generator is this process: every thread of it, and those it
		// starts later, on CPU 1.
		if out, err := exec.Command("taskset", "-a", "-p", "-c", "1", strconv.Itoa(os.Getpid())).CombinedOutput(); err != nil {
			return fmt.Errorf("-split: taskset: %w: %s", err, out)
		}
	}
	defer func() {
		ps.stopAll()
		if o.keep {
			logf("kept %s", tmp)
		} else {
			_ = os.RemoveAll(tmp)
		}
	}()
	b := &bench{o: o, root: root, tmp: tmp, ps: ps, began: time.Now(), args: args}
	b.machine = append(machineInfo(), [2]string{"hookwall source", sourceVersion(root)})
	if o.hookwallBin == "" {
		b.machine = append(b.machine, [2]string{"hookwall build", "GOEXPERIMENT=" + o.experiment})
	}
	if o.split {
		b.machine = append(b.machine, [2]string{"CPU pinning (-split)", "CPU 0: redis-server, hookwall, bare, naive; CPU 1: generator, sink"})
	}
	b.loadStart = loadavg()
	if err := b.setUp(ctx); err != nil {
		return err
	}
	if err := b.run(ctx); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return errors.New("interrupted")
	}
	b.loadEnd = loadavg()
	b.stopHookwall()
	b.report(stdout)
	return nil
}

// bench holds one run's processes and figures.
type bench struct {
	o         options
	root, tmp string
	ps        *procs
	args      []string
	began     time.Time

	hookwall, redisP, sink, bare *proc
	naive                        *proc
	naiveAddr                    string
	hookwallAddr, bareAddr       string
	redisAddr, sinkAddr          string
	pprofAddr                    string
	overlaid                     bool
	rdb                          *redis.Client
	watch                        *deliveryWatch
	pool                         *pool
	watched                      []watched

	machine            [][2]string
	loadStart, loadEnd string

	aBare, aHook       result
	aNaive             result
	naiveWrapped       int64
	cpuANaive          cpuUse
	bBare, bHook       result
	rate               float64
	cpuABare, cpuAHook cpuUse
	cpuBBare, cpuBHook cpuUse
	deliv              pace
	delivB             pace
	redisStats         []string
	redisStatsB        []string
	profA, profB       profile
	profileNote        string
	accepted           int64
	finalDelivered     int64
	repeats            int64
	finalDepth         int64
	wrapped            int64
	hookwallExit       string
}

// pace is the delivery figures of one hookwall phase.
type pace struct {
	ingestRate    float64
	deliveredRate float64 // during the measured window
	maxDepth      int64
	depthAtEnd    int64
	drain         time.Duration
	drained       bool
	samples       []sample
	conns         int64 // connections hookwall opened to the sink during the window
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

func (b *bench) setUp(ctx context.Context) error {
	o := b.o
	bin := o.hookwallBin
	if bin == "" {
		logf("building hookwall")
		var err error
		bin, b.overlaid, err = buildHookwall(ctx, b.root, b.tmp, o.pprof, o.experiment)
		if err != nil {
			return err
		}
	} else if o.pprof && !sourceHasPprof(filepath.Join(b.root, "cmd", "hookwall")) {
		b.profileNote = "the given -hookwall binary may not serve HOOKWALL_PPROF"
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}

	logf("starting redis-server (aof=%v)", o.aof)
	b.redisP, b.redisAddr, err = startRedis(b.ps, b.tmp, o.aof)
	if err != nil {
		return err
	}
	b.rdb = redis.NewClient(&redis.Options{Addr: b.redisAddr, PoolSize: 4})

	ports := make([]int, 5)
	for i := range ports {
		if ports[i], err = freePort(); err != nil {
			return err
		}
	}
	b.sinkAddr, b.bareAddr, b.hookwallAddr = addrOf(ports[0]), addrOf(ports[1]), addrOf(ports[2])
	b.pprofAddr, b.naiveAddr = addrOf(ports[3]), addrOf(ports[4])
	env := os.Environ()
	if b.sink, err = b.ps.start("sink", filepath.Join(b.tmp, "sink.log"), env, self, "sink", "-listen", b.sinkAddr); err != nil {
		return err
	}
	if b.bare, err = b.ps.start("bare", filepath.Join(b.tmp, "bare.log"), env, self, "bare", "-listen", b.bareAddr); err != nil {
		return err
	}
	if o.naive {
		if b.naive, err = b.ps.start("naive", filepath.Join(b.tmp, "naive.log"), env, self, "naive", "-listen", b.naiveAddr, "-redis", b.redisAddr, "-secret", lineSecret); err != nil {
			return err
		}
		if err := waitHTTP(ctx, b.naive, "http://"+b.naiveAddr+"/healthz", 20*time.Second); err != nil {
			return err
		}
	}
	cfgPath := filepath.Join(b.tmp, "hookwall.yaml")
	if err := os.WriteFile(cfgPath, []byte(hookwallConfig(b.hookwallAddr, b.redisAddr, b.sinkAddr, lineSecret)), 0o600); err != nil {
		return err
	}
	henv := append(os.Environ(), "HOOKWALL_LOG_LEVEL=warn")
	if o.pprof {
		henv = append(henv, "HOOKWALL_PPROF="+b.pprofAddr)
	}
	logf("starting hookwall on %s", b.hookwallAddr)
	if b.hookwall, err = b.ps.start("hookwall", filepath.Join(b.tmp, "hookwall.log"), henv, bin, "serve", "--config", cfgPath); err != nil {
		return err
	}
	for _, w := range []struct {
		p   *proc
		url string
	}{
		{b.sink, "http://" + b.sinkAddr + "/count"},
		{b.bare, "http://" + b.bareAddr + "/healthz"},
		{b.hookwall, "http://" + b.hookwallAddr + "/readyz"},
	} {
		if err := waitHTTP(ctx, w.p, w.url, 20*time.Second); err != nil {
			return err
		}
	}
	b.watch = &deliveryWatch{sinkURL: "http://" + b.sinkAddr + "/count", rdb: b.rdb, http: &http.Client{Timeout: 2 * time.Second}}
	if err := b.watch.findQueues(ctx); err != nil {
		return err
	}
	b.watched = []watched{
		{"hookwall", b.hookwall.pid()}, {"redis", b.redisP.pid()}, {"sink", b.sink.pid()},
		{"bare", b.bare.pid()},
	}
	if b.naive != nil {
		b.watched = append(b.watched, watched{"naive", b.naive.pid()})
	}
	b.watched = append(b.watched, watched{"generator", os.Getpid()})

	logf("generating %d signed LINE webhooks", o.events)
	b.pool = newPool(lineSecret, o.contacts)
	b.pool.grow(o.events)
	if o.genProcs > 0 {
		runtime.GOMAXPROCS(o.genProcs)
	}
	runtime.GC()
	return nil
}

func (b *bench) run(ctx context.Context) error {
	o := b.o
	bare := target{name: "bare", addr: b.bareAddr}
	hook := target{name: "hookwall", addr: b.hookwallAddr, forwarded: true}

	// Phase A, bare.
	logf("phase A: bare, %d connections, %s", o.conns, o.dur)
	var c0, c1 cpuSnap
	b.aBare = closedLoop(ctx, bare, o.conns, o.warmup, o.dur, b.pool.cursorFrom(0), window{
		start: func() { c0 = readCPU(b.watched) },
		end:   func() { c1 = readCPU(b.watched) },
	})
	b.cpuABare = cpuBetween(c0, c1, b.watched)
	logf("  %.0f req/s, %d errors", b.aBare.rate, b.aBare.errors())
	if ctx.Err() != nil {
		return nil
	}
	sleepCtx(ctx, time.Second)

	if b.naive != nil {
		logf("phase A: naive one-script handler, %d connections, %s", o.conns, o.dur)
		// Its dedupe keys are its own ("naive:"), so it may take the same
		// bodies as hookwall, from the start.
		ncur := b.pool.cursorFrom(0)
		b.aNaive = closedLoop(ctx, target{name: "naive", addr: b.naiveAddr}, o.conns, o.warmup, o.dur, ncur, window{
			start: func() { c0 = readCPU(b.watched) },
			end:   func() { c1 = readCPU(b.watched) },
		})
		b.cpuANaive = cpuBetween(c0, c1, b.watched)
		b.naiveWrapped = ncur.wrapped.Load()
		logf("  %.0f req/s, %d errors", b.aNaive.rate, b.aNaive.errors())
		if ctx.Err() != nil {
			return nil
		}
		sleepCtx(ctx, time.Second)
	}

	// Phase A, hookwall, with the delivery pace sampled throughout.
	logf("phase A: hookwall, %d connections, %s", o.conns, o.dur)
	hcur := b.pool.cursorFrom(0)
	smp := b.watch.sample(250*time.Millisecond, func() int64 { return int64(hcur.used()) })
	var d0, d1, k0, k1 int64
	var q1 int64
	profDone := make(chan struct{})
	b.aHook = closedLoop(ctx, hook, o.conns, o.warmup, o.dur, hcur, window{
		start: func() {
			_ = b.rdb.ConfigResetStat(ctx).Err()
			d0, k0, _, _ = b.watch.sinkCounts(ctx)
			c0 = readCPU(b.watched)
			if o.pprof {
				go func() { defer close(profDone); b.profA = b.profile(ctx, o.profileOut+"-a.pprof") }()
			} else {
				close(profDone)
			}
		},
		end: func() {
			c1 = readCPU(b.watched)
			d1, k1, _, _ = b.watch.sinkCounts(ctx)
			q1, _ = b.watch.depth(ctx)
			b.redisStats = commandStats(ctx, b.rdb)
		},
	})
	b.cpuAHook = cpuBetween(c0, c1, b.watched)
	b.accepted += b.aHook.total
	drainA, okA := b.watch.drain(ctx, b.accepted, o.drainTimeout)
	b.deliv = pace{
		ingestRate: b.aHook.rate, deliveredRate: float64(d1-d0) / b.aHook.elapsed.Seconds(),
		depthAtEnd: q1, drain: drainA, drained: okA, samples: smp.finish(), conns: k1 - k0,
	}
	for _, s := range b.deliv.samples {
		b.deliv.maxDepth = max(b.deliv.maxDepth, s.depth)
	}
	logf("  %.0f req/s, %d errors; delivered %.0f/s during ingest, drained in %s", b.aHook.rate, b.aHook.errors(), b.deliv.deliveredRate, drainA.Round(time.Millisecond))
	if o.pprof {
		<-profDone
	}
	if ctx.Err() != nil {
		return nil
	}

	// Phase B: the same fixed rate against both.
	b.rate = o.fraction * b.aHook.rate
	if b.rate < 1 {
		return fmt.Errorf("hookwall's phase-A rate was %.1f req/s: nothing to run phase B at (see %s)", b.aHook.rate, b.hookwall.log)
	}
	need := hcur.used() + int(b.rate*o.dur.Seconds()*1.05) + 1000
	if have := b.pool.len(); need > have {
		logf("generating %d more webhooks for phase B", need-have)
		runtime.GOMAXPROCS(runtime.NumCPU())
		b.pool.grow(need - have)
		if o.genProcs > 0 {
			runtime.GOMAXPROCS(o.genProcs)
		}
	}
	sleepCtx(ctx, time.Second)
	logf("phase B: bare, %.0f req/s for %s", b.rate, o.dur)
	c0 = readCPU(b.watched)
	b.bBare = openLoop(ctx, bare, o.openConns, b.rate, o.dur, b.pool.cursorFrom(0))
	b.cpuBBare = cpuBetween(c0, readCPU(b.watched), b.watched)
	logf("  p50 %s p99 %s", b.bBare.pct(50), b.bBare.pct(99))
	if ctx.Err() != nil {
		return nil
	}
	sleepCtx(ctx, time.Second)

	logf("phase B: hookwall, %.0f req/s for %s", b.rate, o.dur)
	hcurB := b.pool.cursorFrom(hcur.used())
	smp = b.watch.sample(250*time.Millisecond, func() int64 { return int64(hcurB.used()) })
	_ = b.rdb.ConfigResetStat(ctx).Err()
	d0, k0, _, _ = b.watch.sinkCounts(ctx)
	profDone = make(chan struct{})
	if o.pprof {
		go func() { defer close(profDone); b.profB = b.profile(ctx, o.profileOut+"-b.pprof") }()
	} else {
		close(profDone)
	}
	c0 = readCPU(b.watched)
	b.bHook = openLoop(ctx, hook, o.openConns, b.rate, o.dur, hcurB)
	b.cpuBHook = cpuBetween(c0, readCPU(b.watched), b.watched)
	d1, k1, _, _ = b.watch.sinkCounts(ctx)
	b.redisStatsB = commandStats(ctx, b.rdb)
	<-profDone
	q1, _ = b.watch.depth(ctx)
	b.accepted += b.bHook.total
	drainB, okB := b.watch.drain(ctx, b.accepted, o.drainTimeout)
	b.delivB = pace{
		ingestRate: b.bHook.rate, deliveredRate: float64(d1-d0) / b.bHook.elapsed.Seconds(),
		depthAtEnd: q1, drain: drainB, drained: okB, samples: smp.finish(), conns: k1 - k0,
	}
	for _, s := range b.delivB.samples {
		b.delivB.maxDepth = max(b.delivB.maxDepth, s.depth)
	}
	logf("  p50 %s p99 %s", b.bHook.pct(50), b.bHook.pct(99))
	b.wrapped = hcur.wrapped.Load() + hcurB.wrapped.Load()
	b.finalDelivered, _, b.repeats, _ = b.watch.sinkCounts(ctx)
	b.finalDepth, _ = b.watch.depth(ctx)
	return nil
}

// profile is a CPU profile of hookwall and its top entries.
type profile struct {
	path     string
	top, cum string
	err      string
}

// profile fetches a CPU profile of hookwall for up to 10s of the phase
// running now, writes it to path and keeps its top entries for the report.
func (b *bench) profile(ctx context.Context, path string) profile {
	secs := int(min(b.o.dur, 10*time.Second) / time.Second)
	if secs < 1 {
		secs = 1
	}
	if b.profileNote == "" && b.overlaid {
		b.profileNote = "hookwall does not serve HOOKWALL_PPROF yet: the bench compiled a net/http/pprof listener into its build with go build -overlay (the tree is unchanged)"
	}
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", b.pprofAddr, secs)
	c := &http.Client{Timeout: time.Duration(secs+15) * time.Second}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	res, err := c.Do(req)
	if err != nil {
		return profile{err: "no profile: " + err.Error()}
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		return profile{err: fmt.Sprintf("no profile: status %d %v", res.StatusCode, err)}
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return profile{err: "writing the profile: " + err.Error()}
	}
	top := func(extra ...string) string {
		args := append([]string{"tool", "pprof", "-top", "-nodecount=25"}, extra...)
		args = append(args, path)
		out, err := exec.CommandContext(ctx, "go", args...).CombinedOutput()
		if err != nil {
			return fmt.Sprintf("go tool pprof: %v\n%s", err, out)
		}
		return strings.TrimRight(string(out), "\n")
	}
	return profile{path: path, top: top(), cum: top("-cum")}
}

// stopHookwall sends SIGTERM and notes how the drain went.
func (b *bench) stopHookwall() {
	began := time.Now()
	b.hookwall.stop(15 * time.Second)
	st := b.hookwall.cmd.ProcessState
	if st == nil {
		b.hookwallExit = "unknown"
		return
	}
	b.hookwallExit = fmt.Sprintf("exit %d after SIGTERM in %s", st.ExitCode(), time.Since(began).Round(time.Millisecond))
}

// sourceVersion names the commit the hookwall build came from, and whether
// the work tree had changes besides it.
func sourceVersion(root string) string {
	out, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown (no git)"
	}
	v := "commit " + strings.TrimSpace(string(out))
	// Only what goes into the binary: non-test Go files outside scripts/,
	// and the module files.
	st, err := exec.Command("git", "-C", root, "status", "--porcelain", "--",
		"*.go", ":(exclude)*_test.go", ":(exclude)scripts/**", "go.mod", "go.sum").Output()
	if err == nil && len(strings.TrimSpace(string(st))) > 0 {
		v += " with " + strconv.Itoa(len(strings.Split(strings.TrimSpace(string(st)), "\n"))) + " changed or new non-test Go files"
	}
	return v
}

func machineInfo() [][2]string {
	cpu := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := "unknown"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line)
		if len(f) >= 2 {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			mem = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
		}
	}
	return [][2]string{
		{"nproc", strconv.Itoa(runtime.NumCPU())},
		{"CPU", cpu},
		{"memory", mem},
		{"kernel", firstLine("uname", "-sr")},
		{"go", firstLine("go", "version")},
		{"redis-server", firstLine("redis-server", "--version")},
	}
}
