package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookwall/hookwall/internal/faultproxy"
	"github.com/hookwall/hookwall/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// Bounds of serve as it ships, which the fault tests hold it to.
const (
	// requestTimeout is the gateway's bound on a request's store calls
	// (gateway.Config.RequestTimeout, which serve leaves at its default).
	requestTimeout = 10 * time.Second
	// readyTimeout is /readyz's bound on its store calls.
	readyTimeout = 2 * time.Second
	// answerMargin is what a request may take past its bound to answer:
	// writing the problem, the loopback, a loaded machine. A bound on a
	// hang, not a speed target.
	answerMargin = 800 * time.Millisecond // under the 1 s by which the read timeout (3 s) exceeds /readyz's bound
	// poolSize is openStore's bound on the connections to Redis.
	poolSize = 128
)

// TestRedisLinkFaults puts a real fault proxy between hookwall (serve as it
// ships, openStore's client included) and its redis-server, and under each
// fault checks what issue 13 asks:
//
//   - every webhook answers within the request timeout: 503
//     store_unavailable when the store cannot take its write, 200 only when
//     it has — every event answered 200 is delivered;
//   - /readyz answers 503 while Redis does not answer, 200 again once it does;
//   - once the fault is removed, webhooks answer 200 again, and the bot gets
//     every event answered 200, each contact's in the order they were
//     accepted (a refused one is sent again, as the platforms do), nothing
//     parked;
//   - no goroutine is left over after the recovery, no connection beyond
//     the pool's bound, and nothing at all once hookwall has stopped.
//
// The faults are on the replies (downstream) but the bandwidth squeeze,
// which is on what hookwall sends: Redis runs a command whose reply is then
// late, lost or cut, so an event answered 503 may be stored all the same;
// the platform's retry is then a duplicate.
func TestRedisLinkFaults(t *testing.T) {
	redistest.OnlyIn(t, "single")
	for _, tc := range []struct {
		name  string
		toxic faultproxy.Toxic
		// partial: the store still answers small commands (readiness stays
		// 200, a small webhook may be answered 200); only a large write
		// cannot get through in time.
		partial bool
	}{
		{name: "latency beyond the request timeout", toxic: faultproxy.Latency(requestTimeout.Milliseconds() + 1000)},
		{name: "redis stops answering", toxic: faultproxy.Silence()},
		{name: "connection reset on reply", toxic: faultproxy.Reset()},
		{name: "connection cut mid-reply", toxic: faultproxy.CutReply(3)},
		{name: "bandwidth squeezed to 1 KB/s", toxic: faultproxy.Bandwidth(1), partial: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			redisFault(t, tc.toxic, tc.partial)
		})
	}
}

func redisFault(t *testing.T, toxic faultproxy.Toxic, partial bool) {
	const contacts = 4
	h := startHookwall(t, hwOptions{FaultProxy: true})
	counter := redis.NewClient(&redis.Options{Addr: h.redis.Addr, ClientName: "fault-test", PoolSize: 1})
	t.Cleanup(func() { _ = counter.Close() })
	contact := func(c int) string { return fmt.Sprintf("Ufault-%d", c) }
	accepted := make([][]string, contacts) // texts answered 200, in order
	post := func(c int, text string) (answer, []byte) {
		body := lineBody(t, lineEvent{Contact: contact(c), ID: h.eventID("fault"), Text: text})
		a, err := postLineRaw(h.client, h.base, body, "")
		if err != nil {
			t.Errorf("%s %.10q: %v", contact(c), text, err)
		}
		return a, body
	}
	waitAccepted := func(what string) {
		h.bot.WaitUntil(t, waitLimit, what, func() bool {
			for c := range contacts {
				if len(firstOrder(texts(h.bot.Envs(contact(c))))) < len(accepted[c]) {
					return false
				}
			}
			return true
		})
	}

	for c := range contacts {
		for _, text := range []string{"w0", "w1"} {
			h.line(t, contact(c), text)
			accepted[c] = append(accepted[c], text)
		}
	}
	waitAccepted("the events before the fault")
	goroutines0 := h.idleGoroutines(t)
	conns0 := redisClients(t, counter)

	// The fault: each contact's next event, at once; contact 0's is large
	// (8 KB stored), more than a squeezed link carries before the read
	// timeout.
	h.faults.Add(t, toxic)
	faulted := time.Now()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		refused = map[int][]byte{} // the body of each contact's refused event
		slowest time.Duration
	)
	for c := range contacts {
		wg.Go(func() {
			text := "f"
			if c == 0 {
				text = "f" + strings.Repeat(".", 4000)
			}
			start := time.Now()
			a, body := post(c, text)
			took := time.Since(start)
			mu.Lock()
			defer mu.Unlock()
			slowest = max(slowest, took)
			switch {
			case took > requestTimeout+answerMargin:
				t.Errorf("%s: webhook answered %d after %s under the fault; want an answer within %s", contact(c), a.Status, took, requestTimeout+answerMargin)
			case a.Status == http.StatusOK && partial && c > 0:
				accepted[c] = append(accepted[c], text) // stored: it must be delivered
			case a.Status != http.StatusServiceUnavailable || a.code() != "store_unavailable":
				t.Errorf("%s: webhook answered %d %s under the fault; want 503 store_unavailable", contact(c), a.Status, a.Body)
			default:
				refused[c] = body
			}
		})
	}
	readyStart := time.Now()
	ready, err := send(h.client, http.MethodGet, h.base+"/readyz", http.Header{}, nil)
	readyTook := time.Since(readyStart)
	wantReady := http.StatusServiceUnavailable
	if partial {
		wantReady = http.StatusOK // Redis answers a PING
	}
	if err != nil || ready.Status != wantReady || readyTook > readyTimeout+answerMargin {
		t.Errorf("/readyz under the fault: %d %s %v after %s; want %d within %s", ready.Status, ready.Body, err, readyTook, wantReady, readyTimeout+answerMargin)
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// The fault ends: readiness comes back, the refused events are sent
	// again until accepted, then each contact's next ones.
	h.faults.Remove(t, toxic.Name)
	healed := time.Now()
	waitReady(t, h.client, h.base, nil)
	readyAgain := time.Since(healed)
	for c := range contacts {
		if body, ok := refused[c]; ok {
			h.postLine(t, body, "").counts(t) // 200: stored now, or a duplicate of what the fault let through
			var ev struct {
				Events []struct {
					Message struct{ Text string } `json:"message"`
				} `json:"events"`
			}
			if err := json.Unmarshal(body, &ev); err != nil {
				t.Fatal(err)
			}
			accepted[c] = append(accepted[c], ev.Events[0].Message.Text)
		}
		for _, text := range []string{"a0", "a1"} {
			h.line(t, contact(c), text)
			accepted[c] = append(accepted[c], text)
		}
	}
	waitAccepted("every event answered 200")
	delivered := time.Since(healed)
	for c := range contacts {
		if got := firstOrder(texts(h.bot.Envs(contact(c)))); !slices.Equal(got, accepted[c]) {
			t.Errorf("%s: bot got %.12q; want %.12q (answered 200, in order)", contact(c), got, accepted[c])
		}
	}
	if dls := h.deadLetters(t); len(dls) > 0 {
		t.Errorf("%d deliveries parked by a store fault: %+v", len(dls), dls)
	}

	goroutines1 := h.settleGoroutines(t, goroutines0)
	conns1 := redisClients(t, counter)
	if conns1 > poolSize {
		t.Errorf("hookwall holds %d connections to Redis after the fault, beyond its pool's %d", conns1, poolSize)
	}
	t.Logf("%s: webhooks answered within %s, /readyz %d in %s; ready again %s and every event delivered %s after the fault ended; goroutines %d -> %d, redis connections %d -> %d (%s in all)",
		toxic.Name, slowest.Round(time.Millisecond), ready.Status, readyTook.Round(time.Millisecond), readyAgain.Round(time.Millisecond), delivered.Round(time.Millisecond),
		goroutines0, goroutines1, conns0, conns1, time.Since(faulted).Round(time.Millisecond))

	// Stopped, hookwall leaves no goroutine and no connection behind.
	h.stop()
	deadline := time.Now().Add(waitLimit)
	for {
		g, n := h.goroutines(true), redisClients(t, counter)
		if g == 0 && n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s after hookwall stopped: %d of its goroutines left, %d connections to Redis:\n%s", waitLimit, g, n, h.goroutineStacks())
		}
		time.Sleep(10 * time.Millisecond) // polling the count, bounded by the deadline
	}
}

// idleGoroutines waits until hookwall is idle — no webhook connection open,
// no delivery lane running — and returns its goroutines then.
func (h *hw) idleGoroutines(t *testing.T) int {
	t.Helper()
	h.client.CloseIdleConnections()
	deadline := time.Now().Add(waitLimit)
	for {
		stacks := h.goroutineStacks()
		if !strings.Contains(stacks, "delivery.(*shardRun).laneWorker") && !strings.Contains(stacks, "fasthttp.(*Server).serveConn") {
			return h.goroutines(false)
		}
		if time.Now().After(deadline) {
			t.Fatalf("hookwall not idle after %s:\n%s", waitLimit, stacks)
		}
		time.Sleep(10 * time.Millisecond) // polling, bounded by the deadline
	}
}

// settleGoroutines waits until hookwall, idle, runs no more goroutines than
// before, and returns how many it runs; it fails t at waitLimit.
func (h *hw) settleGoroutines(t *testing.T, before int) int {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		n := h.idleGoroutines(t)
		if n <= before {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("hookwall runs %d goroutines after the fault, %d before:\n%s", n, before, h.goroutineStacks())
		}
		time.Sleep(10 * time.Millisecond) // polling, bounded by the deadline
	}
}

// goroutineStacks returns the stacks of this hookwall's goroutines: serve's,
// and those started from them, which carry its label (hw.serve).
func (h *hw) goroutineStacks() string {
	var b bytes.Buffer
	_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
	label := fmt.Sprintf(`"hookwall":%q`, h.conf.Listen)
	var out strings.Builder
	for _, blk := range strings.Split(b.String(), "\n\n") {
		if strings.Contains(blk, label) {
			out.WriteString(blk + "\n\n")
		}
	}
	return out.String()
}

// goroutines counts this hookwall's goroutines but fasthttp's own
// long-lived ones: the date ticker, started once per process by the first
// server, and the worker pool's cleaner, which notices a stopped server
// within its 10s idle-worker period. Without withIdleWorkers, it also leaves
// out the server's idle workers, which that cleaner ends after 10s unused:
// fasthttp's pool, bounded by the connections served at once.
func (h *hw) goroutines(withIdleWorkers bool) int {
	n := 0
	for _, blk := range strings.Split(h.goroutineStacks(), "\n\n") {
		switch {
		case strings.Contains(blk, "fasthttp.updateServerDate"), strings.Contains(blk, "fasthttp.(*workerPool).Start.func"):
			continue
		case !withIdleWorkers && strings.Contains(blk, "fasthttp.(*workerPool).workerFunc") && !strings.Contains(blk, "serveConn"):
			continue
		}
		n += stackCount(blk)
	}
	return n
}

// redisClients counts the connections the redis-server holds, but those of
// the test's own client, named "fault-test".
func redisClients(t testing.TB, c *redis.Client) int {
	t.Helper()
	list, err := c.ClientList(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range strings.Split(strings.TrimSpace(list), "\n") {
		if !strings.Contains(l, " name=fault-test ") {
			n++
		}
	}
	return n
}

// stackCount is the number of goroutines of an entry of the goroutine
// profile (debug=1): the N of its "N @ 0x..." line. The profile's first
// entry follows its header line.
func stackCount(entry string) int {
	for _, line := range strings.Split(entry, "\n") {
		if c, _, ok := strings.Cut(line, " @ "); ok {
			n, _ := strconv.Atoi(c)
			return n
		}
	}
	return 0
}
