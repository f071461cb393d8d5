package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookwall/hookwall/internal/redistest"
	"github.com/hookwall/hookwall/internal/testkit"
	"github.com/redis/go-redis/v9"
)

// TestSentinelFailover SIGKILLs the Redis master in the middle of a load of
// webhooks; the Sentinel promotes one of its two replicas and hookwall
// follows. Just before the kill the replicas fall behind: they are paused
// (SIGSTOP) and the master drops their links while the load goes on; then
// the master is killed and they go on (SIGCONT), so the master dies holding
// writes no replica has — what an asynchronous replica's lag makes likely
// under load, made certain. With
// redis.ack_replicas 1, those writes were never acknowledged (503, the
// platform retries), and every event answered 200 is delivered, in order
// per contact. Without it they were answered 200 and are lost: the second
// run checks that some are, which is why the setting exists, and that what
// it delivers is in order.
//
// It builds its own topology, so it runs once, in the Sentinel pass of
// ./scripts/test.
func TestSentinelFailover(t *testing.T) {
	redistest.OnlyIn(t, "sentinel")
	t.Run("ack_replicas 1 loses nothing", func(t *testing.T) {
		r := failoverUnderLoad(t, 1)
		if len(r.lost) > 0 {
			t.Errorf("%d of %d events answered 200 never delivered: %q", len(r.lost), r.answered, r.lost)
		}
	})
	t.Run("ack_replicas 0 loses what the replicas lacked", func(t *testing.T) {
		r := failoverUnderLoad(t, 0)
		if len(r.lost) == 0 {
			t.Errorf("no event of %d lost without ack_replicas, though the master died ahead of its replicas", r.answered)
		}
	})
}

type failoverRun struct {
	answered int
	lost     []string
}

// failoverUnderLoad posts contacts × per LINE messages, each contact's in
// turn as LINE sends them, retrying what is refused as LINE does; a quarter
// of the way it makes the replicas fall behind and kills the master, and at
// the end it waits until the new master's delivery queue is empty. It fails t when a delivery
// is out of order or was never answered 200, and returns what was answered
// 200 and never delivered.
func failoverUnderLoad(t *testing.T, ackReplicas int) failoverRun {
	const (
		contacts = 20
		per      = 60
		killAt   = contacts * per / 4
	)
	f := redistest.StartFailover(t, 2)
	bin := hookwallBinary(t)
	bot := testkit.NewTarget(t, "bot", botKey)
	helpdesk := testkit.NewTarget(t, "helpdesk", helpdeskKey)
	redisYAML := f.ConfigYAML()
	if ackReplicas > 0 {
		redisYAML += fmt.Sprintf("  ack_replicas: %d\n  ack_timeout: 500ms\n", ackReplicas)
	}
	p := startProcess(t, bin, t.TempDir(), "failover", configData{
		Redis: redisYAML, BotURL: bot.URL(), HelpdeskURL: helpdesk.URL(), MaxAttempts: 1000, LeaseTTL: "1s",
	})
	oldMaster := f.Master.Addr

	contactOf := func(c int) string { return fmt.Sprintf("Ufailover%02d", c) }
	textOf := func(c, i int) string { return fmt.Sprintf("%s-%03d", contactOf(c), i) }
	var (
		answered atomic.Int64
		kill     = make(chan struct{})
		paused   atomic.Bool
		inPause  atomic.Int64 // answers to requests sent while the replicas lag
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
						inPause.Add(1)
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
	for _, r := range f.Replicas {
		r.Pause()
	}
	// The master drops its replicas' links; paused, they cannot come back:
	// what the master takes from now on, no replica has.
	mc := redis.NewClient(&redis.Options{Addr: oldMaster})
	if err := mc.ClientKillByFilter(t.Context(), "TYPE", "replica").Err(); err != nil {
		t.Fatal(err)
	}
	_ = mc.Close()
	paused.Store(true)
	// As many answers to requests sent while the replicas lag as there are
	// posters (with ack_replicas, each poster's 503 after the timeout;
	// without, 200s).
	for deadline := time.Now().Add(60 * time.Second); inPause.Load() < contacts; {
		if time.Now().After(deadline) {
			t.Fatalf("%d answers in 60s while the replicas are paused", inPause.Load())
		}
		waitChange(t.Context(), bot, 10*time.Millisecond)
	}
	f.Master.Stop() // SIGKILL
	killed := time.Now()
	for _, r := range f.Replicas {
		r.Resume()
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		addr, err := f.MasterAddr(t.Context())
		if err == nil && addr != oldMaster {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sentinel promoted no replica in 30s: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // polling a state change, bounded by the deadline
	}
	promoted := time.Since(killed)
	wg.Wait()
	for _, p := range problems {
		t.Error(p)
	}
	if t.Failed() {
		t.FailNow()
	}

	// Everything the new master holds is delivered once its queue is empty.
	waitQueuesEmpty(t, f.Client(), bot, 60*time.Second)
	r := failoverRun{answered: int(answered.Load()), lost: lostInOrder(t, bot, contactOf, ok)}
	t.Logf("ack_replicas %d: %d answered 200, master killed after %d, replica promoted %s later, %d lost",
		ackReplicas, r.answered, killAt, promoted.Round(time.Millisecond), len(r.lost))
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
