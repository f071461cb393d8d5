package main

import (
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookwall/hookwall/internal/redistest"
	"github.com/hookwall/hookwall/internal/testkit"
	"github.com/redis/go-redis/v9"
)

// TestFullRedis fills a Redis with maxmemory-policy noeviction under a load
// of webhooks: maxmemory is set a little above what it uses once the load
// runs (CONFIG SET, so that hookwall starts on a Redis with room). From then
// on a stand-in replica holds the delivery shards, so that what is
// acknowledged stays in Redis, and the load fills it. Full, Redis refuses
// the writes (OOM): every webhook answers 503 store_unavailable — never 200
// for an event it did not store, never 500 — and the posters send again, as
// LINE does; /readyz stays 200. The stand-in then lets go, and the test
// notes what hookwall delivers while Redis is still full. Once maxmemory is
// raised the posters' retries are taken, and every event answered 200,
// before and after, is delivered, in order per contact.
func TestFullRedis(t *testing.T) {
	redistest.OnlyIn(t, "single")
	t.Parallel()
	const (
		contacts = 20
		per      = 100
		warmAt   = contacts * per / 4
		headroom = 200 << 10
		// observe bounds the wait for deliveries while Redis is full: three
		// leases' lives, as the test configures them.
		observe = 3 * time.Second
	)
	srv := redistest.Start(t, "--maxmemory-policy", "noeviction")
	bin := hookwallBinary(t)
	bot := testkit.NewTarget(t, "bot", botKey)
	helpdesk := testkit.NewTarget(t, "helpdesk", helpdeskKey)
	p := startProcess(t, bin, t.TempDir(), "full", configData{
		RedisURL: srv.URL(), BotURL: bot.URL(), HelpdeskURL: helpdesk.URL(), MaxAttempts: 1000, LeaseTTL: "1s",
	})
	rdb := srv.Client()

	var (
		warm     = make(chan struct{})
		full     = make(chan struct{})
		refused  = make([]atomic.Bool, contacts)
		stuck    atomic.Int64
		raisedAt atomic.Pointer[time.Time]
		firstOK  atomic.Pointer[time.Time] // the first answer 200 after the raise
	)
	load := (&lineLoad{
		Name: "full", Contacts: contacts, Per: per,
		Base: func() string { return p.base },
		// Refused (503) while Redis is full: LINE sends it again a little
		// later.
		Backoff: 20 * time.Millisecond, GiveUp: 30 * time.Second,
		OnOK: func(n int64, _ time.Time) {
			if n == warmAt {
				close(warm)
			}
			if raisedAt.Load() != nil {
				now := time.Now()
				firstOK.CompareAndSwap(nil, &now)
			}
		},
		OnRefused: func(c int, _ answer, _ error) {
			// Full: every poster has been refused.
			if !refused[c].Swap(true) && stuck.Add(1) == contacts {
				close(full)
			}
		},
	}).start(t)

	select {
	case <-warm:
	case <-time.After(30 * time.Second):
		t.Fatal("no load before the fill")
	}
	takeShards(t, rdb)
	used := usedMemory(t, rdb)
	limit := used + headroom
	if err := rdb.ConfigSet(t.Context(), "maxmemory", strconv.FormatInt(limit, 10)).Err(); err != nil {
		t.Fatal(err)
	}
	atLimit := load.answered.Load()
	limited := time.Now()
	select {
	case <-full:
	case <-load.done:
		t.Fatalf("every event answered 200 though Redis was given maxmemory %d (used %d then, %d now): were they stored?", limit, used, usedMemory(t, rdb))
	case <-time.After(30 * time.Second):
		t.Fatalf("%d of %d posters refused in 30s after maxmemory %d", stuck.Load(), contacts, limit)
	}
	fillTook := time.Since(limited)
	atFull := load.answered.Load()

	// Readiness does not follow a full Redis: it is every replica's, and
	// hookwall's own 503 store_unavailable is the answer the platforms
	// retry on, while delivery, which frees memory, goes on.
	if a := get(t, p.base+"/readyz"); a.Status != http.StatusOK {
		t.Errorf("/readyz with Redis full = %d %s; want 200", a.Status, a.Body)
	}

	// What hookwall delivers while Redis stays full, once the shards are
	// free: noted, not required (README, "Persistence").
	backlog := load.accepted()
	releaseShards(t, rdb)
	released := time.Now()
	delivered := func() (n int) {
		for c, ok := range backlog {
			n += min(len(ok), len(firstOrder(texts(bot.Envs(load.l.contact(c))))))
		}
		return n
	}
	for time.Since(released) < observe && delivered() < count(backlog) {
		waitChange(t.Context(), bot, observe-time.Since(released))
	}
	deliveredFull, deliveredIn := delivered(), time.Since(released)
	usedFull := usedMemory(t, rdb)
	refusedFull, _ := load.refusals()

	if err := rdb.ConfigSet(t.Context(), "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	raised := time.Now()
	raisedAt.Store(&raised)
	load.wait(t)
	answeredAll := time.Since(raised)
	waitQueuesEmpty(t, rdb, bot, 30*time.Second)
	deliveredAll := time.Since(raised)

	if lost := load.lost(t, bot); len(lost) > 0 {
		t.Errorf("%d events answered 200 never delivered: %q", len(lost), lost)
	}
	refusedAll, by := load.refusals()
	if kinds := slices.Sorted(maps.Keys(by)); !slices.Equal(kinds, []string{"503 store_unavailable"}) {
		t.Errorf("refused tries by answer %v; want 503 store_unavailable only", by)
	}
	if n := len(helpdesk.Requests()); n != 0 {
		t.Errorf("helpdesk got %d requests; want none", n)
	}
	toFirst := time.Duration(-1)
	if f := firstOK.Load(); f != nil {
		toFirst = f.Sub(raised)
	}
	t.Logf("%d events; maxmemory %d (used %d + %d KiB) after %d answers 200; full %s later, after %d; "+
		"%d of the %d acknowledged delivered in %s while full (used %d); %d tries refused while full; "+
		"maxmemory raised: first 200 %s later, all answered %s, all delivered %s; %d refused in all; %d duplicate deliveries",
		contacts*per, limit, used, headroom>>10, atLimit, fillTook.Round(time.Millisecond), atFull,
		deliveredFull, count(backlog), deliveredIn.Round(time.Millisecond), usedFull, refusedFull,
		toFirst.Round(time.Millisecond), answeredAll.Round(time.Millisecond), deliveredAll.Round(time.Millisecond),
		refusedAll, duplicates(bot, load.l.contact, contacts))
}

// count is the number of texts of all contacts.
func count(ok [][]string) (n int) {
	for _, texts := range ok {
		n += len(texts)
	}
	return n
}

// usedMemory is the Redis's used_memory.
func usedMemory(t *testing.T, rdb redis.UniversalClient) int64 {
	t.Helper()
	info, err := rdb.Info(t.Context(), "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	for l := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no used_memory in %q", info)
	return 0
}

// get makes a GET request and returns the answer.
func get(t *testing.T, url string) answer {
	t.Helper()
	a, err := send(&http.Client{Timeout: waitLimit}, http.MethodGet, url, http.Header{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
