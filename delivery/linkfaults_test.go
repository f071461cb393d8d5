package delivery_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookwall/hookwall/delivery"
	"github.com/hookwall/hookwall/internal/faultproxy"
	"github.com/hookwall/hookwall/internal/redistest"
	"github.com/hookwall/hookwall/internal/testkit"
)

// TestTargetLinkFaults puts a real fault proxy between the deliverer and the
// bot, and under each fault checks that deliveries fail and are retried —
// the breaker opens and holds them, spending no attempt, so that none is
// parked — and that once the fault ends every message reaches the bot, each
// contact's in order, and the deliverer leaves no goroutine or connection
// behind, neither while it runs nor once it has stopped.
//
// The faults on the bot's answers (latency past the attempt timeout, a bot
// that stops answering, a reset or a cut answer) leave the bot holding
// messages hookwall counts as failed: it gets them again (at least once),
// and order is that of their first arrivals.
func TestTargetLinkFaults(t *testing.T) {
	redistest.OnlyIn(t, "single")
	for _, tc := range []struct {
		name  string
		toxic faultproxy.Toxic
	}{
		{"latency beyond the attempt timeout", faultproxy.Latency(1500)},
		{"bot stops answering", faultproxy.Silence()},
		{"connection reset on the answer", faultproxy.Reset()},
		{"connection cut mid-answer", faultproxy.CutReply(10)},
		{"bandwidth squeezed to 1 KB/s", faultproxy.Bandwidth(1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			redistest.Parallel(t)
			targetFault(t, tc.toxic)
		})
	}
}

func targetFault(t *testing.T, toxic faultproxy.Toxic) {
	const contacts = 4
	s := newSetup(t)
	bot := testkit.NewTarget(t, "bot", "")
	u, err := url.Parse(bot.URL())
	if err != nil {
		t.Fatal(err)
	}
	p := faultproxy.Start(t, u.Host)
	u.Host = p.Addr
	cfg := testConfig("links", oneTarget(u.String()))
	cfg.Timeout = time.Second
	cfg.MaxAttempts = 10 // the default budget: the breaker, not the budget, keeps the fault from parking
	cfg.BreakerFailures = 3
	cfg.BreakerOpen = 500 * time.Millisecond
	o := newObserver()
	cfg.Observer = o
	label := t.Name()
	d, err := delivery.New(cfg, s.store, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError})))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go pprof.Do(ctx, pprof.Labels("deliverer", label), func(ctx context.Context) {
		defer close(done)
		_ = d.Run(ctx)
	})
	stop := func() {
		cancel()
		select {
		case <-done:
		case <-time.After(deadline):
			t.Fatalf("Run did not return within %s of cancel", deadline)
		}
	}
	t.Cleanup(stop)

	contact := func(c int) string { return fmt.Sprintf("Ulink-%d", c) }
	want := make([][]string, contacts)
	// Each envelope carries 3 KB of the platform's event: more than a
	// squeezed link passes within the attempt timeout.
	pad := strings.Repeat("x", 3000)
	ingest := func(texts ...string) {
		for c := range contacts {
			for _, text := range texts {
				raw := json.RawMessage(fmt.Sprintf(`{"type":"message","text":%q,"pad":%q}`, text, pad))
				s.ingest(t, msg{channel: lineMain, contact: contact(c), text: text, raw: raw})
				want[c] = append(want[c], text)
			}
		}
	}
	allDelivered := func(what string) {
		bot.WaitUntil(t, deadline, what, func() bool {
			for c := range contacts {
				if len(firstTexts(bot, contact(c))) < len(want[c]) {
					return false
				}
			}
			return true
		})
	}
	ingest("w0")
	allDelivered("the messages before the fault")
	goroutines0 := idleGoroutines(t, label, nil)

	// The fault lasts until the breaker has opened and one of its trials
	// has failed: the deliveries are being held, not spent.
	p.Add(t, toxic)
	faulted := time.Now()
	ingest("f0", "f1")
	o.waitChange(t, "closed->open")
	o.waitChange(t, "half-open->open")
	p.Remove(t, toxic.Name)
	healed := time.Now()
	ingest("a0")
	allDelivered("every message after the fault")
	delivered := time.Since(healed)
	for c := range contacts {
		if got := firstTexts(bot, contact(c)); !slices.Equal(got, want[c]) {
			t.Errorf("%s: bot got %q first; want %q", contact(c), got, want[c])
		}
	}
	if dls := s.deadLetters(t); len(dls) > 0 {
		t.Errorf("%d deliveries parked by a fault on the bot's link: %+v", len(dls), dls)
	}
	failed := len(o.attemptsWith("failed"))
	goroutines1 := idleGoroutines(t, label, func(n int) bool { return n <= goroutines0 })
	// One post at a time per contact: a connection that failed is closed,
	// not kept, so no more are open than contacts.
	conns := waitConns(t, bot, func(n int) bool { return n <= contacts })
	t.Logf("%s: %d failed attempts in %s of fault, all delivered %s after it; goroutines %d -> %d, %d connections to the bot",
		toxic.Name, failed, healed.Sub(faulted).Round(time.Millisecond), delivered.Round(time.Millisecond), goroutines0, goroutines1, conns)

	// Stopped, the deliverer leaves no goroutine and no connection behind
	// (fasthttp's idle-connection cleaner ends within its 4s period).
	stop()
	idleGoroutines(t, label, func(n int) bool { return n == 0 })
	waitConns(t, bot, func(n int) bool { return n == 0 })
}

// firstTexts is the texts the bot took for the contact, each at its first
// arrival.
func firstTexts(bot *testkit.Target, contact string) []string {
	seen := map[string]bool{}
	var out []string
	for _, e := range bot.Envs(contact) {
		if !seen[e.Text()] {
			seen[e.Text()] = true
			out = append(out, e.Text())
		}
	}
	return out
}

// attemptsWith returns the attempts recorded with the outcome.
func (o *observer) attemptsWith(outcome string) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []string
	for _, a := range o.attempts {
		if strings.HasSuffix(a, " "+outcome) {
			out = append(out, a)
		}
	}
	return out
}

// idleGoroutines waits until no delivery lane of the deliverer labelled
// label runs and ok (nil: any) holds for the number of its goroutines,
// which it returns; it fails t at the deadline.
func idleGoroutines(t *testing.T, label string, ok func(int) bool) int {
	t.Helper()
	limit := time.Now().Add(deadline)
	for {
		stacks := labelled(label)
		n := 0
		for _, blk := range stacks {
			n += stackCount(blk)
		}
		lanes := slices.ContainsFunc(stacks, func(b string) bool { return strings.Contains(b, "laneWorker") })
		if !lanes && (ok == nil || ok(n)) {
			return n
		}
		if time.Now().After(limit) {
			t.Fatalf("the deliverer's goroutines did not settle in %s: %d\n%s", deadline, n, strings.Join(stacks, "\n\n"))
		}
		time.Sleep(10 * time.Millisecond) // polling, bounded by the deadline
	}
}

// labelled returns the goroutine profile's entries of the deliverer labelled
// label: Run's goroutine and every one started from it.
func labelled(label string) []string {
	var b bytes.Buffer
	_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
	want := fmt.Sprintf(`"deliverer":%q`, label)
	var out []string
	for _, blk := range strings.Split(b.String(), "\n\n") {
		if strings.Contains(blk, want) {
			out = append(out, blk)
		}
	}
	return out
}

// waitConns waits until ok holds for the connections open to the target and
// returns their number; it fails t at the deadline.
func waitConns(t *testing.T, target *testkit.Target, ok func(int) bool) int {
	t.Helper()
	limit := time.Now().Add(deadline)
	for {
		n := target.Conns()
		if ok(n) {
			return n
		}
		if time.Now().After(limit) {
			t.Fatalf("%d connections open to the target after %s", n, deadline)
		}
		time.Sleep(10 * time.Millisecond) // polling, bounded by the deadline
	}
}

// stackCount is the number of goroutines of an entry of the goroutine
// profile (debug=1): the N of its "N @ 0x..." line.
func stackCount(entry string) int {
	for _, line := range strings.Split(entry, "\n") {
		if c, _, ok := strings.Cut(line, " @ "); ok {
			n, _ := strconv.Atoi(c)
			return n
		}
	}
	return 0
}
