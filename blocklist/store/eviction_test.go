package store_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/hookwall/hookwall/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// TestCheckEviction: CheckEviction accepts a noeviction server, refuses one
// that may evict as unavailable and says which server, which policy and what
// to set, tells a server that refuses CONFIG (renamed away, or denied by
// ACL) apart from both, and translates a server that does not answer.
func TestCheckEviction(t *testing.T) {
	t.Parallel()
	noperm := func(t *testing.T, s *redistest.Server) redis.UniversalClient {
		ctx := t.Context()
		if err := s.Client().Do(ctx, "ACL", "SETUSER", "hookwall", "on", ">pw", "~*", "&*", "+@all", "-config").Err(); err != nil {
			t.Fatal(err)
		}
		c := redis.NewClient(&redis.Options{Addr: s.Addr, Username: "hookwall", Password: "pw", MaxRetries: -1})
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	down := func(t *testing.T, s *redistest.Server) redis.UniversalClient {
		c := s.Client()
		s.Stop()
		return c
	}
	tests := []struct {
		name   string
		args   []string
		skip   bool
		client func(*testing.T, *redistest.Server) redis.UniversalClient
		// want are the sentinels the error wraps (none: nil), notWant
		// those it must not, inMsg what its text must hold.
		want, notWant []error
		inMsg         []string
	}{
		{name: "noeviction (the default)"},
		{name: "noeviction set", args: []string{"--maxmemory-policy", "noeviction"}},
		{
			name: "allkeys-lru", args: []string{"--maxmemory-policy", "allkeys-lru"},
			want:  []error{store.ErrUnavailable, store.ErrEvicting},
			inMsg: []string{"maxmemory-policy allkeys-lru", "set maxmemory-policy noeviction", "queued messages, tickets and dedupe markers"},
		},
		{
			name: "volatile-ttl", args: []string{"--maxmemory-policy", "volatile-ttl"},
			want:  []error{store.ErrUnavailable, store.ErrEvicting},
			inMsg: []string{"maxmemory-policy volatile-ttl"},
		},
		{name: "allkeys-lru unchecked", args: []string{"--maxmemory-policy", "allkeys-lru"}, skip: true},
		{
			name: "CONFIG renamed away", args: []string{"--maxmemory-policy", "allkeys-lru", "--rename-command", "CONFIG", ""},
			want: []error{store.ErrPolicyHidden}, notWant: []error{store.ErrUnavailable, store.ErrEvicting},
		},
		{
			name: "CONFIG denied by ACL", client: noperm,
			want: []error{store.ErrPolicyHidden}, notWant: []error{store.ErrUnavailable, store.ErrEvicting},
			inMsg: []string{"NOPERM"},
		},
		{
			name: "server down", client: down,
			want: []error{store.ErrUnavailable}, notWant: []error{store.ErrEvicting, store.ErrPolicyHidden},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := redistest.Start(t, tc.args...)
			var rdb redis.UniversalClient
			if tc.client != nil {
				rdb = tc.client(t, s)
			} else {
				rdb = s.Client()
			}
			core, err := store.New(store.Config{SkipEvictionCheck: tc.skip}, rdb)
			if err != nil {
				t.Fatal(err)
			}
			defer core.Close()
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			err = core.CheckEviction(ctx)
			if len(tc.want) == 0 && err != nil {
				t.Fatalf("CheckEviction = %v, want nil", err)
			}
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Errorf("CheckEviction = %v, want it to wrap %q", err, w)
				}
			}
			for _, nw := range tc.notWant {
				if errors.Is(err, nw) {
					t.Errorf("CheckEviction = %v, want it not to wrap %q", err, nw)
				}
			}
			if err == nil {
				return
			}
			for _, m := range append(tc.inMsg, s.Addr) {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("CheckEviction = %q, want it to say %q", err, m)
				}
			}
		})
	}
}

// TestCheckEvictionTopology: on any topology (HOOKWALL_TEST_REDIS), one
// master set to evict at runtime is found and named, on a Cluster too
// (every master is asked, not only one), and setting it back is seen at the
// next check.
func TestCheckEvictionTopology(t *testing.T) {
	redistest.Parallel(t)
	rdb := redistest.StartTopology(t).Client()
	core, err := store.New(store.Config{}, rdb)
	if err != nil {
		t.Fatal(err)
	}
	defer core.Close()
	ctx := t.Context()
	if err := core.CheckEviction(ctx); err != nil {
		t.Fatalf("before: %v", err)
	}
	// The last master, so that a check of only the first would miss it.
	last := lastMaster(t, rdb)
	set := func(policy string) {
		t.Helper()
		if err := last.ConfigSet(ctx, "maxmemory-policy", policy).Err(); err != nil {
			t.Fatal(err)
		}
	}
	set("allkeys-random")
	t.Cleanup(func() { _ = last.ConfigSet(context.Background(), "maxmemory-policy", "noeviction").Err() })
	err = core.CheckEviction(ctx)
	if !errors.Is(err, store.ErrEvicting) || !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "allkeys-random") {
		t.Fatalf("evicting master: CheckEviction = %v, want ErrEvicting naming allkeys-random", err)
	}
	if _, cluster := rdb.(*redis.ClusterClient); cluster && !strings.Contains(err.Error(), last.Options().Addr) {
		t.Errorf("CheckEviction = %q, want it to name the master %s", err, last.Options().Addr)
	}
	set("noeviction")
	if err := core.CheckEviction(ctx); err != nil {
		t.Fatalf("after setting noeviction back: %v", err)
	}
}

// lastMaster returns a client of the topology's master with the highest
// address: the server itself outside a Cluster.
func lastMaster(t *testing.T, rdb redis.UniversalClient) *redis.Client {
	t.Helper()
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok {
		return rdb.(*redis.Client)
	}
	var (
		mu   sync.Mutex
		last string
	)
	err := cc.ForEachMaster(t.Context(), func(_ context.Context, m *redis.Client) error {
		mu.Lock()
		defer mu.Unlock()
		last = max(last, m.Options().Addr)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: last})
	t.Cleanup(func() { _ = c.Close() })
	return c
}
