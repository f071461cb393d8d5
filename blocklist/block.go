package blocklist

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"
)

// blockScript stores a block entry, adds it to the bucket's index, ends the
// contact's open conversation with status blocked and appends the audit
// record, all or nothing. Every read that can refuse comes before the first
// write, so a refusal leaves no trace.
//
// KEYS: settings, block, blocked index, audit, conversation
// ARGV: channel, contact, note, action, actor, now ms, expires ms or "",
//
//	index member, default enabled ("1"/"0"), audit detail
var blockScript = redis.NewScript(`
local enabled = redis.call('HGET', KEYS[1], 'block_contact_enabled') or ARGV[9]
if enabled ~= '1' then return {'disabled', ''} end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'channel', ARGV[1], 'contact', ARGV[2], 'note', ARGV[3],
  'action', ARGV[4], 'blocked_by', ARGV[5], 'blocked_at', ARGV[6], 'expires_at', ARGV[7])
if ARGV[7] ~= '' then redis.call('PEXPIREAT', KEYS[2], ARGV[7]) end
redis.call('ZADD', KEYS[3], 0, ARGV[8])
local ended = ''
if redis.call('HGET', KEYS[5], 'status') == 'open' then
  redis.call('HSET', KEYS[5], 'status', 'blocked', 'ended_at', ARGV[6])
  ended = redis.call('HGET', KEYS[5], 'id')
end
redis.call('XADD', KEYS[4], 'MAXLEN', '~', '` + strconv.Itoa(auditMaxLen) + `', '*',
  'at', ARGV[6], 'actor', ARGV[5], 'action', 'block', 'channel', ARGV[1], 'contact', ARGV[2],
  'ticket', '', 'detail', ARGV[10])
return {'ok', ended}
`)

// BlockRequest is what an agent asks for when blocking.
type BlockRequest struct {
	// Channel and Contact name the contact.
	Channel, Contact string
	// Note is the reason, at most MaxNoteRunes characters.
	Note string
	// Action is what happens to the contact's messages; required.
	Action Action
	// Actor is the name of the admin token.
	Actor string
	// ExpiresAt, when set, must be in the future.
	ExpiresAt *time.Time
}

// BlockResult is the stored entry and what blocking changed besides.
type BlockResult struct {
	// Entry is the block entry as stored.
	Entry Entry
	// EndedConversation is the id of the conversation the block ended, or "".
	EndedConversation string
}

// Block blocks a contact, replacing any block it had. It wraps ErrDisabled
// when the feature is off and ErrInvalid for a bad request; in either case,
// and on ErrUnavailable, nothing is stored.
func (s *Store) Block(ctx context.Context, req BlockRequest) (BlockResult, error) {
	now := s.now().Truncate(time.Millisecond)
	if err := validateBlock(req, now); err != nil {
		return BlockResult{}, err
	}
	k := keysOf(req.Channel, req.Contact)
	expires, detail := "", "action="+string(req.Action)
	if req.ExpiresAt != nil {
		expires = strconv.FormatInt(ms(*req.ExpiresAt), 10)
		detail += " expires_at=" + req.ExpiresAt.UTC().Format(time.RFC3339)
	}
	res, err := blockScript.Run(ctx, s.rdb,
		[]string{k.settings, k.block, k.blocked, k.audit, k.conv},
		req.Channel, req.Contact, req.Note, string(req.Action), req.Actor, ms(now), expires,
		member(req.Channel, req.Contact), boolFlag(s.defaultEnabled), detail,
	).StringSlice()
	if err != nil {
		return BlockResult{}, storeErr(err)
	}
	if res[0] == "disabled" {
		return BlockResult{}, ErrDisabled
	}
	e := Entry{
		Channel: req.Channel, Contact: req.Contact, Note: req.Note, Action: req.Action,
		BlockedBy: req.Actor, BlockedAt: now.UTC(),
	}
	if req.ExpiresAt != nil {
		t := fromMS(ms(*req.ExpiresAt))
		e.ExpiresAt = &t
	}
	return BlockResult{Entry: e, EndedConversation: res[1]}, nil
}

func validateBlock(req BlockRequest, now time.Time) error {
	if err := ValidateContact(req.Contact); err != nil {
		return err
	}
	switch {
	case req.Channel == "":
		return fmt.Errorf("%w: channel is empty", ErrInvalid)
	case !req.Action.Valid():
		return fmt.Errorf("%w: action must be queue or record", ErrInvalid)
	case !utf8.ValidString(req.Note):
		return fmt.Errorf("%w: note is not valid UTF-8", ErrInvalid)
	case utf8.RuneCountInString(req.Note) > MaxNoteRunes:
		return fmt.Errorf("%w: note is longer than %d characters", ErrInvalid, MaxNoteRunes)
	case req.Actor == "" || len(req.Actor) > MaxActorBytes:
		return fmt.Errorf("%w: actor must be 1 to %d bytes", ErrInvalid, MaxActorBytes)
	case req.ExpiresAt != nil && !req.ExpiresAt.After(now):
		return fmt.Errorf("%w: expires_at must be in the future", ErrInvalid)
	}
	return nil
}

// Get returns the contact's block entry, or ErrNotFound when the contact is
// not blocked (never blocked, unblocked, or the block expired).
func (s *Store) Get(ctx context.Context, channel, contact string) (Entry, error) {
	if err := ValidateContact(contact); err != nil {
		return Entry{}, err
	}
	v, err := s.rdb.HGetAll(ctx, keysOf(channel, contact).block).Result()
	if err != nil {
		return Entry{}, storeErr(err)
	}
	e, ok := entryFrom(v, s.now())
	if !ok {
		return Entry{}, ErrNotFound
	}
	return e, nil
}

// IsBlocked reports whether the contact is blocked and the feature is on: the
// check outbound replies make. It reads the bucket's own copy of the setting
// and the entry in one round trip.
func (s *Store) IsBlocked(ctx context.Context, channel, contact string) (bool, error) {
	k := keysOf(channel, contact)
	var enabled *redis.StringCmd
	var entry *redis.MapStringStringCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		enabled = p.HGet(ctx, k.settings, settingEnabled)
		entry = p.HGetAll(ctx, k.block)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return false, storeErr(err)
	}
	on := s.defaultEnabled
	if v, err := enabled.Result(); err == nil {
		on = v == "1"
	}
	if !on {
		return false, nil
	}
	_, blocked := entryFrom(entry.Val(), s.now())
	return blocked, nil
}

// entryFrom decodes a stored entry; ok is false when there is none or it has
// expired (Redis removes the key at expiry; the check covers clock skew).
func entryFrom(v map[string]string, now time.Time) (Entry, bool) {
	if len(v) == 0 || v["channel"] == "" {
		return Entry{}, false
	}
	at, _ := strconv.ParseInt(v["blocked_at"], 10, 64)
	e := Entry{
		Channel: v["channel"], Contact: v["contact"], Note: v["note"], Action: Action(v["action"]),
		BlockedBy: v["blocked_by"], BlockedAt: fromMS(at),
	}
	if x, err := strconv.ParseInt(v["expires_at"], 10, 64); err == nil {
		t := fromMS(x)
		if !t.After(now) {
			return Entry{}, false
		}
		e.ExpiresAt = &t
	}
	return e, true
}
