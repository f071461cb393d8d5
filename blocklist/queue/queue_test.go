package queue_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookwall/hookwall/blocklist/internal/storetest"

	"github.com/hookwall/hookwall/blocklist"
	"github.com/hookwall/hookwall/blocklist/decision"
	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/hookwall/hookwall/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// deadline bounds every wait of a queue test: reaching it is a failure.
const deadline = 10 * time.Second

// queueContact is the contact whose messages the queue tests queue.
const queueContact = "Uqueue"

// queueShard is queueContact's shard.
var queueShard = store.BucketOf("line-main", queueContact)

// newQueue is a store whose queues exist, on a fresh Redis.
func newQueue(t *testing.T) (*blocklist.Store, redis.UniversalClient) {
	t.Helper()
	rdb := redistest.StartTopology(t).Client()
	s := storetest.NewStore(t, rdb, true)
	if err := s.EnsureQueues(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s, rdb
}

// enqueue ingests messages of queueContact, one per text, and returns their
// envelope ids in the order queued.
func enqueue(t *testing.T, s *blocklist.Store, texts ...string) []string {
	t.Helper()
	var ids []string
	for _, text := range texts {
		out, err := s.Ingest(t.Context(), []decision.Event{{
			Channel: "line-main", Contact: queueContact, ID: "ev-" + text, Type: "message",
			Message:    json.RawMessage(fmt.Sprintf(`{"id":"m","type":"text","text":%q}`, text)),
			ReceivedAt: time.Now(), Raw: json.RawMessage(`{}`),
		}})
		if err != nil || out[0].Decision != decision.Forwarded {
			t.Fatalf("ingest %s: %+v %v", text, out, err)
		}
		ids = append(ids, out[0].Envelope)
	}
	return ids
}

func lease(t *testing.T, s *blocklist.Store, owner string) {
	t.Helper()
	if ok, err := s.AcquireLease(t.Context(), queueShard, owner, time.Minute); err != nil || !ok {
		t.Fatalf("AcquireLease %s = %v, %v", owner, ok, err)
	}
}

// read reads the shard as owner and fails the test unless owner holds it.
func read(t *testing.T, s *blocklist.Store, owner string, block time.Duration, pending bool) []string {
	t.Helper()
	ds, held, err := s.ReadShard(t.Context(), queueShard, owner, 100, block, pending)
	if err != nil || !held {
		t.Fatalf("ReadShard %s (pending %v) = held %v, %v", owner, pending, held, err)
	}
	return envelopes(ds)
}

func envelopes(ds []store.Delivery) []string {
	var ids []string
	for _, d := range ds {
		ids = append(ids, d.ID)
	}
	return ids
}

// queueKey finds the shard's stream, the only one holding entries.
func queueKey(t *testing.T, rdb redis.UniversalClient) string {
	t.Helper()
	keys, err := redistest.Keys(t.Context(), rdb, "hw:{*}:queue")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if n, err := rdb.XLen(t.Context(), k).Result(); err == nil && n > 0 {
			return k
		}
	}
	t.Fatal("no stream holds entries")
	return ""
}

// TestReadShardNeedsLease checks that only the lease holder reads a shard:
// a read by another replica, waiting or not, takes nothing, and the entries
// go to the next holder, in the order queued.
func TestReadShardNeedsLease(t *testing.T) {
	s, _ := newQueue(t)
	ctx := t.Context()
	ids := enqueue(t, s, "m1", "m2", "m3")
	lease(t, s, "a")
	for _, pending := range []bool{false, true} {
		ds, held, err := s.ReadShard(ctx, queueShard, "b", 100, 0, pending)
		if err != nil || held || len(ds) > 0 {
			t.Fatalf("non-holder read (pending %v) = %d entries, held %v, %v; want none, not held", pending, len(ds), held, err)
		}
	}
	refused := make(chan bool, 1)
	go func() {
		_, held, _ := s.ReadShard(ctx, queueShard, "b", 100, time.Hour, false)
		refused <- !held
	}()
	select {
	case ok := <-refused:
		if !ok {
			t.Fatal("a non-holder's waiting read reports holding the lease")
		}
	case <-time.After(deadline):
		t.Fatal("a non-holder's read waits for entries")
	}
	if err := s.ReleaseLease(ctx, queueShard, "a"); err != nil {
		t.Fatal(err)
	}
	lease(t, s, "b")
	if got := read(t, s, "b", 0, false); !slices.Equal(got, ids) {
		t.Fatalf("holder read %v, want %v", got, ids)
	}
}

// TestReadShardPending checks that a pending read returns the entries read
// and not acknowledged, in order, and that an entry deleted after it was
// read leaves the pending list instead of being returned.
func TestReadShardPending(t *testing.T) {
	s, rdb := newQueue(t)
	ctx := t.Context()
	ids := enqueue(t, s, "m1", "m2", "m3", "m4")
	lease(t, s, "a")
	if got := read(t, s, "a", 0, false); !slices.Equal(got, ids) {
		t.Fatalf("read %v, want %v", got, ids)
	}
	if got := read(t, s, "a", 0, true); !slices.Equal(got, ids) {
		t.Fatalf("pending read %v, want %v", got, ids)
	}
	if got := read(t, s, "a", 0, false); len(got) > 0 {
		t.Fatalf("new read after reading all: %v, want none", got)
	}
	key := queueKey(t, rdb)
	all, err := rdb.XRange(ctx, key, "-", "+").Result()
	if err != nil || len(all) != 4 {
		t.Fatalf("stream holds %d entries (%v), want 4", len(all), err)
	}
	if ok, err := s.Ack(ctx, queueShard, "a", all[0].ID); err != nil || !ok {
		t.Fatalf("Ack = %v, %v", ok, err)
	}
	if err := rdb.XDel(ctx, key, all[2].ID).Err(); err != nil {
		t.Fatal(err)
	}
	if got, want := read(t, s, "a", 0, true), []string{ids[1], ids[3]}; !slices.Equal(got, want) {
		t.Fatalf("pending read after an ack and a deletion: %v, want %v", got, want)
	}
	pel, err := rdb.XPending(ctx, key, "hookwall").Result()
	if err != nil {
		t.Fatal(err)
	}
	if pel.Count != 2 {
		t.Fatalf("pending list holds %d entries, want 2: the deleted one left it", pel.Count)
	}
}

// TestReadShardWaits checks that a read of new entries waits for one when
// there is none, without taking it from the next read: it returns with the
// entry as soon as it is queued (the bound is far from the block, not a
// timing target), and empty once the block is over. Entries read before,
// still in the stream or not, must not end the wait.
func TestReadShardWaits(t *testing.T) {
	for _, tc := range []struct {
		name string
		read int   // entries queued and read before the wait
		ack  []int // which of them are acknowledged (and so deleted)
	}{
		{name: "empty stream"},
		{name: "read and pending", read: 2},
		{name: "read and acknowledged", read: 2, ack: []int{0, 1}},
		{name: "last one acknowledged", read: 2, ack: []int{1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, rdb := newQueue(t)
			ctx := t.Context()
			lease(t, s, "a")
			for i := range tc.read {
				enqueue(t, s, "old"+strconv.Itoa(i))
			}
			if tc.read > 0 {
				read(t, s, "a", 0, false)
				all, err := rdb.XRange(ctx, queueKey(t, rdb), "-", "+").Result()
				if err != nil {
					t.Fatal(err)
				}
				for _, i := range tc.ack {
					if ok, err := s.Ack(ctx, queueShard, "a", all[i].ID); err != nil || !ok {
						t.Fatalf("Ack = %v, %v", ok, err)
					}
				}
			}

			const block = 200 * time.Millisecond
			began := time.Now()
			if got := read(t, s, "a", block, false); len(got) > 0 {
				t.Fatalf("read with nothing new = %v, want none", got)
			}
			if took := time.Since(began); took < block {
				t.Fatalf("read with nothing new returned after %s, before its block of %s", took, block)
			}

			type result struct {
				ids  []string
				held bool
				err  error
			}
			done := make(chan result, 1)
			go func() {
				ds, held, err := s.ReadShard(ctx, queueShard, "a", 100, time.Hour, false)
				done <- result{envelopes(ds), held, err}
			}()
			waitBlocked(t, rdb)
			ids := enqueue(t, s, "m1")
			select {
			case r := <-done:
				if r.err != nil || !r.held || !slices.Equal(r.ids, ids) {
					t.Fatalf("waiting read = %v, held %v, %v; want %v", r.ids, r.held, r.err, ids)
				}
			case <-time.After(deadline):
				t.Fatalf("waiting read did not return within %s of an entry queued", deadline)
			}
		})
	}
}

// waitBlocked waits until a client is blocked on the topology: the read
// that the test started is waiting.
func waitBlocked(t *testing.T, rdb redis.UniversalClient) {
	t.Helper()
	limit := time.Now().Add(deadline)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for blockedClients(t, rdb) == 0 {
		if time.Now().After(limit) {
			t.Fatalf("no client blocked within %s", deadline)
		}
		<-tick.C
	}
}

// blockedClients counts the clients blocked on every master.
func blockedClients(t *testing.T, rdb redis.UniversalClient) int {
	t.Helper()
	count := func(ctx context.Context, c redis.Cmdable) (int, error) {
		info, err := c.Info(ctx, "clients").Result()
		if err != nil {
			return 0, err
		}
		for line := range strings.Lines(info) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "blocked_clients:"); ok {
				return strconv.Atoi(v)
			}
		}
		return 0, fmt.Errorf("no blocked_clients in %q", info)
	}
	ctx := t.Context()
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok {
		n, err := count(ctx, rdb)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	total := 0
	var mu sync.Mutex
	err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		n, err := count(ctx, c)
		mu.Lock()
		total += n
		mu.Unlock()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return total
}
