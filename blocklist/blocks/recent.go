package blocks

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/redis/go-redis/v9"
)

// RecentContact is a contact who wrote lately: the recent-contacts listing's
// item.
type RecentContact struct {
	// Channel and Contact name the contact.
	Channel string `json:"channel"`
	Contact string `json:"contact"`
	// LastMessageAt is when the contact's latest event was received.
	LastMessageAt time.Time `json:"last_message_at"`
	// Preview is the first PreviewRunes characters of the latest event's
	// text; "" when it had none.
	Preview string `json:"preview"`
	// Blocked says whether the contact has a block entry now.
	Blocked bool `json:"blocked"`
}

// RecentRequest asks for one page of recent contacts.
type RecentRequest struct {
	// Channel, when set, keeps only that channel's contacts.
	Channel string
	// Limit is the page size, 1 to store.MaxListLimit.
	Limit int
	// Cursor is the NextCursor of the previous page, or "".
	Cursor string
}

// RecentContacts returns the contacts whose events were received lately,
// newest first, and the cursor of the next page ("" after the last). The
// index is written by Ingest and bounded: per channel and bucket the newest
// decision.Config.RecentContacts contacts, none older than store.RecentContactsAge.
func (s *Registry) RecentContacts(ctx context.Context, req RecentRequest) ([]RecentContact, string, error) {
	chans := s.db.Channels()
	if req.Channel != "" {
		if _, err := s.db.Channel(req.Channel); err != nil {
			return nil, "", err
		}
		chans = []string{req.Channel}
	}
	keys := make([]string, 0, store.Buckets*len(chans))
	for b := range store.Buckets {
		for _, ch := range chans {
			keys = append(keys, store.KeysOfBucket(b).Recent(ch))
		}
	}
	valid := func(id string) bool {
		ch, co, ok := strings.Cut(id, "\x00")
		return ok && ch != "" && store.ValidateContact(co) == nil
	}
	now := s.db.Now()
	ix := store.ScoreIndex{Keys: keys, Desc: true, Min: strconv.FormatInt(store.Millis(now.Add(-store.RecentContactsAge)), 10)}
	page, next, err := s.db.PageByScore(ctx, ix, req.Limit, req.Cursor, valid)
	if err != nil {
		return nil, "", err
	}
	previews := make([]*redis.StringCmd, len(page))
	blocks := make([]*redis.MapStringStringCmd, len(page))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, m := range page {
			ch, co, _ := strings.Cut(m.ID, "\x00")
			k := store.KeysOf(ch, co)
			previews[i] = p.HGet(ctx, k.RecentPreview(ch), m.ID)
			blocks[i] = p.HGetAll(ctx, k.Block)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, "", store.Err(err)
	}
	out := make([]RecentContact, len(page))
	for i, m := range page {
		ch, co, _ := strings.Cut(m.ID, "\x00")
		_, blocked := entryFrom(blocks[i].Val(), now)
		out[i] = RecentContact{
			Channel: ch, Contact: co, LastMessageAt: store.FromMillis(m.Score),
			Preview: previews[i].Val(), Blocked: blocked,
		}
	}
	return out, next, nil
}
