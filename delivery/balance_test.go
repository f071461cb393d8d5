package delivery_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookwall/hookwall/blocklist"
	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/hookwall/hookwall/delivery"
	"github.com/hookwall/hookwall/internal/redistest"
	"github.com/hookwall/hookwall/internal/testkit"
	"github.com/redis/go-redis/v9"
)

// TestBalance runs two deliverers on one store: a alone takes every shard;
// once b joins they hold 8 each; once b stops, a takes all 16 again. Messages
// ingested all along are delivered, each contact's in order.
func TestBalance(t *testing.T) {
	redistest.Parallel(t)
	s := newSetup(t)
	bot := testkit.NewTarget(t, "bot", "")
	channels := oneTarget(bot.URL())
	config := func(owner string) delivery.Config {
		cfg := testConfig(owner, channels)
		cfg.LeaseTTL = 600 * time.Millisecond
		return cfg
	}
	const contacts = 16
	contactOf := func(c int) string { return fmt.Sprintf("Ubalance%02d", c) }
	sent := map[string][]string{}
	// round ingests the next message of every contact.
	round := func() {
		msgs := make([]msg, contacts)
		for c := range msgs {
			contact := contactOf(c)
			text := strconv.Itoa(len(sent[contact]))
			sent[contact] = append(sent[contact], text)
			msgs[c] = msg{channel: lineMain, contact: contact, text: text}
		}
		s.ingest(t, msgs...)
	}

	round()
	start(t, config("a"), s.store)
	s.waitLeases(t, round, "a holding all 16 shards alone", func(held map[string]int) bool { return held["a"] == 16 })
	b := start(t, config("b"), s.store)
	s.waitLeases(t, round, "a and b holding 8 shards each", func(held map[string]int) bool {
		return held["a"] == 8 && held["b"] == 8
	})
	b.stop(t)
	s.waitLeases(t, round, "a holding all 16 shards after b stopped", func(held map[string]int) bool { return held["a"] == 16 })
	round()

	// Every message reaches the bot, each contact's first deliveries in the
	// order ingested.
	bot.WaitUntil(t, deadline, "every message", func() bool {
		got := delivered(bot)
		for contact, want := range sent {
			if len(firstOrder(got[contact])) < len(want) {
				return false
			}
		}
		return true
	})
	got, n := delivered(bot), 0
	for contact, want := range sent {
		n += len(want)
		if first := firstOrder(got[contact]); !slices.Equal(first, want) {
			t.Errorf("%s: first deliveries %v, want %v", contact, first, want)
		}
	}
	t.Logf("%d messages, %d requests", n, len(bot.Requests()))
}

// delivered returns the texts the target accepted, by contact, in arrival
// order.
func delivered(ft *testkit.Target) map[string][]string {
	out := map[string][]string{}
	for _, r := range ft.Delivered() {
		out[r.Env.Contact] = append(out[r.Env.Contact], r.Env.Text())
	}
	return out
}

// firstOrder returns the values in order of their first occurrence.
func firstOrder(vs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range vs {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// leases returns how many shard leases each owner holds.
func (s *setup) leases(t *testing.T) map[string]int {
	t.Helper()
	keys, err := redistest.Keys(t.Context(), s.rdb, "hw:{*}:lease")
	if err != nil {
		t.Fatalf("listing the lease keys: %v", err)
	}
	held := map[string]int{}
	for _, k := range keys {
		owner, err := s.rdb.Get(t.Context(), k).Result()
		if err == redis.Nil {
			continue // released or expired since it was listed
		}
		if err != nil {
			t.Fatalf("reading lease %s: %v", k, err)
		}
		held[owner]++
	}
	return held
}

// waitLeases polls the lease keys every 50ms, calling between after each
// poll, until cond holds of the number of leases each owner holds; it fails
// the test after the deadline.
func (s *setup) waitLeases(t *testing.T, between func(), what string, cond func(held map[string]int) bool) {
	t.Helper()
	limit := time.Now().Add(deadline)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		held := s.leases(t)
		if cond(held) {
			return
		}
		if time.Now().After(limit) {
			t.Fatalf("no %s within %s; held: %s", what, deadline, formatHeld(held))
		}
		<-tick.C
		between()
	}
}

func formatHeld(held map[string]int) string {
	owners := make([]string, 0, len(held))
	total := 0
	for o, n := range held {
		owners = append(owners, o)
		total += n
	}
	sort.Strings(owners)
	var b strings.Builder
	for _, o := range owners {
		fmt.Fprintf(&b, "%s %d, ", o, held[o])
	}
	fmt.Fprintf(&b, "%d of %d", total, store.Buckets)
	return b.String()
}

// TestBalanceClockSkew runs b on a host whose clock is two seconds behind
// a's, more than the lease TTL: the shards must still spread, 8 each. Leases
// expire on the Redis server's clock; the replicas' registrations must too.
func TestBalanceClockSkew(t *testing.T) {
	redistest.Parallel(t)
	s := newSetup(t)
	behind, err := blocklist.New(blocklist.Config{
		DefaultEnabled: true,
		Channels: map[string]store.ChannelInfo{
			lineMain: {Type: "line", Bot: true, DedupeWindow: time.Hour},
			waMain:   {Type: "whatsapp", DedupeWindow: time.Hour},
		},
		Now: func() time.Time { return time.Now().Add(-2 * time.Second) },
	}, s.rdb)
	if err != nil {
		t.Fatalf("blocklist.New: %v", err)
	}
	bot := testkit.NewTarget(t, "bot", "")
	channels := oneTarget(bot.URL())
	config := func(owner string) delivery.Config {
		cfg := testConfig(owner, channels)
		cfg.LeaseTTL = 600 * time.Millisecond
		return cfg
	}
	start(t, config("a"), s.store)
	s.waitLeases(t, func() {}, "a holding all 16 shards alone", func(held map[string]int) bool { return held["a"] == 16 })
	start(t, config("b"), behind)
	s.waitLeases(t, func() {}, "a and b holding 8 shards each with b's clock 2s behind", func(held map[string]int) bool {
		return held["a"] == 8 && held["b"] == 8
	})
}

// watchedQueue is a store as a deliverer's Queue that reports the reads of
// one shard: when one of new entries begins, and what every one returned.
// A read of new entries runs on when the deliverer stops meanwhile, as one
// go-redis has sent already does: once begun, it is outstanding for up to
// its block, whenever the stop comes. When gate is set, a read of new
// entries waits for it to be closed before it goes to the store.
type watchedQueue struct {
	*blocklist.Store
	shard    int
	gate     chan struct{}
	started  chan struct{}
	returned chan shardRead
}

// shardRead is what one read of the shard returned.
type shardRead struct {
	ds   []store.Delivery
	held bool
}

// of reports whether the read returned an entry of contact.
func (r shardRead) of(contact string) bool {
	return slices.ContainsFunc(r.ds, func(d store.Delivery) bool { return d.Contact == contact })
}

func newWatchedQueue(store *blocklist.Store, shard int) *watchedQueue {
	return &watchedQueue{Store: store, shard: shard, started: make(chan struct{}, 1), returned: make(chan shardRead, 1000)}
}

func (q *watchedQueue) ReadShard(ctx context.Context, shard int, owner string, count int, block time.Duration, pending bool) ([]store.Delivery, bool, error) {
	if shard != q.shard {
		return q.Store.ReadShard(ctx, shard, owner, count, block, pending)
	}
	if !pending {
		select {
		case q.started <- struct{}{}:
		default:
		}
		if q.gate != nil {
			select {
			case <-q.gate:
			case <-ctx.Done():
				return nil, false, ctx.Err()
			}
		}
		ctx = context.WithoutCancel(ctx)
	}
	ds, held, err := q.Store.ReadShard(ctx, shard, owner, count, block, pending)
	select {
	case q.returned <- shardRead{ds: ds, held: held}:
	default:
	}
	return ds, held, err
}

// nextRead waits for the next read of the shard's new entries to begin.
func (q *watchedQueue) nextRead(t *testing.T, who string) {
	t.Helper()
	select {
	case <-q.started: // one that began a while ago
	default:
	}
	select {
	case <-q.started:
	case <-time.After(deadline):
		t.Fatalf("%s does not read the shard", who)
	}
}

// TestHandoverOrder stops a just after its blocking read of a shard's new
// entries began, and starts b, which takes the shard over once a's lease has
// lapsed, while a's read is still outstanding. b's first read of new entries
// is held back while a contact's message m1 is queued: it wakes a's read,
// which must not take m1 — a, stopping, would not deliver it, and b would
// deliver the contact's next message m2 first. The contact's first
// deliveries must be m1, then m2, and no read of a's may return either.
func TestHandoverOrder(t *testing.T) {
	redistest.Parallel(t)
	s := newSetup(t)
	bot := testkit.NewTarget(t, "bot", "")
	channels := oneTarget(bot.URL())
	config := func(owner string) delivery.Config {
		cfg := testConfig(owner, channels)
		cfg.LeaseTTL = 60 * time.Millisecond
		return cfg
	}
	const contact = "Uhandover"
	shard := store.BucketOf(lineMain, contact)
	qa, qb := newWatchedQueue(s.store, shard), newWatchedQueue(s.store, shard)
	qb.gate = make(chan struct{})
	a := start(t, config("a"), qa)
	s.waitLeases(t, func() {}, "a holding all 16 shards", func(held map[string]int) bool { return held["a"] == 16 })
	qa.nextRead(t, "a")
	a.cancel() // a's read has just begun: it stays outstanding for up to its block
	b := start(t, config("b"), qb)
	qb.nextRead(t, "b") // b holds the lease (a's has lapsed) and waits at the gate
	s.ingest(t, msg{channel: lineMain, contact: contact, text: "m1"})
	a.stop(t) // a's outstanding read has returned
	for len(qa.returned) > 0 {
		if rd := <-qa.returned; rd.of(contact) {
			t.Fatalf("a read m1 of %s after b took the shard's lease", contact)
		}
	}
	close(qb.gate)
	s.ingest(t, msg{channel: lineMain, contact: contact, text: "m2"})
	var got []string
	bot.WaitUntil(t, deadline, "m1 and m2 of "+contact, func() bool {
		got = nil
		for _, r := range bot.Requests() {
			if r.Env.Contact == contact {
				got = append(got, r.Env.Text())
			}
		}
		return len(firstOrder(got)) >= 2
	})
	if first := firstOrder(got); !slices.Equal(first, []string{"m1", "m2"}) {
		t.Errorf("first deliveries of %s: %v, want m1 then m2", contact, first)
	}
	b.stop(t)
}

// TestLostLeaseReadsNothing gives the shards' leases to b behind a's back,
// as when a's lease lapsed unnoticed (a stalled, its renewals late) and b
// took the shards over: a, running on and waiting for new entries, must
// neither read nor deliver the entries queued after, which b then delivers.
func TestLostLeaseReadsNothing(t *testing.T) {
	redistest.Parallel(t)
	s := newSetup(t)
	botA, botB := testkit.NewTarget(t, "bot", ""), testkit.NewTarget(t, "bot", "")
	config := func(owner string, bot *testkit.Target) delivery.Config {
		cfg := testConfig(owner, oneTarget(bot.URL()))
		// a's first renewal, which would notice the loss too, comes long
		// after the test: only its reads can notice.
		cfg.LeaseTTL = time.Minute
		return cfg
	}
	const contact = "Ulost"
	qa := newWatchedQueue(s.store, store.BucketOf(lineMain, contact))
	a := start(t, config("a", botA), qa)
	s.waitLeases(t, func() {}, "a holding all 16 shards", func(held map[string]int) bool { return held["a"] == 16 })
	qa.nextRead(t, "a")
	ctx := t.Context()
	keys, err := redistest.Keys(ctx, s.rdb, "hw:{*}:lease")
	if err != nil {
		t.Fatalf("listing the lease keys: %v", err)
	}
	for _, k := range keys {
		if err := s.rdb.Set(ctx, k, "b", 0).Err(); err != nil {
			t.Fatalf("taking lease %s: %v", k, err)
		}
	}
	s.ingest(t, msg{channel: lineMain, contact: contact, text: "m1"}, msg{channel: lineMain, contact: contact, text: "m2"})
	timeout := time.After(deadline)
	for refused := false; !refused; {
		select {
		case rd := <-qa.returned:
			if rd.of(contact) {
				t.Fatalf("a read an entry of %s after its lease was taken", contact)
			}
			refused = !rd.held
		case <-timeout:
			t.Fatal("no read of a's found its lease taken")
		}
	}
	a.stop(t)
	for _, r := range botA.Requests() {
		if r.Env.Contact == contact {
			t.Errorf("a delivered %q of %s after its lease was taken", r.Env.Text(), contact)
		}
	}
	start(t, config("b", botB), s.store)
	var got []string
	for _, r := range botB.WaitDelivered(t, 2) {
		got = append(got, r.Env.Text())
	}
	if !slices.Equal(got, []string{"m1", "m2"}) {
		t.Errorf("b delivered %v, want m1 then m2", got)
	}
}
