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
	p("Command (from the module root): `go run ./scripts/bench %s`", strings.Join(b.args, " "))
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

	ratio := b.aHook.rate / b.aBare.rate
	p99diff := b.bHook.pct(99) - b.bBare.pct(99)
	keepsPace := b.deliv.deliveredRate >= 0.95*b.deliv.ingestRate
	p("### Figures")
	p("")
	p("| | bare Fiber | hookwall | hookwall vs bare | target |")
	p("|---|---:|---:|---:|---|")
	p("| A: throughput, closed loop, %d conns, %s (req/s) | %.0f | %.0f | %.2fx | >= 0.5x: %s |", o.conns, o.dur, b.aBare.rate, b.aHook.rate, ratio, verdict(ratio >= 0.5))
	p("| A: errors (non-200 / transport) | %d / %d | %d / %d | | 0 |", b.aBare.non200, b.aBare.transport, b.aHook.non200, b.aHook.transport)
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
	p("")
	p("Keeps pace (delivered >= 0.95 x ingest during phase A): %s. Accepted in the run: %d; delivered to the sink: %d; left in the queue: %d.",
		verdict(keepsPace), b.accepted, b.finalDelivered, b.finalDepth)
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
	p("| phase | %s | others | machine busy | steal |", names(b.watched))
	p("|---|%s---:|---:|---:|", strings.Repeat("---:|", len(b.watched)))
	for _, r := range []struct {
		name string
		u    cpuUse
	}{{"A bare", b.cpuABare}, {"A hookwall", b.cpuAHook}, {"B bare", b.cpuBBare}, {"B hookwall", b.cpuBHook}} {
		var cells []string
		for _, x := range b.watched {
			cells = append(cells, fmt.Sprintf("%.0f", r.u.procs[x.name]))
		}
		p("| %s | %s | %.0f | %.0f%% of %d | %.0f%% |", r.name, strings.Join(cells, " | "), r.u.others, r.u.machine, r.u.cores, r.u.steal)
	}
	p("")
	p("### Redis commands during hookwall's phase A (INFO commandstats)")
	p("")
	p("| command | calls | total s | µs per call |")
	p("|---|---:|---:|---:|")
	for _, l := range b.redisStats {
		p("%s", l)
	}
	if o.pprof {
		p("")
		p("### hookwall CPU profile, phase A")
		p("")
		if b.profileNote != "" {
			p("Note: %s.", b.profileNote)
			p("")
		}
		if b.profileTop != "" {
			p("Profile: %s (`go tool pprof -top %s`).", o.profileOut, o.profileOut)
			p("")
			p("```")
			p("%s", b.profileTop)
			p("```")
			p("")
			p("By cumulative time (`-top -cum`):")
			p("")
			p("```")
			p("%s", b.profileCum)
			p("```")
		}
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
