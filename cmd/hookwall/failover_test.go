package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/hookwall/hookwall/internal/redistest"
	"github.com/hookwall/hookwall/internal/testkit"
	"github.com/redis/go-redis/v9"
)

// TestSentinelFailover SIGKILLs the Redis master in the middle of a load of
// webhooks; the Sentinel promotes one of its two replicas and hookwall
// follows (testFailover).
//
// It builds its own topology, so it runs once, in the Sentinel pass of
// ./scripts/test.
func TestSentinelFailover(t *testing.T) {
	redistest.OnlyIn(t, "sentinel")
	testFailover(t, func(t *testing.T) failoverSetup {
		f := redistest.StartFailover(t, 2)
		oldMaster := f.Master.Addr
		return failoverSetup{
			redis: f.ConfigYAML(), master: f.Master, replicas: f.Replicas,
			serves: func(string) bool { return true },
			waitPromoted: func(t *testing.T) {
				deadline := time.Now().Add(30 * time.Second)
				for {
					addr, err := f.MasterAddr(t.Context())
					if err == nil && addr != oldMaster {
						return
					}
					if time.Now().After(deadline) {
						t.Fatalf("the sentinel promoted no replica in 30s: %v", err)
					}
					time.Sleep(50 * time.Millisecond) // polling a state change, bounded by the deadline
				}
			},
			client: f.Client,
		}
	})
}

// TestClusterFailover SIGKILLs, in the middle of a load of webhooks from
// contacts of every bucket, the Cluster master that serves the busiest
// bucket; the cluster promotes its replica and hookwall follows
// (testFailover). The other masters, and their contacts, go on.
//
// It builds its own Cluster, so it runs once, in the Cluster pass of
// ./scripts/test.
func TestClusterFailover(t *testing.T) {
	redistest.OnlyIn(t, "cluster")
	testFailover(t, func(t *testing.T) failoverSetup {
		c := redistest.StartReplicatedCluster(t)
		// failoverContacts puts two contacts in bucket 0, the most.
		m := c.MasterOf(store.KeysOfBucket(0).Tag)
		return failoverSetup{
			redis: c.ConfigYAML(), master: c.Masters[m], replicas: c.Replicas[m : m+1],
			serves:       func(contact string) bool { return c.MasterOf(store.KeysOf("line-main", contact).Tag) == m },
			waitPromoted: func(t *testing.T) { c.WaitPromoted(t, m, 30*time.Second) },
			// The promoted replica has no replica: until a new node
			// replaces the old master as one, ack_replicas 1 refuses its
			// slots' writes. The new node has a new address: hookwall
			// must learn the new map of the cluster, not wait for the
			// old master to come back.
			replace: func(t *testing.T) { c.ReplaceMaster(t, m, 30*time.Second) },
			client:  c.Client,
		}
	})
}

// testFailover runs a load of webhooks on a Redis whose master, in the
// middle, dies after its replicas fell behind (failoverUnderLoad): they are
// paused (SIGSTOP) and the master drops their links while the load goes on,
// the bot holding its answers meanwhile; then the master is killed and they
// go on (SIGCONT), so the master dies holding writes no replica has and
// hookwall has not delivered — what an asynchronous replica's lag makes
// likely under load, made certain. With redis.ack_replicas 1, those writes
// were never acknowledged (503, the platform retries), and every event
// answered 200 is delivered, in order per contact. Without it they were
// answered 200 and are lost: the second run checks that some are, which is
// why the setting exists, and that what it delivers is in order. start
// starts a fresh Redis for each run.
func testFailover(t *testing.T, start func(*testing.T) failoverSetup) {
	t.Run("ack_replicas 1 loses nothing", func(t *testing.T) {
		r := failoverUnderLoad(t, start(t), 1)
		if len(r.lost) > 0 {
			t.Errorf("%d of %d events answered 200 never delivered: %q", len(r.lost), r.answered, r.lost)
		}
	})
	t.Run("ack_replicas 0 loses what the replicas lacked", func(t *testing.T) {
		r := failoverUnderLoad(t, start(t), 0)
		if len(r.lost) == 0 {
			t.Errorf("no event of %d lost without ack_replicas, though the master died ahead of its replicas", r.answered)
		}
	})
}

// failoverSetup is the Redis a failover test runs hookwall on, and the
// master it kills.
type failoverSetup struct {
	// redis is the config's redis section, without the ack settings.
	redis string
	// master is the master to kill; replicas are its replicas.
	master   *redistest.Server
	replicas []*redistest.Server
	// serves reports whether master takes the contact's writes.
	serves func(contact string) bool
	// waitPromoted waits until a replica has taken master's place.
	waitPromoted func(t *testing.T)
	// replace, if set, starts a new node in place of master after the
	// promotion and waits until it replicates the new master.
	replace func(t *testing.T)
	// client returns a new client of the Redis.
	client func() redis.UniversalClient
}

type failoverRun struct {
	answered int
	lost     []string
}

// failoverContacts returns n contact names, the i-th in bucket i mod
// store.Buckets: a load from them falls on every bucket, hence on every
// master of a Cluster.
func failoverContacts(n int) []string {
	contacts := make([]string, n)
	k := 0
	for i := range contacts {
		for ; ; k++ {
			co := fmt.Sprintf("Ufailover%03d", k)
			if store.BucketOf("line-main", co) == i%store.Buckets {
				contacts[i] = co
				break
			}
		}
	}
	return contacts
}

// failoverProbe returns a contact of contact's bucket that is none of
// failoverContacts'.
func failoverProbe(contact string) string {
	for k := 0; ; k++ {
		co := fmt.Sprintf("Ufailover-probe%d", k)
		if store.BucketOf("line-main", co) == store.BucketOf("line-main", contact) {
			return co
		}
	}
}

// failoverUnderLoad posts contacts × per LINE messages, each contact's in
// turn as LINE sends them, retrying what is refused as LINE does; a quarter
// of the way it makes the replicas of s.master fall behind and kills it,
// and at the end it waits until the delivery queues are empty. It fails t
// when a write on the dead master's slots is still refused 15 s after the
// new master could take it, or a delivery is out of order or was never
// answered 200, and returns what was answered 200 and never delivered.
func failoverUnderLoad(t *testing.T, s failoverSetup, ackReplicas int) failoverRun {
	const (
		contacts = 20
		per      = 60
		killAt   = contacts * per / 4
	)
	bin := hookwallBinary(t)
	bot := testkit.NewTarget(t, "bot", botKey)
	helpdesk := testkit.NewTarget(t, "helpdesk", helpdeskKey)
	redisYAML := s.redis
	if ackReplicas > 0 {
		redisYAML += fmt.Sprintf("  ack_replicas: %d\n  ack_timeout: 500ms\n", ackReplicas)
	}
	p := startProcess(t, bin, t.TempDir(), "failover", configData{
		Redis: redisYAML, BotURL: bot.URL(), HelpdeskURL: helpdesk.URL(), MaxAttempts: 1000, LeaseTTL: "1s",
	})
	names := failoverContacts(contacts)
	contactOf := func(c int) string { return names[c] }
	// The contacts whose writes the master to kill takes.
	onMaster, lagging := make([]bool, contacts), 0
	for c, co := range names {
		if onMaster[c] = s.serves(co); onMaster[c] {
			lagging++
		}
	}
	textOf := func(c, i int) string { return fmt.Sprintf("%s-%03d", contactOf(c), i) }
	var (
		answered atomic.Int64
		kill     = make(chan struct{})
		paused   atomic.Bool
		inPause  = make([]atomic.Int64, contacts) // answers to each contact's requests sent while the replicas lag
		wg       sync.WaitGroup
		mu       sync.Mutex
		problems []string
		ok       = make([][]string, contacts)
	)
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: contacts}}
	defer client.CloseIdleConnections()
	for c := range contacts {
		wg.Go(func() {
			for i := range per {
				body := lineBody(t, lineEvent{Contact: contactOf(c), ID: fmt.Sprintf("fo-%02d-%03d", c, i), Text: textOf(c, i)})
				for first := time.Now(); ; {
					sentInPause := paused.Load()
					a, err := postLineRaw(client, p.base, body, "")
					if sentInPause {
						inPause[c].Add(1)
					}
					if err == nil && a.Status == http.StatusOK {
						ok[c] = append(ok[c], textOf(c, i))
						if answered.Add(1) == killAt {
							close(kill)
						}
						break
					}
					if time.Since(first) > time.Minute {
						mu.Lock()
						problems = append(problems, fmt.Sprintf("%s not accepted in a minute: %v %d %s", textOf(c, i), err, a.Status, a.Body))
						mu.Unlock()
						return
					}
					// Refused (503) while the replicas lag or the master is
					// down: LINE sends it again a little later.
					time.Sleep(50 * time.Millisecond) // a platform's retry backoff, not a wait for a state
				}
			}
		})
	}

	select {
	case <-kill:
	case <-time.After(60 * time.Second):
		t.Fatal("no load before the kill")
	}
	// The bot holds its answers from now until the promotion: what the
	// master takes meanwhile is still queued on it, undelivered, when it
	// dies.
	hold := make(chan struct{})
	release := sync.OnceFunc(func() { close(hold) })
	t.Cleanup(release)
	bot.SetAnswer(func(testkit.Request) int {
		<-hold
		return http.StatusOK
	})
	for _, r := range s.replicas {
		r.Pause()
	}
	// The master drops its replicas' links; paused, they cannot come back:
	// what the master takes from now on, no replica has.
	mc := redis.NewClient(&redis.Options{Addr: s.master.Addr})
	if err := mc.ClientKillByFilter(t.Context(), "TYPE", "replica").Err(); err != nil {
		t.Fatal(err)
	}
	_ = mc.Close()
	paused.Store(true)
	// Two answers to each poster whose writes the master takes, to
	// requests sent while the replicas lag (with ack_replicas, 503s after
	// the timeout; without, 200s): the second request's entry waits, in its
	// contact's order, behind the first's, which the bot holds.
	for deadline := time.Now().Add(60 * time.Second); ; {
		short := 0
		for c := range contacts {
			if onMaster[c] && inPause[c].Load() < 2 {
				short++
			}
		}
		if short == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d contacts short of two answers in 60s while the replicas are paused", short)
		}
		time.Sleep(10 * time.Millisecond) // polling a state change, bounded by the deadline
	}
	s.master.Stop() // SIGKILL
	killed := time.Now()
	for _, r := range s.replicas {
		r.Resume()
	}
	s.waitPromoted(t)
	promoted := time.Since(killed)
	// By now hookwall's leases of the dead master's shards have lapsed
	// (lease_ttl 1s): what it had read and not delivered is left to the
	// new master's pending list, which holds only what the replica had.
	release()
	replaced := "not replaced"
	if s.replace != nil {
		s.replace(t)
		replaced = "replaced by a replica in step " + time.Since(killed).Round(time.Millisecond).String() + " after the kill"
	}
	// hookwall follows at once: a write on the dead master's slots is
	// acknowledged soon after the new master can take it, not once a
	// periodic reload (go-redis's: a minute) finds the new map.
	probe := failoverProbe(names[0])
	body := lineBody(t, lineEvent{Contact: probe, ID: "fo-probe", Text: "probe"})
	for ready := time.Now(); ; {
		a, err := postLineRaw(client, p.base, body, "")
		if err == nil && a.Status == http.StatusOK {
			break
		}
		if time.Since(ready) > 15*time.Second {
			t.Fatalf("a write on the new master still refused 15s after it could take it: %v %d %s", err, a.Status, a.Body)
		}
		time.Sleep(50 * time.Millisecond) // a platform's retry backoff, not a wait for a state
	}
	recovered := time.Since(killed)
	wg.Wait()
	for _, p := range problems {
		t.Error(p)
	}
	if t.Failed() {
		t.FailNow()
	}

	// Everything the new master holds is delivered once its queue is empty.
	waitQueuesEmpty(t, s.client(), bot, 60*time.Second)
	r := failoverRun{answered: int(answered.Load()), lost: lostInOrder(t, bot, contactOf, ok)}
	t.Logf("ack_replicas %d: %d answered 200, master killed after %d, %d of %d contacts on it, replica promoted %s later, "+
		"old master %s, writes on it acknowledged again %s after the kill, %d lost",
		ackReplicas, r.answered, killAt, lagging, contacts, promoted.Round(time.Millisecond),
		replaced, recovered.Round(time.Millisecond), len(r.lost))
	return r
}

// waitChange returns when the target receives a request, or after d.
func waitChange(ctx context.Context, target *testkit.Target, d time.Duration) {
	select {
	case <-target.Changed():
	case <-time.After(d):
	case <-ctx.Done():
	}
}
