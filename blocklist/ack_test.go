package blocklist_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
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
// only once the replica has its writes; with the replica lagging it fails as
// unavailable (the webhook answers 503 and the platform retries), its retry
// too; with the replica gone so do the admin writes, which go through the
// same executor.
func TestAckReplicas(t *testing.T) {
	redistest.Parallel(t)
	master, replicas := redistest.StartReplicated(t, 1)
	replica := replicas[0]
	rdb, rrdb := master.Client(), replica.Client()
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

	// A replica that lags, its link up: a decision it does not confirm in
	// time answers 503, and so does the platform's retry of it, though the
	// retry is a duplicate: the first try's writes stand on the master
	// alone until the replica has them.
	// The retry reaches another hookwall replica, on connections of its
	// own: WAIT counts only the writes of the connection it runs on.
	lagged := []decision.Event{storetest.TextEvent("line-main", "Uack", "ev-ack-lag", "lagging")}
	replica.Pause()
	for _, try := range []string{"first try", "retry at another hookwall"} {
		other := ackStore(t, master.Client(), 1, 300*time.Millisecond)
		if _, err := other.Ingest(ctx, lagged); !errors.Is(err, store.ErrUnavailable) {
			replica.Resume()
			t.Fatalf("%s while the replica lags: %v; want ErrUnavailable", try, err)
		}
	}
	replica.Resume()
	if out, err := s.Ingest(ctx, lagged); err != nil || out[0].Decision != decision.Duplicate {
		t.Fatalf("retry once the replica is back: %+v, %v; want an acknowledged duplicate", out, err)
	}
	lagMarker := store.KeysOf("line-main", "Uack").Dedupe("line-main", "ev-ack-lag")
	if n, err := rrdb.Exists(ctx, lagMarker).Result(); err != nil || n != 1 {
		t.Fatalf("the replica has the acknowledged duplicate's marker: %d, %v; want 1", n, err)
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

// TestAckReplicasCluster: on a Cluster each master's writes wait for that
// master's replica (one WAIT per master). Decisions for contacts in every
// bucket, hence on every master, succeed with ack_replicas 1 and are on the
// replica of their master when they answer. With one master's replica
// paused, the decisions on that master's slots fail as unavailable and the
// others, sent at the same time and so in the same shared pipelines, still
// succeed: a replica's trouble costs only its master's share of the traffic.
//
// It builds its own Cluster, so it runs once, in the Cluster pass of
// ./scripts/test.
func TestAckReplicasCluster(t *testing.T) {
	redistest.OnlyIn(t, "cluster")
	c := redistest.StartReplicatedCluster(t)
	rdb := c.Client()
	ctx := t.Context()
	// One contact per bucket: the buckets' slots spread over the masters.
	contacts := make([]string, store.Buckets)
	for k := 0; slices.Contains(contacts, ""); k++ {
		co := fmt.Sprintf("Uackc%d", k)
		if b := store.BucketOf("line-main", co); contacts[b] == "" {
			contacts[b] = co
		}
	}
	masterOf := func(co string) int { return c.MasterOf(store.KeysOf("line-main", co).Tag) }
	// ingestAll ingests an event of each contact at once, each its own
	// request, and returns each one's error.
	ingestAll := func(s *blocklist.Store, id string) []error {
		errs := make([]error, len(contacts))
		var wg sync.WaitGroup
		for i, co := range contacts {
			wg.Go(func() {
				_, errs[i] = s.Ingest(ctx, []decision.Event{storetest.TextEvent("line-main", co, id+co, "hi")})
			})
		}
		wg.Wait()
		return errs
	}

	// The longest wait for the replicas, however loaded the machine.
	errs := ingestAll(ackStore(t, rdb, 1, store.MaxAckTimeout), "ev-up-")
	on := make([]int, len(c.Masters))
	for i, co := range contacts {
		m := masterOf(co)
		on[m]++
		if errs[i] != nil {
			t.Errorf("ingest for %s (master %d) with every replica up: %v", co, m, errs[i])
			continue
		}
		// Acknowledged means on the replica of its master, now.
		marker := store.KeysOf("line-main", co).Dedupe("line-main", "ev-up-"+co)
		if n, err := c.ReadReplica(m).Exists(ctx, marker).Result(); err != nil || n != 1 {
			t.Errorf("the replica of master %d has the acknowledged marker of %s: %d, %v; want 1", m, co, n, err)
		}
	}
	if slices.Contains(on, 0) {
		t.Fatalf("contacts per master %v: want every master", on)
	}
	if t.Failed() {
		t.FailNow()
	}

	const lagging = 1
	c.Replicas[lagging].Pause()
	defer c.Replicas[lagging].Resume()
	// The healthy replicas answer within a second however loaded the machine.
	errs = ingestAll(ackStore(t, rdb, 1, time.Second), "ev-lag-")
	for i, co := range contacts {
		switch m := masterOf(co); {
		case m == lagging && (!errors.Is(errs[i], store.ErrUnavailable) || !strings.Contains(errs[i].Error(), "0 of 1 replicas")):
			t.Errorf("ingest for %s on the master whose replica is paused: %v; want ErrUnavailable saying 0 of 1 replicas", co, errs[i])
		case m != lagging && errs[i] != nil:
			t.Errorf("ingest for %s on master %d, whose replica is up: %v", co, m, errs[i])
		}
	}
}
