package blocks

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/redis/go-redis/v9"
)

// blockScript stores a block entry, adds it to the bucket's index, ends the
// contact's open conversation with status blocked, tells the helpdesk
// (contact.blocked, and conversation.ended when one ended) and appends the
// audit record, all or nothing. Every read that can refuse comes before the
// first write, so a refusal leaves no trace.
//
// The notices of a contact with a ticket release in progress wait at the end
// of the release (enqueue; see tickets/release.go). See lua/block.lua.
var blockScript = store.NewScript[blockKeys, blockArgs](luaFiles, "block", "entry", "audit", "contact")

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

// Block blocks a contact, replacing any block it had. It wraps store.ErrDisabled
// when the feature is off and store.ErrInvalid for a bad request; in either case,
// and on store.ErrUnavailable, nothing is stored.
func (s *Registry) Block(ctx context.Context, req BlockRequest) (BlockResult, error) {
	now := s.db.Now().Truncate(time.Millisecond)
	if err := validateBlock(req, now); err != nil {
		return BlockResult{}, err
	}
	info, err := s.db.Channel(req.Channel)
	if err != nil {
		return BlockResult{}, err
	}
	k := store.KeysOf(req.Channel, req.Contact)
	expires, detail := "", "action="+string(req.Action)
	e := Entry{
		Channel: req.Channel, Contact: req.Contact, Note: req.Note, Action: req.Action,
		BlockedBy: req.Actor, BlockedAt: now.UTC(),
	}
	if req.ExpiresAt != nil {
		t := store.FromMillis(store.Millis(*req.ExpiresAt))
		e.ExpiresAt = &t
		expires = strconv.FormatInt(store.Millis(t), 10)
		detail += " expires_at=" + t.Format(time.RFC3339)
	}
	blockedID, blockedP := store.Notice("contact.blocked", now, e)
	endedID, endedP := store.Notice("conversation.ended", now, map[string]string{"status": "blocked", "reason": "contact.blocked"})
	res, err := blockScript.Write(ctx, s.db,
		blockKeys{
			Settings: k.Settings, Block: k.Block, Blocked: k.Blocked, Audit: k.Audit, Conv: k.Conv,
			Stream: k.Queue, Release: k.Release, ReleaseMessages: k.ReleaseMessages,
		},
		blockArgs{
			Channel: req.Channel, Contact: req.Contact, Note: req.Note, Action: string(req.Action),
			Actor: req.Actor, Now: store.Millis(now), Expires: expires, Member: store.Member(req.Channel, req.Contact),
			DefaultEnabled: s.db.DefaultEnabled(), Detail: detail, ChannelType: info.Type,
			BlockedID: blockedID, BlockedPayload: blockedP, EndedID: endedID, EndedPayload: endedP,
		},
	).StringSlice()
	if err != nil {
		return BlockResult{}, store.Err(err)
	}
	if res[0] == "disabled" {
		return BlockResult{}, store.ErrDisabled
	}
	return BlockResult{Entry: e, EndedConversation: res[1]}, nil
}

func validateBlock(req BlockRequest, now time.Time) error {
	if err := store.ValidateContact(req.Contact); err != nil {
		return err
	}
	switch {
	case req.Channel == "":
		return fmt.Errorf("%w: channel is empty", store.ErrInvalid)
	case !req.Action.Valid():
		return fmt.Errorf("%w: action must be queue or record", store.ErrInvalid)
	case !utf8.ValidString(req.Note):
		return fmt.Errorf("%w: note is not valid UTF-8", store.ErrInvalid)
	case utf8.RuneCountInString(req.Note) > MaxNoteRunes:
		return fmt.Errorf("%w: note is longer than %d characters", store.ErrInvalid, MaxNoteRunes)
	case req.Actor == "" || len(req.Actor) > store.MaxActorBytes:
		return fmt.Errorf("%w: actor must be 1 to %d bytes", store.ErrInvalid, store.MaxActorBytes)
	case req.ExpiresAt != nil && !req.ExpiresAt.After(now):
		return fmt.Errorf("%w: expires_at must be in the future", store.ErrInvalid)
	}
	return nil
}

// Get returns the contact's block entry, or store.ErrNotFound when the contact is
// not blocked (never blocked, unblocked, or the block expired).
func (s *Registry) Get(ctx context.Context, channel, contact string) (Entry, error) {
	if err := store.ValidateContact(contact); err != nil {
		return Entry{}, err
	}
	v, err := s.rdb.HGetAll(ctx, store.KeysOf(channel, contact).Block).Result()
	if err != nil {
		return Entry{}, store.Err(err)
	}
	e, ok := entryFrom(v, s.db.Now())
	if !ok {
		return Entry{}, store.ErrNotFound
	}
	return e, nil
}

// IsBlocked reports whether the contact is blocked and the feature is on: the
// check outbound replies make. It reads the bucket's own copy of the setting
// and the entry in one round trip.
func (s *Registry) IsBlocked(ctx context.Context, channel, contact string) (bool, error) {
	k := store.KeysOf(channel, contact)
	var enabled *redis.StringCmd
	var entry *redis.MapStringStringCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		enabled = p.HGet(ctx, k.Settings, settingEnabled)
		entry = p.HGetAll(ctx, k.Block)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return false, store.Err(err)
	}
	on := s.db.DefaultEnabled()
	if v, err := enabled.Result(); err == nil {
		on = v == "1"
	}
	if !on {
		return false, nil
	}
	_, blocked := entryFrom(entry.Val(), s.db.Now())
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
		BlockedBy: v["blocked_by"], BlockedAt: store.FromMillis(at),
	}
	if x, err := strconv.ParseInt(v["expires_at"], 10, 64); err == nil {
		t := store.FromMillis(x)
		if !t.After(now) {
			return Entry{}, false
		}
		e.ExpiresAt = &t
	}
	return e, true
}

// Action is what happens to a blocked contact's new messages.
type Action string

// MaxNoteRunes bounds a block note.
const MaxNoteRunes = 1000

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
