package blocklist_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hookwall/hookwall/blocklist"
	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/hookwall/hookwall/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// TestNewRefusesBadConfig: each part's checks of the configuration apply
// through blocklist.New, and a good configuration is taken.
func TestNewRefusesBadConfig(t *testing.T) {
	redistest.Parallel(t)
	rdb := redistest.Start(t).Client()
	chans := map[string]store.ChannelInfo{"line-main": {Type: "line", DedupeWindow: time.Hour}}
	tests := []struct {
		name string
		cfg  blocklist.Config
		rdb  redis.UniversalClient
	}{
		{"nil client", blocklist.Config{Channels: chans}, nil},
		{"no dedupe window", blocklist.Config{Channels: map[string]store.ChannelInfo{"c": {Type: "line"}}}, rdb},
		{"negative recent contacts", blocklist.Config{Channels: chans, RecentContacts: -1}, rdb},
		{"negative ticket messages", blocklist.Config{Channels: chans, TicketMessages: -1}, rdb},
		{"negative release chunk", blocklist.Config{Channels: chans, ReleaseChunk: -1}, rdb},
	}
	for _, tt := range tests {
		if s, err := blocklist.New(tt.cfg, tt.rdb); err == nil {
			s.Close()
			t.Errorf("%s: New took it", tt.name)
		}
	}
	s, err := blocklist.New(blocklist.Config{Channels: chans}, rdb)
	if err != nil {
		t.Fatalf("a good config: %v", err)
	}
	defer s.Close()
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("ping: %v", err)
	}
}

// TestPingWhileRedisMayEvict: readiness follows maxmemory-policy at runtime.
// Ping fails as unavailable once an operator sets an evicting policy with
// CONFIG SET, on any master of any topology, and passes again when it is set
// back; a Redis that hides CONFIG does not fail it.
func TestPingWhileRedisMayEvict(t *testing.T) {
	chans := map[string]store.ChannelInfo{"line-main": {Type: "line", DedupeWindow: time.Hour}}
	t.Run("policy changed at runtime", func(t *testing.T) {
		redistest.Parallel(t)
		rdb := redistest.StartTopology(t).Client()
		s, err := blocklist.New(blocklist.Config{Channels: chans}, rdb)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		ctx := t.Context()
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("noeviction: Ping = %v", err)
		}
		setPolicy(t, rdb, "volatile-lru")
		t.Cleanup(func() { setPolicy(t, rdb, "noeviction") })
		if err := s.Ping(ctx); !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, store.ErrEvicting) {
			t.Fatalf("volatile-lru: Ping = %v, want ErrUnavailable and ErrEvicting", err)
		}
		setPolicy(t, rdb, "noeviction")
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("noeviction again: Ping = %v", err)
		}
	})
	t.Run("CONFIG hidden", func(t *testing.T) {
		t.Parallel()
		rdb := redistest.Start(t, "--maxmemory-policy", "allkeys-lru", "--rename-command", "CONFIG", "").Client()
		s, err := blocklist.New(blocklist.Config{Channels: chans}, rdb)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.Ping(t.Context()); err != nil {
			t.Fatalf("Ping = %v, want nil: a hidden policy does not fail readiness", err)
		}
		if err := s.CheckEviction(t.Context()); !errors.Is(err, store.ErrPolicyHidden) {
			t.Fatalf("CheckEviction = %v, want ErrPolicyHidden", err)
		}
	})
}

// setPolicy sets maxmemory-policy on every master of rdb's topology.
func setPolicy(t *testing.T, rdb redis.UniversalClient, policy string) {
	t.Helper()
	set := func(ctx context.Context, c *redis.Client) error {
		return c.ConfigSet(ctx, "maxmemory-policy", policy).Err()
	}
	var err error
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(context.Background(), set)
	} else {
		err = set(context.Background(), rdb.(*redis.Client))
	}
	if err != nil {
		t.Fatalf("setting maxmemory-policy %s: %v", policy, err)
	}
}
