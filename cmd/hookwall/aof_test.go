package main

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookwall/hookwall/internal/redistest"
	"github.com/hookwall/hookwall/internal/testkit"
)

// TestRedisRestartOnAOF SIGKILLs Redis in the middle of a load of webhooks
// and starts it again on its directory, while the posters go on and send
// again what is refused, as LINE does. Before the kill a stand-in replica
// takes every delivery shard's lease, so hookwall reads nothing more: the
// events it acknowledges from then on are held by Redis alone — what a
// delivery backlog (a slow bot, a replica that just died) makes likely, made
// certain. With appendonly yes and appendfsync always, every event answered
// 200 is delivered, in order per contact. Without the append-only file the
// backlog is lost: the second run checks that it is, which is what the
// setting is for.
//
// A SIGKILL leaves what Redis wrote to its file in the kernel's page cache,
// so appendfsync everysec or no would pass as well: only a power loss or a
// kernel crash tells them apart (README, "Persistence").
func TestRedisRestartOnAOF(t *testing.T) {
	redistest.OnlyIn(t, "single")
	t.Parallel()
	t.Run("appendfsync always loses nothing", func(t *testing.T) {
		t.Parallel()
		r := redisRestartUnderLoad(t, "--appendonly", "yes", "--appendfsync", "always")
		if len(r.lost) > 0 {
			t.Errorf("%d of %d events answered 200 never delivered: %q", len(r.lost), r.answered, r.lost)
		}
	})
	t.Run("without AOF the backlog is lost", func(t *testing.T) {
		t.Parallel()
		r := redisRestartUnderLoad(t, "--appendonly", "no")
		if len(r.lost) < r.backlog {
			t.Errorf("%d events lost without AOF, want at least the %d acknowledged while only Redis held them", len(r.lost), r.backlog)
		}
	})
}

type restartRun struct {
	answered int
	// backlog counts the events answered 200 before the kill whose
	// requests were sent after the stand-in took the shards: hookwall never
	// read them before Redis died.
	backlog int
	lost    []string
}

// redisRestartUnderLoad runs the load of TestRedisRestartOnAOF on a Redis
// started with args, and returns what was answered 200 and never delivered.
// It fails t when a delivery is out of order or was never answered 200.
func redisRestartUnderLoad(t *testing.T, args ...string) restartRun {
	const (
		contacts = 20
		per      = 50
		takeAt   = contacts * per / 3
	)
	srv := redistest.Start(t, args...)
	bin := hookwallBinary(t)
	bot := testkit.NewTarget(t, "bot", botKey)
	helpdesk := testkit.NewTarget(t, "helpdesk", helpdeskKey)
	p := startProcess(t, bin, t.TempDir(), "aof", configData{
		RedisURL: srv.URL(), BotURL: bot.URL(), HelpdeskURL: helpdesk.URL(), MaxAttempts: 1000, LeaseTTL: "1s",
	})

	var (
		takenAt atomic.Pointer[time.Time]
		killed  atomic.Bool
		backlog atomic.Int64
		take    = make(chan struct{})
		backed  = make(chan struct{})
	)
	load := (&lineLoad{
		Name: "aof", Contacts: contacts, Per: per,
		Base: func() string { return p.base },
		// Refused (503) while Redis is down: LINE sends it again a little
		// later.
		Backoff: 20 * time.Millisecond, GiveUp: 30 * time.Second,
		OnOK: func(n int64, sent time.Time) {
			if n == takeAt {
				close(take)
			}
			// Answered before the kill, sent after the takeover: an
			// answer that comes as the kill is made is not counted, so
			// this may count fewer, never more.
			if at := takenAt.Load(); at != nil && sent.After(*at) && !killed.Load() {
				if backlog.Add(1) == contacts {
					close(backed)
				}
			}
		},
	}).start(t)

	select {
	case <-take:
	case <-time.After(30 * time.Second):
		t.Fatal("no load before the takeover")
	}
	rdb := srv.Client()
	takeShards(t, rdb)
	now := time.Now()
	takenAt.Store(&now)
	select {
	case <-backed:
	case <-time.After(30 * time.Second):
		t.Fatalf("%d events answered 200 in 30s after the takeover", backlog.Load())
	}
	killed.Store(true)
	atKill := load.answered.Load()
	srv.Stop() // SIGKILL
	down := time.Now()
	srv.Restart()
	restarted := time.Since(down)
	// The stand-in lets go: hookwall takes the shards again.
	rdb = srv.Client()
	releaseShards(t, rdb)
	load.wait(t)
	waitQueuesEmpty(t, rdb, bot, 30*time.Second)

	r := restartRun{answered: int(load.answered.Load()), backlog: int(backlog.Load()), lost: load.lost(t, bot)}
	refused, by := load.refusals()
	t.Logf("%s: %d events; Redis killed after %d answers 200, %d of them after the takeover; back %s later; %d tries refused %v; %d lost; %d duplicate deliveries; all delivered %s after the kill",
		args, r.answered, atKill, r.backlog, restarted.Round(time.Millisecond), refused, by, len(r.lost),
		duplicates(bot, load.l.contact, contacts), time.Since(down).Round(time.Millisecond))
	if n := len(helpdesk.Requests()); n != 0 {
		t.Errorf("helpdesk got %d requests; want none", n)
	}
	return r
}
