package blocklist

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

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
	// Limit is the page size, 1 to MaxListLimit.
	Limit int
	// Cursor is the NextCursor of the previous page, or "".
	Cursor string
}

// RecentContacts returns the contacts whose events were received lately,
// newest first, and the cursor of the next page ("" after the last). The
// index is written by Ingest and bounded: per channel and bucket the newest
// RecentContacts (Config) contacts, none older than RecentContactsAge.
func (s *Store) RecentContacts(ctx context.Context, req RecentRequest) ([]RecentContact, string, error) {
	chans := slices.Sorted(maps.Keys(s.channels))
	if req.Channel != "" {
		if _, err := s.channel(req.Channel); err != nil {
			return nil, "", err
		}
		chans = []string{req.Channel}
	}
	keys := make([]string, 0, Buckets*len(chans))
	for b := range Buckets {
		for _, ch := range chans {
			keys = append(keys, keysOfBucket(b).recent(ch))
		}
	}
	valid := func(id string) bool {
		ch, co, ok := strings.Cut(id, "\x00")
		return ok && ch != "" && ValidateContact(co) == nil
	}
	now := s.now()
	ix := scoreIndex{keys: keys, desc: true, min: strconv.FormatInt(ms(now.Add(-RecentContactsAge)), 10)}
	page, next, err := s.pageByScore(ctx, ix, req.Limit, req.Cursor, valid)
	if err != nil {
		return nil, "", err
	}
	previews := make([]*redis.StringCmd, len(page))
	blocks := make([]*redis.MapStringStringCmd, len(page))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, m := range page {
			ch, co, _ := strings.Cut(m.id, "\x00")
			k := keysOf(ch, co)
			previews[i] = p.HGet(ctx, k.recentPreview(ch), m.id)
			blocks[i] = p.HGetAll(ctx, k.block)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, "", storeErr(err)
	}
	out := make([]RecentContact, len(page))
	for i, m := range page {
		ch, co, _ := strings.Cut(m.id, "\x00")
		_, blocked := entryFrom(blocks[i].Val(), now)
		out[i] = RecentContact{
			Channel: ch, Contact: co, LastMessageAt: fromMS(m.score),
			Preview: previews[i].Val(), Blocked: blocked,
		}
	}
	return out, next, nil
}
