package tickets

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/redis/go-redis/v9"
)

// Conversation is a contact's latest conversation with the messages recorded
// on it.
type Conversation struct {
	// ID names the conversation.
	ID string `json:"id"`
	// Channel and Contact name the contact.
	Channel string `json:"channel"`
	Contact string `json:"contact"`
	// Status is open, ended or blocked.
	Status string `json:"status"`
	// StartedAt is when its first message arrived.
	StartedAt time.Time `json:"started_at"`
	// EndedAt is when it ended, if it did.
	EndedAt *time.Time `json:"ended_at,omitempty"`
	// Messages are the recorded messages, oldest first, each with the
	// decision taken on it: {"decision": "...", "message": {...}}.
	Messages []json.RawMessage `json:"messages"`
}

// GetConversation returns the contact's latest conversation, or store.ErrNotFound.
func (s *Desk) GetConversation(ctx context.Context, channel, contact string) (Conversation, error) {
	if err := store.ValidateContact(contact); err != nil {
		return Conversation{}, err
	}
	k := store.KeysOf(channel, contact)
	var h *redis.MapStringStringCmd
	var msgs *redis.StringSliceCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		h = p.HGetAll(ctx, k.Conv)
		msgs = p.LRange(ctx, k.ConvMessages, 0, -1)
		return nil
	})
	if err != nil {
		return Conversation{}, store.Err(err)
	}
	v := h.Val()
	if v["id"] == "" {
		return Conversation{}, fmt.Errorf("%w: no conversation", store.ErrNotFound)
	}
	started, _ := strconv.ParseInt(v["started_at"], 10, 64)
	c := Conversation{
		ID: v["id"], Channel: v["channel"], Contact: v["contact"], Status: v["status"],
		StartedAt: store.FromMillis(started), Messages: make([]json.RawMessage, len(msgs.Val())),
	}
	if e, err := strconv.ParseInt(v["ended_at"], 10, 64); err == nil {
		t := store.FromMillis(e)
		c.EndedAt = &t
	}
	for i, m := range msgs.Val() {
		c.Messages[i] = json.RawMessage(m)
	}
	return c, nil
}
