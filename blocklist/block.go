package blocklist

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"
)

// blockScript stores a block entry, adds it to the bucket's index, ends the
// contact's open conversation with status blocked, tells the helpdesk
// (contact.blocked, and conversation.ended when one ended) and appends the
// audit record, all or nothing. Every read that can refuse comes before the
// first write, so a refusal leaves no trace.
//
// The notices of a contact with a ticket release in progress wait at the end
// of the release (enqueue; see release.go). See lua/block.lua.
var blockScript = newLuaScript[blockKeys, blockArgs]("block", "entry", "audit", "contact")

type blockKeys struct {
	Settings        string `lua:"settings"`
	Block           string `lua:"block"`
	Blocked         string `lua:"blocked"` // blocked-contacts index
	Audit           string `lua:"audit"`
	Conv            string `lua:"conv"`
	Stream          string `lua:"stream"` // delivery stream
	Release         string `lua:"release"`
	ReleaseMessages string `lua:"release_messages"`
}

type blockArgs struct {
	Channel        string `lua:"channel"`
	Contact        string `lua:"contact"`
	Note           string `lua:"note"`
	Action         string `lua:"action"`
	Actor          string `lua:"actor"`
	Now            int64  `lua:"now"`     // ms
	Expires        string `lua:"expires"` // ms, or "" for never
	Member         string `lua:"member"`  // blocked-index member
	DefaultEnabled bool   `lua:"default_enabled"`
	Detail         string `lua:"detail"` // of the audit record
	ChannelType    string `lua:"channel_type"`
	BlockedID      string `lua:"blocked_id"` // contact.blocked notice
	BlockedPayload []byte `lua:"blocked_payload"`
	EndedID        string `lua:"ended_id"` // conversation.ended notice
	EndedPayload   []byte `lua:"ended_payload"`
}

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
	info, err := s.channel(req.Channel)
	if err != nil {
		return BlockResult{}, err
	}
	k := keysOf(req.Channel, req.Contact)
	expires, detail := "", "action="+string(req.Action)
	e := Entry{
		Channel: req.Channel, Contact: req.Contact, Note: req.Note, Action: req.Action,
		BlockedBy: req.Actor, BlockedAt: now.UTC(),
	}
	if req.ExpiresAt != nil {
		t := fromMS(ms(*req.ExpiresAt))
		e.ExpiresAt = &t
		expires = strconv.FormatInt(ms(t), 10)
		detail += " expires_at=" + t.Format(time.RFC3339)
	}
	blockedID, blockedP := notice("contact.blocked", now, e)
	endedID, endedP := notice("conversation.ended", now, map[string]string{"status": "blocked", "reason": "contact.blocked"})
	res, err := blockScript.write(ctx, s,
		blockKeys{
			Settings: k.settings, Block: k.block, Blocked: k.blocked, Audit: k.audit, Conv: k.conv,
			Stream: k.queue, Release: k.release, ReleaseMessages: k.releaseMessages,
		},
		blockArgs{
			Channel: req.Channel, Contact: req.Contact, Note: req.Note, Action: string(req.Action),
			Actor: req.Actor, Now: ms(now), Expires: expires, Member: member(req.Channel, req.Contact),
			DefaultEnabled: s.defaultEnabled, Detail: detail, ChannelType: info.Type,
			BlockedID: blockedID, BlockedPayload: blockedP, EndedID: endedID, EndedPayload: endedP,
		},
	).StringSlice()
	if err != nil {
		return BlockResult{}, storeErr(err)
	}
	if res[0] == "disabled" {
		return BlockResult{}, ErrDisabled
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

// channel returns the configured channel's info, or ErrInvalid.
func (s *Store) channel(id string) (ChannelInfo, error) {
	info, ok := s.channels[id]
	if !ok {
		return ChannelInfo{}, fmt.Errorf("%w: unknown channel %q", ErrInvalid, id)
	}
	return info, nil
}

// notice returns a new envelope id and the stored payload of a lifecycle
// notice to the helpdesk.
func notice(typ string, now time.Time, data any) (string, []byte) {
	id := newID("evt_")
	d, _ := json.Marshal(data)
	return id, appendPayload(nil, id, typ, nil, now, nil, d)
}
