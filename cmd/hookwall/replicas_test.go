package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookwall/hookwall/internal/redistest"
	"github.com/hookwall/hookwall/internal/testkit"
	"github.com/redis/go-redis/v9"
)

// TestReplicas runs three hookwall processes on one Redis (of the topology
// HOOKWALL_TEST_REDIS selects) with one-second shard leases, the way a
// deployment runs replicas behind a load balancer: what one replica
// decides, the others see at once; the 16 delivery shards spread over the
// replicas; and when one is killed the others take its shards over and
// deliver everything it acknowledged.
func TestReplicas(t *testing.T) {
	bin := hookwallBinary(t)
	tp := redistest.StartTopology(t)
	rdb := tp.Client()
	bot := testkit.NewTarget(t, "bot", botKey)
	helpdesk := testkit.NewTarget(t, "helpdesk", helpdeskKey)
	dir := t.TempDir()
	d := configData{
		Redis: tp.ConfigYAML(), BotURL: bot.URL(), HelpdeskURL: helpdesk.URL(),
		MaxAttempts: 1000, LeaseTTL: "1s",
	}
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	t.Cleanup(client.CloseIdleConnections)

	procs := make([]*process, 3)
	views := make([]*hw, 3)
	for i, name := range []string{"A", "B", "C"} {
		procs[i] = startProcess(t, bin, dir, name, d)
		views[i] = &hw{rdb: rdb, bot: bot, helpdesk: helpdesk, base: procs[i].base, client: client, idPrefix: name + "-"}
	}
	a, b, c := views[0], views[1], views[2]

	t.Run("a block made at one replica applies at once at the others", func(t *testing.T) {
		const contact = "Ureplica-block"
		if got := a.line(t, contact, "before"); got != (counts{Forwarded: 1}) {
			t.Fatalf("before the block: answer %+v; want forwarded 1", got)
		}
		bot.WaitText(t, contact, "before")
		a.block(t, "line-main", contact, nil)
		for _, r := range []struct {
			name string
			h    *hw
		}{{"B", b}, {"C", c}} {
			if got := r.h.line(t, contact, "at "+r.name); got != (counts{Queued: 1}) {
				t.Errorf("posted to %s right after A's block answered: %+v; want queued 1", r.name, got)
			}
		}
		c.unblock(t, "line-main", contact, "delete")
		if got := a.line(t, contact, "after"); got != (counts{Forwarded: 1}) {
			t.Fatalf("posted to A after C's unblock: %+v; want forwarded 1", got)
		}
		bot.WaitText(t, contact, "after")
		if got := texts(bot.Envs(contact)); !slices.Equal(got, []string{"before", "after"}) {
			t.Errorf("bot got %q; want before and after only (the queued ones were deleted)", got)
		}
	})

	t.Run("shards spread over the replicas", func(t *testing.T) {
		waitLeases(t, rdb, procs, "each replica holding 4 to 6 of the 16 shards", func(held map[string]int, total int) bool {
			if total != 16 {
				return false
			}
			for _, p := range procs {
				if n := held[p.name]; n < 4 || n > 6 {
					return false
				}
			}
			return true
		})
	})

	t.Run("a killed replica's shards move and nothing it acknowledged is lost", func(t *testing.T) {
		const (
			contacts = 30
			per      = 20
			killAt   = contacts * per / 3
		)
		contactOf := func(i int) string { return fmt.Sprintf("Ureplica%02d", i) }
		textOf := func(i, j int) string { return fmt.Sprintf("%s-%03d", contactOf(i), j) }
		const victim = 1 // B
		var (
			dead     atomic.Bool
			answered atomic.Int64
			kill     = make(chan struct{})
			failed   atomic.Int64
			wg       sync.WaitGroup
			ok       = make([][]string, contacts)
		)
		for i := range contacts {
			bodies := make([][]byte, per)
			for j := range per {
				bodies[j] = lineBody(t, lineEvent{Contact: contactOf(i), ID: fmt.Sprintf("replica-%02d-%03d", i, j), Text: textOf(i, j)})
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range per {
					r := (i + j) % len(views)
					if r == victim && dead.Load() {
						r = (r + 1) % len(views)
					}
					ans, err := postLineRaw(client, views[r].base, bodies[j], "")
					if err != nil || ans.Status != http.StatusOK {
						// The victim died under the request: it does not
						// count, whether or not it was stored.
						failed.Add(1)
						continue
					}
					ok[i] = append(ok[i], textOf(i, j))
					if answered.Add(1) == killAt {
						close(kill)
					}
				}
			}()
		}
		select {
		case <-kill:
		case <-time.After(waitLimit):
			t.Fatal("no load before the kill")
		}
		procs[victim].kill(t)
		dead.Store(true)
		wg.Wait()
		survivors := []*process{procs[0], procs[2]}
		waitLeases(t, rdb, survivors, "the two survivors holding all 16 shards, at most 8 each", func(held map[string]int, total int) bool {
			return total == 16 && held[procs[0].name]+held[procs[2].name] == 16 &&
				held[procs[0].name] <= 8 && held[procs[2].name] <= 8
		})
		// Wait for each acknowledged message itself: a count would be met
		// early by messages the victim stored without answering 200.
		bot.WaitUntil(t, 3*waitLimit, "every message that got a 200", func() bool {
			for i := range contacts {
				got := texts(bot.Envs(contactOf(i)))
				for _, want := range ok[i] {
					if !slices.Contains(got, want) {
						return false
					}
				}
			}
			return true
		})
		dups := 0
		for i := range contacts {
			envs := bot.Envs(contactOf(i))
			all := firstOrder(texts(envs))
			dups += len(envs) - len(all)
			// A message whose request died with the victim may have been
			// stored all the same: it may arrive, and is left out here.
			acked := map[string]bool{}
			for _, s := range ok[i] {
				acked[s] = true
			}
			var got []string
			for _, s := range all {
				if acked[s] {
					got = append(got, s)
				}
			}
			if !slices.Equal(got, ok[i]) {
				t.Errorf("%s: first deliveries of the acknowledged messages:\n got %q\nwant %q", contactOf(i), got, ok[i])
			}
		}
		t.Logf("%d messages; %d answered 200, %d failed with the victim; %d duplicate deliveries",
			contacts*per, answered.Load(), failed.Load(), dups)
	})
}

// leaseKeys lists the shard lease keys, hw:{tag}:lease, on every master.
func leaseKeys(ctx context.Context, rdb redis.UniversalClient) ([]string, error) {
	return redistest.Keys(ctx, rdb, "hw:{*}:lease")
}

// leaseHolders returns how many shard leases each process holds, by name,
// and how many leases are held in all. A lease's value is its owner,
// "host-pid-nanos".
func leaseHolders(ctx context.Context, rdb redis.UniversalClient, procs []*process) (map[string]int, int, error) {
	keys, err := leaseKeys(ctx, rdb)
	if err != nil {
		return nil, 0, err
	}
	held, total := map[string]int{}, 0
	for _, k := range keys {
		owner, err := rdb.Get(ctx, k).Result()
		if err == redis.Nil {
			continue // expired or released since it was listed
		}
		if err != nil {
			return nil, 0, err
		}
		total++
		parts := strings.Split(owner, "-")
		name := "unknown owner " + owner
		if len(parts) >= 3 {
			pid, _ := strconv.Atoi(parts[len(parts)-2])
			for _, p := range procs {
				if p.cmd.Process.Pid == pid {
					name = p.name
				}
			}
		}
		held[name]++
	}
	return held, total, nil
}

// waitLeases polls the lease keys until cond holds of the leases each
// process holds (by name; others' under "unknown owner ...") and the total;
// it fails the test after waitLimit.
func waitLeases(t *testing.T, rdb redis.UniversalClient, procs []*process, what string, cond func(held map[string]int, total int) bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last string
	for {
		held, total, err := leaseHolders(t.Context(), rdb, procs)
		if err != nil {
			t.Fatalf("reading the leases: %v", err)
		}
		if cond(held, total) {
			t.Logf("leases: %s", formatHeld(held, total))
			return
		}
		last = formatHeld(held, total)
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %s; last seen: %s", what, waitLimit, last)
		}
		<-tick.C
	}
}

func formatHeld(held map[string]int, total int) string {
	names := make([]string, 0, len(held))
	for n := range held {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "%s %d, ", n, held[n])
	}
	fmt.Fprintf(&b, "%d of 16 held", total)
	return b.String()
}
