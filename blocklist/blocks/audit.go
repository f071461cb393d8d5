package blocks

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/redis/go-redis/v9"
)

// AuditRecord is one admin action.
type AuditRecord struct {
	// At is when the action happened.
	At time.Time `json:"at"`
	// Actor is the name of the admin token that acted.
	Actor string `json:"actor"`
	// Action is what was done: block, unblock, settings.update, ...
	Action string `json:"action"`
	// Channel and Contact name the contact acted on, if any.
	Channel string `json:"channel"`
	Contact string `json:"contact"`
	// Ticket names the blocked ticket acted on, if any.
	Ticket string `json:"ticket"`
	// Detail says more, in a few words.
	Detail string `json:"detail"`
}

// Audit returns one page of audit records, newest first, merged over every
// bucket, and the cursor of the next page ("" after the last). Records are
// ordered by their stream ids (the time the store added them, then a
// sequence) and then their bucket, so pages neither skip nor repeat one.
func (s *Registry) Audit(ctx context.Context, limit int, cursor string) ([]AuditRecord, string, error) {
	recs := map[store.Scored]AuditRecord{}
	fetch := func(ctx context.Context, from *store.Scored, counts []int64) ([][]store.Scored, error) {
		end := "+"
		if from != nil {
			// An id of milliseconds alone ends at the last sequence of that
			// millisecond: the cursor's millisecond inclusive.
			end = strconv.FormatInt(from.Score, 10)
		}
		cmds := make([]*redis.XMessageSliceCmd, store.Buckets)
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for b, n := range counts {
				if n > 0 {
					cmds[b] = p.XRevRangeN(ctx, store.KeysOfBucket(b).Audit, end, "-", n)
				}
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, store.Err(err)
		}
		out := make([][]store.Scored, store.Buckets)
		for b, c := range cmds {
			if c == nil {
				continue
			}
			for _, m := range c.Val() {
				at, seq, _ := strings.Cut(m.ID, "-")
				v, err1 := strconv.ParseInt(at, 10, 64)
				q, err2 := strconv.ParseUint(seq, 10, 64)
				if err1 != nil || err2 != nil {
					return nil, fmt.Errorf("blocklist: audit: bad stream id %q", m.ID)
				}
				sc := store.Scored{Score: v, ID: auditID(q, b)}
				recs[sc] = auditFrom(m.Values)
				out[b] = append(out[b], sc)
			}
		}
		return out, nil
	}
	page, next, err := store.MergePage(ctx, store.Buckets, true, limit, cursor, validAuditID, fetch)
	if err != nil {
		return nil, "", err
	}
	out := make([]AuditRecord, len(page))
	for i, m := range page {
		out[i] = recs[m]
	}
	return out, next, nil
}

// auditID is a record's id in the merged order, after its stream id's
// milliseconds (the score): the sequence, zero-padded so that ids compare as
// the numbers do, and the bucket.
func auditID(seq uint64, bucket int) string { return fmt.Sprintf("%020d.%02d", seq, bucket) }

func validAuditID(id string) bool {
	seq, b, ok := strings.Cut(id, ".")
	q, err1 := strconv.ParseUint(seq, 10, 64)
	n, err2 := strconv.Atoi(b)
	return ok && err1 == nil && err2 == nil && n >= 0 && n < store.Buckets && id == auditID(q, n)
}

func auditFrom(v map[string]any) AuditRecord {
	str := func(k string) string { s, _ := v[k].(string); return s }
	at, _ := strconv.ParseInt(str("at"), 10, 64)
	return AuditRecord{
		At: store.FromMillis(at), Actor: str("actor"), Action: str("action"), Channel: str("channel"),
		Contact: str("contact"), Ticket: str("ticket"), Detail: str("detail"),
	}
}
