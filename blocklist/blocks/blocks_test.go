package blocks_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hookwall/hookwall/blocklist/internal/storetest"

	"github.com/hookwall/hookwall/blocklist/blocks"
	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/hookwall/hookwall/internal/redistest"
	"github.com/redis/go-redis/v9"
)

func TestBlockGetUnblock(t *testing.T) {
	redistest.Parallel(t)
	rdb := redistest.StartTopology(t).Client()
	s := storetest.NewStore(t, rdb, true)
	ctx := context.Background()

	if _, err := s.Get(ctx, "line-main", "U1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get before block: err = %v, want ErrNotFound", err)
	}
	e := storetest.Block(t, s, "line-main", "U1")
	got, err := s.Get(ctx, "line-main", "U1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Note != "spam" || got.Action != blocks.ActionQueue || got.BlockedBy != "alice" || !got.BlockedAt.Equal(e.BlockedAt) {
		t.Fatalf("get = %+v, want %+v", got, e)
	}
	if b, err := s.IsBlocked(ctx, "line-main", "U1"); err != nil || !b {
		t.Fatalf("IsBlocked = %v, %v; want true", b, err)
	}
	if b, _ := s.IsBlocked(ctx, "line-other", "U1"); b {
		t.Fatal("block on line-main applies to line-other")
	}

	res, err := s.Unblock(ctx, "line-main", "U1", "bob", blocks.TicketsRelease)
	if err != nil || !res.Unblocked {
		t.Fatalf("unblock = %+v, %v", res, err)
	}
	if _, err := s.Get(ctx, "line-main", "U1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get after unblock: %v", err)
	}
	res, err = s.Unblock(ctx, "line-main", "U1", "bob", blocks.TicketsRelease)
	if err != nil || res.Unblocked {
		t.Fatalf("second unblock = %+v, %v; want Unblocked false", res, err)
	}

	audit, _, err := s.Audit(ctx, 10, "")
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, a := range audit {
		actions = append(actions, a.Actor+":"+a.Action)
	}
	if fmt.Sprint(actions) != "[bob:unblock bob:unblock alice:block]" {
		t.Fatalf("audit newest first = %v", actions)
	}
}

func TestBlockRejectsBadInputAndChangesNothing(t *testing.T) {
	redistest.Parallel(t)
	rdb := redistest.StartTopology(t).Client()
	s := storetest.NewStore(t, rdb, true)
	ctx := context.Background()
	past := time.Now().Add(-time.Minute)
	long := make([]byte, store.MaxContactBytes+1)
	for i := range long {
		long[i] = 'a'
	}
	note := make([]rune, blocks.MaxNoteRunes+1)
	for i := range note {
		note[i] = 'é'
	}
	for _, tc := range []struct {
		name string
		req  blocks.BlockRequest
	}{
		{"empty contact", blocks.BlockRequest{Channel: "c", Action: "queue", Actor: "a"}},
		{"control character", blocks.BlockRequest{Channel: "c", Contact: "U\n1", Action: "queue", Actor: "a"}},
		{"contact too long", blocks.BlockRequest{Channel: "c", Contact: string(long), Action: "queue", Actor: "a"}},
		{"bad action", blocks.BlockRequest{Channel: "c", Contact: "U1", Action: "drop", Actor: "a"}},
		{"note too long", blocks.BlockRequest{Channel: "c", Contact: "U1", Note: string(note), Action: "queue", Actor: "a"}},
		{"expiry in the past", blocks.BlockRequest{Channel: "c", Contact: "U1", Action: "queue", Actor: "a", ExpiresAt: &past}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.Block(ctx, tc.req); !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
	assertEmptyStoreButSettings(t, rdb)
}

// assertEmptyStoreButSettings checks that only the settings keys exist.
func assertEmptyStoreButSettings(t *testing.T, rdb redis.UniversalClient) {
	t.Helper()
	keys, err := redistest.Keys(context.Background(), rdb, "*")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if len(k) < 9 || k[len(k)-9:] != ":settings" {
			t.Errorf("unexpected key %q after a refused request", k)
		}
	}
}

func TestFeatureDisabled(t *testing.T) {
	redistest.Parallel(t)
	rdb := redistest.StartTopology(t).Client()
	s := storetest.NewStore(t, rdb, true)
	ctx := context.Background()
	storetest.Block(t, s, "web", "v1")
	if err := s.SetEnabled(ctx, "root", false); err != nil {
		t.Fatal(err)
	}
	if on, _ := s.Enabled(ctx); on {
		t.Fatal("Enabled after SetEnabled(false) = true")
	}
	_, err := s.Block(ctx, blocks.BlockRequest{Channel: "web", Contact: "v2", Action: "record", Actor: "a"})
	if !errors.Is(err, store.ErrDisabled) {
		t.Fatalf("block while disabled: %v, want ErrDisabled", err)
	}
	if _, err := s.Get(ctx, "web", "v2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("a refused block was stored")
	}
	// Entries are kept but not consulted.
	if _, err := s.Get(ctx, "web", "v1"); err != nil {
		t.Fatalf("entry kept while disabled: %v", err)
	}
	if b, _ := s.IsBlocked(ctx, "web", "v1"); b {
		t.Fatal("IsBlocked consulted the blocklist while the feature is off")
	}
	// A second replica starting with a different configured default keeps
	// the stored value.
	s2 := storetest.NewStore(t, rdb, true)
	if on, _ := s2.Enabled(ctx); on {
		t.Fatal("configured default overrode the stored setting")
	}
}

func TestExpiredBlockStopsApplyingAndLeavesListing(t *testing.T) {
	// Not parallel: its block expires in 1.5 s, which parallel start-ups
	// on a small machine could outrun.
	rdb := redistest.StartTopology(t).Client()
	s := storetest.NewStore(t, rdb, true)
	ctx := context.Background()
	soon := time.Now().Add(1500 * time.Millisecond)
	if _, err := s.Block(ctx, blocks.BlockRequest{Channel: "c", Contact: "U1", Action: "queue", Actor: "a", ExpiresAt: &soon}); err != nil {
		t.Fatal(err)
	}
	storetest.Block(t, s, "c", "U2")
	if b, _ := s.IsBlocked(ctx, "c", "U1"); !b {
		t.Fatal("not blocked before expiry")
	}
	// Let Redis pass the expiry: ask it its own time until then, no sleep-and-hope.
	waitRedisTime(t, rdb, soon)
	if b, _ := s.IsBlocked(ctx, "c", "U1"); b {
		t.Fatal("blocked after expires_at")
	}
	items, next, err := s.List(ctx, blocks.ListRequest{Limit: 10})
	if err != nil || next != "" || len(items) != 1 || items[0].Contact != "U2" {
		t.Fatalf("list = %+v %q %v; want only U2", items, next, err)
	}
}

func waitRedisTime(t *testing.T, rdb redis.UniversalClient, until time.Time) {
	t.Helper()
	for {
		now, err := rdb.Time(context.Background()).Result()
		if err != nil {
			t.Fatal(err)
		}
		if now.After(until) {
			return
		}
		time.Sleep(until.Sub(now) + time.Millisecond)
	}
}

func TestListPaginatesAcrossBucketsWithChannelFilter(t *testing.T) {
	redistest.Parallel(t)
	rdb := redistest.StartTopology(t).Client()
	s := storetest.NewStore(t, rdb, true)
	ctx := context.Background()
	want := map[string][]string{}
	for _, ch := range []string{"a-chan", "b-chan"} {
		for i := range 23 {
			co := fmt.Sprintf("U%03d", i)
			storetest.Block(t, s, ch, co)
			want[ch] = append(want[ch], co)
		}
	}
	for _, tc := range []struct{ channel string }{{""}, {"a-chan"}, {"b-chan"}} {
		t.Run("channel="+tc.channel, func(t *testing.T) {
			var got []string
			cursor := ""
			pages := 0
			for {
				items, next, err := s.List(ctx, blocks.ListRequest{Channel: tc.channel, Limit: 5, Cursor: cursor})
				if err != nil {
					t.Fatal(err)
				}
				pages++
				for _, e := range items {
					if tc.channel != "" && e.Channel != tc.channel {
						t.Fatalf("filter %q returned %s", tc.channel, e.Channel)
					}
					got = append(got, e.Channel+"/"+e.Contact)
				}
				if next == "" {
					break
				}
				cursor = next
			}
			var exp []string
			for _, ch := range []string{"a-chan", "b-chan"} {
				if tc.channel != "" && ch != tc.channel {
					continue
				}
				for _, co := range want[ch] {
					exp = append(exp, ch+"/"+co)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(exp) {
				t.Fatalf("paged listing:\n got %v\nwant %v", got, exp)
			}
			if wantPages := (len(exp) + 4) / 5; pages != wantPages {
				t.Fatalf("pages = %d, want %d", pages, wantPages)
			}
		})
	}
	if _, _, err := s.List(ctx, blocks.ListRequest{Limit: 5, Cursor: "!!not-base64"}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("bad cursor: %v, want ErrInvalid", err)
	}
}

// TestBlockIndexAuditAtomic races blocks and unblocks of the same contacts
// and checks that the block entries, the index and the audit trail always
// agree: each successful call wrote all three, none wrote part.
func TestBlockIndexAuditAtomic(t *testing.T) {
	redistest.Parallel(t)
	rdb := redistest.StartTopology(t).Client()
	s := storetest.NewStore(t, rdb, true)
	ctx := context.Background()
	const workers, rounds = 8, 40
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				co := fmt.Sprintf("U%d", (w+i)%5)
				var err error
				if (w+i)%2 == 0 {
					_, err = s.Block(ctx, blocks.BlockRequest{Channel: "c", Contact: co, Action: "queue", Actor: "a"})
				} else {
					_, err = s.Unblock(ctx, "c", co, "a", blocks.TicketsRelease)
				}
				if err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	items, _, err := s.List(ctx, blocks.ListRequest{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, e := range items {
		listed[e.Contact] = true
	}
	for i := range 5 {
		co := fmt.Sprintf("U%d", i)
		_, err := s.Get(ctx, "c", co)
		if blocked := err == nil; blocked != listed[co] {
			t.Errorf("%s: blocked=%v but listed=%v", co, blocked, listed[co])
		}
	}
	audit, _, err := s.Audit(ctx, store.MaxListLimit, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(audit) != workers*rounds {
		t.Fatalf("audit records = %d, want %d", len(audit), workers*rounds)
	}
	// The raw index holds exactly the blocked contacts, before any List
	// clean-up could have hidden a half-written block.
	indexed, err := redistest.Keys(ctx, rdb, "hw:*:blocked")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, k := range indexed {
		total += rdb.ZCard(ctx, k).Val()
	}
	if int(total) != len(items) {
		t.Fatalf("index members = %d, blocked entries listed = %d", total, len(items))
	}
}

func TestStoreOutage(t *testing.T) {
	redistest.Parallel(t)
	srv := redistest.Start(t)
	rdb := srv.Client()
	s := storetest.NewStore(t, rdb, true)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Stop()
	_, err := s.Block(ctx, blocks.BlockRequest{Channel: "c", Contact: "U1", Action: "queue", Actor: "a"})
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("block during outage: %v, want ErrUnavailable", err)
	}
	if _, err := s.Get(ctx, "c", "U1"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("get during outage: %v, want ErrUnavailable", err)
	}
	if err := s.Ping(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("ping during outage: %v", err)
	}
}
