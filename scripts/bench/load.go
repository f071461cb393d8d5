package main

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// target is a server under load.
type target struct {
	name string
	addr string // host:port
	// forwarded, for hookwall, checks that each 200 decided "forwarded"
	// (a duplicate would mean the bench reused a body).
	forwarded bool
}

// counts are the outcomes of the requests of one phase.
type counts struct {
	ok         int64 // 200
	non200     int64
	transport  int64 // connection errors and timeouts
	unexpected int64 // 200 without "forwarded":1 (hookwall only)
}

func (c counts) errors() int64 { return c.non200 + c.transport }

// result is one phase against one target.
type result struct {
	counts
	total   int64 // 200s including the warm-up and the tail after the window
	elapsed time.Duration
	rate    float64         // completed 200s per second
	lat     []time.Duration // sorted
	// Open loop only.
	scheduled int
	sendLag   []time.Duration // sorted: when a worker picked a request up, after its scheduled time
	service   []time.Duration // sorted: from the actual send (what a closed-loop tool would report)
}

func (r result) pct(p float64) time.Duration { return pct(r.lat, p) }

func pct(s []time.Duration, p float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	i := int(p/100*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func newClient(t target, conns int) *fasthttp.HostClient {
	return &fasthttp.HostClient{
		Addr:                          t.addr,
		MaxConns:                      conns,
		ReadTimeout:                   10 * time.Second,
		WriteTimeout:                  10 * time.Second,
		MaxIdleConnDuration:           30 * time.Second,
		NoDefaultUserAgentHeader:      true,
		DisableHeaderNamesNormalizing: true,
		MaxConnWaitTimeout:            10 * time.Second,
	}
}

var forwardedOne = []byte(`"forwarded":1`)

// sender sends the requests of one worker over the shared client.
type sender struct {
	t    target
	hc   *fasthttp.HostClient
	req  *fasthttp.Request
	resp *fasthttp.Response
}

func newSender(t target, hc *fasthttp.HostClient) *sender {
	req := fasthttp.AcquireRequest()
	req.SetRequestURI("http://" + t.addr + "/webhooks/line-main")
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType("application/json; charset=utf-8")
	req.Header.Set("User-Agent", "LineBotWebhook/2.0")
	return &sender{t: t, hc: hc, req: req, resp: fasthttp.AcquireResponse()}
}

func (s *sender) close() {
	fasthttp.ReleaseRequest(s.req)
	fasthttp.ReleaseResponse(s.resp)
}

// send posts one webhook and classifies the answer; it reports false on a
// transport error.
func (s *sender) send(it *item, c *counts) bool {
	s.req.Header.Set("X-Line-Signature", it.sig)
	s.req.SetBodyRaw(it.body)
	if err := s.hc.Do(s.req, s.resp); err != nil {
		atomic.AddInt64(&c.transport, 1)
		return false
	}
	if s.resp.StatusCode() != fasthttp.StatusOK {
		atomic.AddInt64(&c.non200, 1)
		return true
	}
	if s.t.forwarded && !bytes.Contains(s.resp.Body(), forwardedOne) {
		atomic.AddInt64(&c.unexpected, 1)
	}
	atomic.AddInt64(&c.ok, 1)
	return true
}

// window is called when the measured window of a phase starts and ends.
type window struct {
	start, end func()
}

// closedLoop keeps conns requests in flight for warmup+dur and measures the
// last dur: each worker sends its next request as soon as the previous one
// is answered.
func closedLoop(ctx context.Context, t target, conns int, warmup, dur time.Duration, cur *cursor, w window) result {
	hc := newClient(t, conns)
	defer hc.CloseIdleConnections()
	var (
		all, warm counts
		measuring atomic.Bool
		stop      atomic.Bool
		wg        sync.WaitGroup
		mu        sync.Mutex
		lats      []time.Duration
	)
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := newSender(t, hc)
			defer s.close()
			local := make([]time.Duration, 0, 4096)
			for !stop.Load() {
				start := time.Now()
				var ok bool
				if measuring.Load() {
					ok = s.send(cur.take(), &all)
					local = append(local, time.Since(start))
				} else {
					ok = s.send(cur.take(), &warm)
				}
				if !ok {
					// The target is down or overloaded: do not spin.
					time.Sleep(10 * time.Millisecond)
				}
			}
			mu.Lock()
			lats = append(lats, local...)
			mu.Unlock()
		}()
	}
	sleepCtx(ctx, warmup)
	measuring.Store(true)
	if w.start != nil {
		w.start()
	}
	began := time.Now()
	sleepCtx(ctx, dur)
	measuring.Store(false)
	elapsed := time.Since(began)
	if w.end != nil {
		w.end()
	}
	stop.Store(true)
	wg.Wait()
	slices.Sort(lats)
	snap := counts{
		ok: atomic.LoadInt64(&all.ok), non200: atomic.LoadInt64(&all.non200),
		transport: atomic.LoadInt64(&all.transport), unexpected: atomic.LoadInt64(&all.unexpected),
	}
	return result{counts: snap, total: all.ok + warm.ok, elapsed: elapsed, rate: float64(snap.ok) / elapsed.Seconds(), lat: lats}
}

// openLoop sends rate requests per second for dur, on a schedule that does
// not wait for answers, over up to conns connections. Each latency runs
// from the request's scheduled send time, so a stalled server is charged
// for the requests queued behind the stall (no coordinated omission).
func openLoop(ctx context.Context, t target, conns int, rate float64, dur time.Duration, cur *cursor) result {
	hc := newClient(t, conns)
	defer hc.CloseIdleConnections()
	n := int(rate * dur.Seconds())
	due := make(chan time.Time, n)
	var (
		all  counts
		wg   sync.WaitGroup
		mu   sync.Mutex
		lats []time.Duration
		lags []time.Duration
		svcs []time.Duration
	)
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := newSender(t, hc)
			defer s.close()
			local := make([]time.Duration, 0, n/conns+16)
			lag := make([]time.Duration, 0, n/conns+16)
			svc := make([]time.Duration, 0, n/conns+16)
			for at := range due {
				sent := time.Now()
				s.send(cur.take(), &all)
				end := time.Now()
				lag = append(lag, sent.Sub(at))
				svc = append(svc, end.Sub(sent))
				local = append(local, end.Sub(at))
			}
			mu.Lock()
			lats = append(lats, local...)
			lags = append(lags, lag...)
			svcs = append(svcs, svc...)
			mu.Unlock()
		}()
	}
	interval := time.Duration(float64(time.Second) / rate)
	began := time.Now()
	scheduled := 0
	for k := range n {
		if ctx.Err() != nil {
			break
		}
		at := began.Add(time.Duration(k) * interval)
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		}
		due <- at
		scheduled++
	}
	close(due)
	wg.Wait()
	elapsed := time.Since(began)
	slices.Sort(lats)
	slices.Sort(lags)
	slices.Sort(svcs)
	return result{
		counts: all, total: all.ok, elapsed: elapsed, rate: float64(all.ok) / elapsed.Seconds(),
		lat: lats, scheduled: scheduled, sendLag: lags, service: svcs,
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
