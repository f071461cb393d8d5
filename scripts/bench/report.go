package main

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"
)

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }

func verdict(ok bool) string {
	if ok {
		return "**met**"
	}
	return "**not met**"
}

// report prints the run as markdown.
func (b *bench) report(w io.Writer) {
	o := b.o
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }

	p("## hookwall load benchmark, %s", b.began.UTC().Format("2006-01-02 15:04 UTC"))
	p("")
	p("Command (from the module root): `%s`", strings.TrimSpace("go run ./scripts/bench "+strings.Join(b.args, " ")))
	p("")
	p("| machine | |")
	p("|---|---|")
	for _, kv := range b.machine {
		p("| %s | %s |", kv[0], kv[1])
	}
	p("| load average (1/5/15 min) | %s at start, %s at end |", b.loadStart, b.loadEnd)
	p("| generator | GOMAXPROCS %d, fasthttp client, %d connections (A), up to %d (B) |", runtime.GOMAXPROCS(0), o.conns, o.openConns)
	aof := "`--save \"\" --appendonly no`"
	if o.aof {
		aof = "`--save \"\" --appendonly yes --appendfsync everysec`"
	}
	p("| redis-server | private, loopback, %s |", aof)
	p("")
	worst, phase := 0.0, ""
	for _, r := range []struct {
		name string
		u    cpuUse
	}{{"A bare", b.cpuABare}, {"A hookwall", b.cpuAHook}, {"B bare", b.cpuBBare}, {"B hookwall", b.cpuBHook}} {
		if r.u.others > worst {
			worst, phase = r.u.others, r.name
		}
	}
	if worst > 25 {
		p("Warning: processes outside the bench used up to %.0f%% of a core (phase %s) on this shared machine: the figures are noisy; see the CPU table.", worst, phase)
		p("")
	}

	ratio := b.aHook.rate / b.aBare.rate
	p99diff := b.bHook.pct(99) - b.bBare.pct(99)
	keepsPace := b.deliv.deliveredRate >= 0.95*b.deliv.ingestRate
	p("### Figures")
	p("")
	p("| | bare Fiber | hookwall | hookwall vs bare | target |")
	p("|---|---:|---:|---:|---|")
	p("| A: throughput, closed loop, %d conns, %s (req/s) | %.0f | %.0f | %.2fx | >= 0.5x: %s |", o.conns, o.dur, b.aBare.rate, b.aHook.rate, ratio, verdict(ratio >= 0.5))
	p("| A: errors (non-200 / transport) | %d / %d | %d / %d | | 0 |", b.aBare.non200, b.aBare.transport, b.aHook.non200, b.aHook.transport)
	if b.naive != nil {
		p("| A: naive handler (signature + one Redis script, no parse, no delivery), req/s | | %.0f (errors %d, bodies reused %d) | %.2fx | calibration |", b.aNaive.rate, b.aNaive.errors(), b.naiveWrapped, b.aNaive.rate/b.aBare.rate)
	}
	p("| A: latency p50 / p99 (ms) | %s / %s | %s / %s | | |", ms(b.aBare.pct(50)), ms(b.aBare.pct(99)), ms(b.aHook.pct(50)), ms(b.aHook.pct(99)))
	p("| B: open loop at %.0f req/s (%.0f%% of hookwall's A), sent / answered 200 | %d / %d | %d / %d | | |", b.rate, o.fraction*100, b.bBare.scheduled, b.bBare.ok, b.bHook.scheduled, b.bHook.ok)
	p("| B: errors (non-200 / transport) | %d / %d | %d / %d | | 0 |", b.bBare.non200, b.bBare.transport, b.bHook.non200, b.bHook.transport)
	p("| B: p50 (ms) | %s | %s | +%s | |", ms(b.bBare.pct(50)), ms(b.bHook.pct(50)), ms(b.bHook.pct(50)-b.bBare.pct(50)))
	p("| B: p90 (ms) | %s | %s | +%s | |", ms(b.bBare.pct(90)), ms(b.bHook.pct(90)), ms(b.bHook.pct(90)-b.bBare.pct(90)))
	p("| B: p99 (ms) | %s | %s | +%s | <= +2 ms: %s |", ms(b.bBare.pct(99)), ms(b.bHook.pct(99)), ms(p99diff), verdict(p99diff <= 2*time.Millisecond))
	p("| B: max (ms) | %s | %s | | |", ms(b.bBare.pct(100)), ms(b.bHook.pct(100)))
	p("| B: generator send lag p99 / max (ms) | %s / %s | %s / %s | | included in the latencies |", ms(pct(b.bBare.sendLag, 99)), ms(pct(b.bBare.sendLag, 100)), ms(pct(b.bHook.sendLag, 99)), ms(pct(b.bHook.sendLag, 100)))
	p("| B: p50 / p99 from the actual send (ms) | %s / %s | %s / %s | +%s (p99) | |", ms(pct(b.bBare.service, 50)), ms(pct(b.bBare.service, 99)), ms(pct(b.bHook.service, 50)), ms(pct(b.bHook.service, 99)), ms(pct(b.bHook.service, 99)-pct(b.bBare.service, 99)))
	p("")
	p("### Delivery pace (hookwall → sink as the bot)")
	p("")
	p("| | phase A (saturated) | phase B (%.0f%% load) |", o.fraction*100)
	p("|---|---:|---:|")
	p("| ingest, accepted (req/s) | %.0f | %.0f |", b.deliv.ingestRate, b.delivB.ingestRate)
	p("| delivered during ingest (/s) | %.0f | %.0f |", b.deliv.deliveredRate, b.delivB.deliveredRate)
	p("| delivered / ingest | %.2f | %.2f |", b.deliv.deliveredRate/b.deliv.ingestRate, b.delivB.deliveredRate/b.delivB.ingestRate)
	p("| queue depth: max / at end of ingest | %d / %d | %d / %d |", b.deliv.maxDepth, b.deliv.depthAtEnd, b.delivB.maxDepth, b.delivB.depthAtEnd)
	p("| time to drain after ingest stops | %s | %s |", drainText(b.deliv), drainText(b.delivB))
	p("| connections opened to the sink during ingest | %d | %d |", b.deliv.conns, b.delivB.conns)
	p("")
	p("Keeps pace (delivered >= 0.95 x ingest during phase A): %s. Accepted in the run: %d; delivered to the sink: %d, of which %d repeated an envelope id already delivered (at least once); left in the queue: %d.",
		verdict(keepsPace), b.accepted, b.finalDelivered, b.repeats, b.finalDepth)
	if b.aHook.unexpected+b.bHook.unexpected > 0 || b.wrapped > 0 {
		p("")
		p("Warning: %d answers were 200 without `\"forwarded\":1` and %d requests reused a body (raise -events).", b.aHook.unexpected+b.bHook.unexpected, b.wrapped)
	}
	p("")
	p("hookwall: %s.", b.hookwallExit)
	p("")
	p("Phase A, hookwall, every second (sent = requests taken by the generator, delivered = sink count, depth = sum of XLEN of the %d `hw:{...}:queue` shards):", len(b.watch.queues))
	p("")
	p("```")
	p("%6s %9s %10s %7s", "t(s)", "sent", "delivered", "depth")
	next := time.Duration(0)
	for _, s := range b.deliv.samples {
		if s.at >= next {
			p("%6.1f %9d %10d %7d", s.at.Seconds(), s.accepted, s.delivered, s.depth)
			next = s.at.Truncate(time.Second) + time.Second
		}
	}
	p("```")
	p("")
	p("### CPU (%% of one core, from /proc; others = the rest of the machine)")
	p("")
	p("Server µs/req is the CPU time of the server side (bare; or hookwall + redis + sink) per answered request; all µs/req adds the generator.")
	p("")
	p("| phase | %s | others | machine busy | steal | server µs/req | all µs/req |", names(b.watched))
	p("|---|%s---:|---:|---:|---:|---:|", strings.Repeat("---:|", len(b.watched)+1))
	for _, r := range []struct {
		name string
		u    cpuUse
		rate float64
	}{{"A bare", b.cpuABare, b.aBare.rate}, {"A naive", b.cpuANaive, b.aNaive.rate}, {"A hookwall", b.cpuAHook, b.aHook.rate}, {"B bare", b.cpuBBare, b.bBare.rate}, {"B hookwall", b.cpuBHook, b.bHook.rate}} {
		if r.u.procs == nil {
			continue
		}
		var cells []string
		var server, all float64
		for _, x := range b.watched {
			v := r.u.procs[x.name]
			cells = append(cells, fmt.Sprintf("%.0f", v))
			all += v
			if x.name != "generator" {
				server += v
			}
		}
		perReq := func(pctCore float64) string {
			if r.rate <= 0 {
				return "-"
			}
			return fmt.Sprintf("%.0f", pctCore/100/r.rate*1e6)
		}
		p("| %s | %s | %.0f | %.0f%% of %d | %.0f%% | %s | %s |", r.name, strings.Join(cells, " | "), r.u.others, r.u.machine, r.u.cores, r.u.steal, perReq(server), perReq(all))
	}
	p("")
	p("### Redis commands during hookwall's phase A (INFO commandstats)")
	p("")
	p("| command | calls | total s | µs per call |")
	p("|---|---:|---:|---:|")
	for _, l := range b.redisStats {
		p("%s", l)
	}
	p("")
	p("### Redis commands during hookwall's phase B")
	p("")
	p("| command | calls | total s | µs per call |")
	p("|---|---:|---:|---:|")
	for _, l := range b.redisStatsB {
		p("%s", l)
	}
	if !o.pprof {
		return
	}
	if b.profileNote != "" {
		p("")
		p("Note: %s.", b.profileNote)
	}
	for _, pr := range []struct {
		name string
		prof profile
	}{{"A (closed loop, saturated)", b.profA}, {fmt.Sprintf("B (open loop, %.0f req/s)", b.rate), b.profB}} {
		p("")
		p("### hookwall CPU profile, phase %s", pr.name)
		p("")
		if pr.prof.err != "" {
			p("%s", pr.prof.err)
			continue
		}
		p("`go tool pprof -top %s`:", pr.prof.path)
		p("")
		p("```")
		p("%s", pr.prof.top)
		p("```")
		p("")
		p("By cumulative time (`-top -cum`):")
		p("")
		p("```")
		p("%s", pr.prof.cum)
		p("```")
	}
}

func drainText(p pace) string {
	if !p.drained {
		return fmt.Sprintf("not drained after %s", p.drain.Round(time.Millisecond))
	}
	return p.drain.Round(time.Millisecond).String()
}

func names(ws []watched) string {
	var n []string
	for _, w := range ws {
		n = append(n, w.name)
	}
	return strings.Join(n, " | ")
}
