// Package blocklist is hookwall's Redis model, made of the packages under
// it: store (the core: keys, buckets, scripts and their library, the
// executor, the codec of delivery entries, errors), blocks (blocked contacts,
// the setting, listings, the audit trail), decision (an inbound event's
// decision), tickets (blocked tickets, their release, conversations) and
// queue (the delivery queue, its leases, dead letters). New wires them
// together on one Redis client; Store has every part's methods. It knows
// nothing of HTTP.
package blocklist

import (
	"context"
	"errors"
	"time"

	"github.com/hookwall/hookwall/blocklist/blocks"
	"github.com/hookwall/hookwall/blocklist/decision"
	"github.com/hookwall/hookwall/blocklist/queue"
	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/hookwall/hookwall/blocklist/tickets"
	"github.com/redis/go-redis/v9"
)

// Config configures a Store: the core's settings and each part's.
type Config struct {
	// DefaultEnabled is block_contact_enabled until a value is stored.
	DefaultEnabled bool
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Channels are the configured channels by id.
	Channels map[string]store.ChannelInfo
	// Ack is the replicated acknowledgement of writes; the zero value is
	// off.
	Ack store.Ack
	// RecentContacts bounds the recent-contacts index; zero means
	// decision.DefaultRecentContacts (decision.Config).
	RecentContacts int
	// TicketMessages bounds a blocked ticket; zero means
	// decision.DefaultTicketMessages (decision.Config).
	TicketMessages int
	// ReleaseChunk is how many entries one script of a ticket release
	// moves; zero means tickets.DefaultReleaseChunk (tickets.Config).
	ReleaseChunk int
	// SkipEvictionCheck turns off the check of Redis's maxmemory-policy
	// (store.Config), for the embedded in-process store, which never
	// evicts. The zero value checks.
	SkipEvictionCheck bool
}

// Store is the whole store: each part, its methods promoted, and the core's
// Ping and Close.
type Store struct {
	core *store.Core
	*blocks.Registry
	*decision.Decider
	*tickets.Desk
	*queue.Shards
}

// New returns a Store on rdb, which may be a single client, a failover
// (Sentinel) client or a Cluster client.
func New(cfg Config, rdb redis.UniversalClient) (*Store, error) {
	db, err := store.New(store.Config{
		DefaultEnabled: cfg.DefaultEnabled, Now: cfg.Now, Channels: cfg.Channels, SkipEvictionCheck: cfg.SkipEvictionCheck,
		Ack: cfg.Ack,
	}, rdb)
	if err != nil {
		return nil, err
	}
	dec, err := decision.New(decision.Config{RecentContacts: cfg.RecentContacts, TicketMessages: cfg.TicketMessages}, db)
	if err != nil {
		return nil, err
	}
	desk, err := tickets.New(tickets.Config{ReleaseChunk: cfg.ReleaseChunk}, db)
	if err != nil {
		return nil, err
	}
	reg, err := blocks.New(db, desk)
	if err != nil {
		return nil, err
	}
	q, err := queue.New(db)
	if err != nil {
		return nil, err
	}
	return &Store{core: db, Registry: reg, Decider: dec, Desk: desk, Shards: q}, nil
}

// Ping reports whether the store answers and may serve: it fails, with
// store.ErrUnavailable, while Redis may evict keys (store.ErrEvicting), which
// an operator can bring about at runtime. A Redis that hides its
// maxmemory-policy (store.ErrPolicyHidden) passes: asking again will not
// tell, and failing would keep such a deployment unready for ever; the
// caller warns of it once, at start-up, from CheckEviction.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.core.Ping(ctx); err != nil {
		return err
	}
	if err := s.core.CheckEviction(ctx); err != nil && !errors.Is(err, store.ErrPolicyHidden) {
		return err
	}
	return nil
}

// CheckEviction reads Redis's maxmemory-policy (store.Core.CheckEviction):
// nil when it is noeviction on every server, an error wrapping
// store.ErrEvicting and store.ErrUnavailable when any may evict, one
// wrapping store.ErrPolicyHidden when a server refuses CONFIG.
func (s *Store) CheckEviction(ctx context.Context) error { return s.core.CheckEviction(ctx) }

// Close stops the store's background work; it does not close the Redis
// client.
func (s *Store) Close() { s.core.Close() }
