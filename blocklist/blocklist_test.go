package blocklist_test

import (
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
