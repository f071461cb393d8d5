// Package blocklist is hookwall's Redis model: block entries, the
// block_contact_enabled setting, the audit trail, conversations, blocked
// tickets and their release, and the blocked-contacts listing. It knows
// nothing of HTTP.
//
// Keys are laid out in Buckets hash-slot buckets (see keys.go) so that every
// multi-key change is one Lua script on one slot: atomic on a single server,
// behind Sentinel and on Redis Cluster alike.
package blocklist

import (
	"context"
	"errors"
	"fmt"
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
	// MaxNoteRunes bounds a block note.
	MaxNoteRunes = 1000
	// MaxActorBytes bounds the name recorded as actor.
	MaxActorBytes = 128
	// MaxListLimit bounds one page of a listing.
	MaxListLimit = 500
	// auditMaxLen is the approximate number of audit records kept per bucket.
	auditMaxLen = 100000
)

// Action is what happens to a blocked contact's new messages.
type Action string

// The block actions of the contract.
const (
	// ActionQueue diverts messages to the contact's open blocked ticket.
	ActionQueue Action = "queue"
	// ActionRecord delivers messages to the helpdesk only, automation off.
	ActionRecord Action = "record"
)

// Valid reports whether a is one of the known actions.
func (a Action) Valid() bool { return a == ActionQueue || a == ActionRecord }

// Entry is a block entry.
type Entry struct {
	// Channel is the channel id.
	Channel string `json:"channel"`
	// Contact is the blocked contact.
	Contact string `json:"contact"`
	// Note is the agent's reason, free text.
	Note string `json:"note"`
	// Action is what happens to the contact's new messages.
	Action Action `json:"action"`
	// BlockedBy is the name of the admin token that blocked.
	BlockedBy string `json:"blocked_by"`
	// BlockedAt is when the block was made.
	BlockedAt time.Time `json:"blocked_at"`
	// ExpiresAt, when set, is when the block stops applying.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// Config configures a Store.
type Config struct {
	// DefaultEnabled is block_contact_enabled until a value is stored.
	DefaultEnabled bool
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Channels are the configured channels by id.
	Channels map[string]ChannelInfo
	// RecentContacts bounds the recent-contacts index: how many contacts of
	// a channel it keeps in each of the Buckets buckets, the most recent.
	// Zero means DefaultRecentContacts.
	RecentContacts int
	// TicketMessages bounds a blocked ticket: it keeps the newest
	// TicketMessages messages and counts the older ones it drops. Zero means
	// DefaultTicketMessages.
	TicketMessages int
	// ReleaseChunk is how many entries one script of a ticket release moves
	// to the delivery stream (at most ReleaseChunkBytes of them). Zero means
	// DefaultReleaseChunk; tests make it small.
	ReleaseChunk int
}

// Store is the blocklist on Redis.
type Store struct {
	rdb            redis.UniversalClient
	defaultEnabled bool
	now            func() time.Time
	channels       map[string]ChannelInfo
	recentMax      int
	ticketMax      int
	releaseChunk   int
	batch          *batcher
}

// New returns a Store on rdb, which may be a single client, a failover
// (Sentinel) client or a Cluster client.
func New(cfg Config, rdb redis.UniversalClient) (*Store, error) {
	if rdb == nil {
		return nil, errors.New("blocklist: nil redis client")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RecentContacts < 0 {
		return nil, errors.New("blocklist: recent contacts bound must not be negative")
	}
	if cfg.RecentContacts == 0 {
		cfg.RecentContacts = DefaultRecentContacts
	}
	if cfg.TicketMessages < 0 || cfg.ReleaseChunk < 0 {
		return nil, errors.New("blocklist: ticket bound and release chunk must not be negative")
	}
	if cfg.TicketMessages == 0 {
		cfg.TicketMessages = DefaultTicketMessages
	}
	if cfg.ReleaseChunk == 0 {
		cfg.ReleaseChunk = DefaultReleaseChunk
	}
	for id, ch := range cfg.Channels {
		if ch.DedupeWindow <= 0 {
			return nil, fmt.Errorf("blocklist: channel %q: dedupe window must be positive", id)
		}
	}
	return &Store{
		rdb: rdb, defaultEnabled: cfg.DefaultEnabled, now: cfg.Now, channels: cfg.Channels,
		recentMax: cfg.RecentContacts, ticketMax: cfg.TicketMessages, releaseChunk: cfg.ReleaseChunk,
		batch: newBatcher(rdb),
	}, nil
}

// Close stops the store's background work (the flushers of the shared
// pipelines); it does not close the Redis client.
func (s *Store) Close() { s.batch.close() }

// Ping reports whether the store answers.
func (s *Store) Ping(ctx context.Context) error {
	return storeErr(s.rdb.Ping(ctx).Err())
}

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

// storeErr translates go-redis errors at the boundary: redis.Nil becomes
// ErrNotFound, connection and availability failures ErrUnavailable.
func storeErr(err error) error {
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
		return fmt.Errorf("blocklist: redis: %w", err)
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

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }
