package blocklist_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hookwall/hookwall/blocklist"
	"github.com/hookwall/hookwall/blocklist/blocks"
	"github.com/hookwall/hookwall/blocklist/decision"
	"github.com/hookwall/hookwall/blocklist/internal/storetest"
	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/hookwall/hookwall/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// ackStore is a store on rdb that acknowledges a write only once replicas
// replicas have it, waiting at most timeout.
func ackStore(t *testing.T, rdb redis.UniversalClient, replicas int, timeout time.Duration) *blocklist.Store {
	t.Helper()
	s, err := blocklist.New(blocklist.Config{
		DefaultEnabled: true, Ack: store.Ack{Replicas: replicas, Timeout: timeout},
		Channels: map[string]store.ChannelInfo{"line-main": {Type: "line", DedupeWindow: time.Hour}},
	}, rdb)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.InitSettings(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestAckReplicas: with a replicated acknowledgement, a decision answers
// only once the replica has its writes; with the replica gone it fails as
// unavailable (the webhook answers 503 and the platform retries), and so do
// the admin writes, which go through the same executor.
func TestAckReplicas(t *testing.T) {
	redistest.Parallel(t)
	master := redistest.Start(t, "--repl-diskless-sync-delay", "0") // the replica syncs at once
	host, port, _ := strings.Cut(master.Addr, ":")
	replica := redistest.Start(t, "--replicaof", host, port)
	rdb, rrdb := master.Client(), replica.Client()
	waitReplicas(t, rdb, 1)
	// The longest wait for the replica's answer, however loaded the machine:
	// an acknowledgement is the replica's, not the timeout's.
	s := ackStore(t, rdb, 1, store.MaxAckTimeout)
	ctx := t.Context()

	ev := storetest.TextEvent("line-main", "Uack", "ev-ack-1", "hello")
	if _, err := s.Ingest(ctx, []decision.Event{ev}); err != nil {
		t.Fatalf("ingest with its replica up: %v", err)
	}
	// Acknowledged means on the replica, now, without waiting.
	marker := store.KeysOf("line-main", "Uack").Dedupe("line-main", "ev-ack-1")
	if n, err := rrdb.Exists(ctx, marker).Result(); err != nil || n != 1 {
		t.Fatalf("the replica has the acknowledged decision's marker: %d, %v; want 1", n, err)
	}

	replica.Stop()
	s = ackStore(t, rdb, 1, 300*time.Millisecond)
	writes := []struct {
		name  string
		write func() error
	}{
		{"ingest", func() error {
			_, err := s.Ingest(ctx, []decision.Event{storetest.TextEvent("line-main", "Uack", "ev-ack-2", "again")})
			return err
		}},
		{"block", func() error {
			_, err := s.Block(ctx, blocks.BlockRequest{Channel: "line-main", Contact: "Uack", Action: blocks.ActionQueue, Actor: "alice"})
			return err
		}},
		{"settings", func() error { return s.SetEnabled(ctx, "root", false) }},
	}
	for _, w := range writes {
		err := w.write()
		if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "0 of 1 replicas") {
			t.Errorf("%s without its replica: %v; want ErrUnavailable saying 0 of 1 replicas", w.name, err)
		}
	}
}

// TestAckReplicasNone: on a topology without replicas (each of the test
// topologies: one server, a Cluster of masters, Sentinel with a master),
// asking for one fails every decision as unavailable — on a Cluster WAIT runs
// on the master of each written slot — and the write it could not confirm
// stays on the master: the platform's retry is a duplicate.
func TestAckReplicasNone(t *testing.T) {
	redistest.Parallel(t)
	rdb := redistest.StartTopology(t).Client()
	s := ackStore(t, rdb, 1, 300*time.Millisecond)
	ctx := t.Context()
	var evs []decision.Event
	for _, co := range []string{"Ua", "Ub", "Uc", "Ud", "Ue", "Uf"} { // several buckets, so several masters
		evs = append(evs, storetest.TextEvent("line-main", co, "ev-"+co, "hi"))
	}
	if out, err := s.Ingest(ctx, evs); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("ingest asking for a replica there is not: %v, %v; want ErrUnavailable", out, err)
	}
	out, err := ackStore(t, rdb, 0, 0).Ingest(ctx, evs)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range out {
		if o.Decision != decision.Duplicate {
			t.Errorf("retry of %s: %s, want duplicate", evs[i].Contact, o.Decision)
		}
	}
}

// waitReplicas waits until the master has n replicas online.
func waitReplicas(t *testing.T, rdb redis.UniversalClient, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		// WAIT answers how many replicas are connected and in step.
		got, err := rdb.Do(t.Context(), "wait", n, 100).Int64()
		if err == nil && got >= int64(n) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d replicas after 10s: %d, %v", n, got, err)
		}
	}
}
