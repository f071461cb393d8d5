// Package store is the core of hookwall's Redis model, which the packages
// beside it build on: the key layout (Buckets hash-slot buckets, keys.go),
// the store's Lua scripts and their shared library (script.go, lua/lib), the
// executor every acknowledged write goes through (exec.go), the codec of
// delivery stream entries (entry.go, payload.go), ids, paged listings over
// the buckets, and the errors callers branch on. It knows nothing of HTTP.
//
// Keys are laid out so that every multi-key change is one Lua script on one
// slot: atomic on a single server, behind Sentinel and on Redis Cluster
// alike.
package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"
)

// Errors callers branch on.
var (
	// ErrNotFound means the thing asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrInvalid means an argument is not acceptable; the wrapping error says
	// which and why.
	ErrInvalid = errors.New("invalid")
	// ErrDisabled means block_contact_enabled is off.
	ErrDisabled = errors.New("block contact feature disabled")
	// ErrBlocked means the contact is blocked and the action is refused.
	ErrBlocked = errors.New("contact is blocked")
	// ErrHasTicket means an unblock that may not act on tickets
	// (TicketsNone) was refused: the contact has an open blocked ticket.
	ErrHasTicket = errors.New("contact has an open blocked ticket")
	// ErrUnavailable means the store could not be reached or refused to
	// serve; nothing was changed that the caller must know of.
	ErrUnavailable = errors.New("store unavailable")
)

// Limits on what an admin may store.
const (
	// MaxContactBytes bounds a contact id.
	MaxContactBytes = 256
	// MaxActorBytes bounds the name recorded as actor.
	MaxActorBytes = 128
	// MaxListLimit bounds one page of a listing.
	MaxListLimit = 500
	// auditMaxLen is the approximate number of audit records kept per bucket.
	auditMaxLen = 100000
)

// Config configures a Core.
type Config struct {
	// DefaultEnabled is block_contact_enabled until a value is stored.
	DefaultEnabled bool
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Channels are the configured channels by id.
	Channels map[string]ChannelInfo
	// SkipEvictionCheck turns CheckEviction off, for a server that cannot
	// evict and does not answer CONFIG (the embedded in-process store). The
	// zero value checks: a Redis that may evict is refused unless the
	// caller says it never does.
	SkipEvictionCheck bool
	// Ack is the replicated acknowledgement of writes; the zero value is
	// off.
	Ack Ack
}

// Core is the store's connection to Redis and what every part of the store
// shares: the client, the clock, the configured channels, and the executor.
type Core struct {
	rdb            redis.UniversalClient
	defaultEnabled bool
	now            func() time.Time
	channels       map[string]ChannelInfo
	batch          *batcher
	// skipEvictionCheck is Config.SkipEvictionCheck.
	skipEvictionCheck bool
}

// New returns a Core on rdb, which may be a single client, a failover
// (Sentinel) client or a Cluster client.
func New(cfg Config, rdb redis.UniversalClient) (*Core, error) {
	if rdb == nil {
		return nil, errors.New("store: nil redis client")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	for id, ch := range cfg.Channels {
		if ch.DedupeWindow <= 0 {
			return nil, fmt.Errorf("store: channel %q: dedupe window must be positive", id)
		}
	}
	if cfg.Ack.Replicas < 0 {
		return nil, errors.New("store: ack replicas must not be negative")
	}
	if cfg.Ack.Replicas > 0 && (cfg.Ack.Timeout < time.Millisecond || cfg.Ack.Timeout > MaxAckTimeout) {
		// WAIT takes whole milliseconds, and 0 would wait forever.
		return nil, fmt.Errorf("store: ack timeout must be from 1ms to %s", MaxAckTimeout)
	}
	return &Core{
		rdb: rdb, defaultEnabled: cfg.DefaultEnabled, now: cfg.Now, channels: cfg.Channels,
		batch: newBatcher(rdb, cfg.Ack), skipEvictionCheck: cfg.SkipEvictionCheck,
	}, nil
}

// Close stops the executor's background work (the flushers of the shared
// pipelines); it does not close the Redis client.
func (c *Core) Close() { c.batch.close() }

// Ping reports whether the store answers.
func (c *Core) Ping(ctx context.Context) error {
	return Err(c.rdb.Ping(ctx).Err())
}

// Redis is the client. Every write acknowledged to a client goes through
// Write; the rest (reads, the queue's leases, acknowledgements and parked
// entries, start-up settings) use the client directly.
func (c *Core) Redis() redis.UniversalClient { return c.rdb }

// Now is the store's clock.
func (c *Core) Now() time.Time { return c.now() }

// DefaultEnabled is block_contact_enabled until a value is stored.
func (c *Core) DefaultEnabled() bool { return c.defaultEnabled }

// Ack is the replicated acknowledgement the executor asks for.
func (c *Core) Ack() Ack { return c.batch.ack }

// ValidateContact checks a contact id: 1 to MaxContactBytes bytes of UTF-8
// without control characters.
func ValidateContact(contact string) error {
	switch {
	case contact == "":
		return fmt.Errorf("%w: contact is empty", ErrInvalid)
	case len(contact) > MaxContactBytes:
		return fmt.Errorf("%w: contact is longer than %d bytes", ErrInvalid, MaxContactBytes)
	case !utf8.ValidString(contact):
		return fmt.Errorf("%w: contact is not valid UTF-8", ErrInvalid)
	case strings.IndexFunc(contact, unicode.IsControl) >= 0:
		return fmt.Errorf("%w: contact contains a control character", ErrInvalid)
	}
	return nil
}

// Err translates go-redis errors at the boundary: redis.Nil becomes
// ErrNotFound, connection and availability failures ErrUnavailable.
func Err(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) || errors.Is(err, ErrNotFound) {
		return err // translated already
	}
	if errors.Is(err, redis.Nil) {
		return ErrNotFound
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	var rerr redis.Error
	if errors.As(err, &rerr) && !unavailableReply(rerr.Error()) {
		return fmt.Errorf("store: redis: %w", err)
	}
	return fmt.Errorf("%w: %v", ErrUnavailable, err)
}

// unavailableReplies are the error replies that mean the server cannot
// serve now, rather than a bug in the request: the one table of them. A full
// Redis with maxmemory-policy noeviction answers OOM to every write; one
// whose last save failed answers MISCONF.
var unavailableReplies = []string{
	"LOADING", "CLUSTERDOWN", "MASTERDOWN", "READONLY", "TRYAGAIN", "BUSY", "NOREPLICAS",
	"MOVED", "ASK", "OOM", "MISCONF",
}

// unavailableReply reports whether a Redis error reply is one of them.
func unavailableReply(msg string) bool {
	for _, p := range unavailableReplies {
		if strings.HasPrefix(msg, p+" ") || msg == p {
			return true
		}
	}
	return false
}

// Millis is t in Unix milliseconds, as the store keeps times.
func Millis(t time.Time) int64 { return t.UnixMilli() }

// FromMillis is the UTC time of Unix milliseconds v.
func FromMillis(v int64) time.Time { return time.UnixMilli(v).UTC() }

// Channel returns the configured channel's info, or ErrInvalid.
func (c *Core) Channel(id string) (ChannelInfo, error) {
	info, ok := c.channels[id]
	if !ok {
		return ChannelInfo{}, fmt.Errorf("%w: unknown channel %q", ErrInvalid, id)
	}
	return info, nil
}

// Channels returns the ids of the configured channels, sorted.
func (c *Core) Channels() []string { return slices.Sorted(maps.Keys(c.channels)) }
