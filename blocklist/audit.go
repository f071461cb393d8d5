package blocklist

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

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

func auditArgs(key string, r AuditRecord) *redis.XAddArgs {
	return &redis.XAddArgs{
		Stream: key, MaxLen: auditMaxLen, Approx: true,
		Values: []any{
			"at", ms(r.At), "actor", r.Actor, "action", r.Action, "channel", r.Channel,
			"contact", r.Contact, "ticket", r.Ticket, "detail", r.Detail,
		},
	}
}

// Audit returns the newest limit audit records, newest first, merged over
// every bucket.
func (s *Store) Audit(ctx context.Context, limit int) ([]AuditRecord, error) {
	if limit < 1 || limit > MaxListLimit {
		return nil, fmt.Errorf("%w: limit must be 1 to %d", ErrInvalid, MaxListLimit)
	}
	cmds := make([]*redis.XMessageSliceCmd, Buckets)
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for b := range Buckets {
			cmds[b] = p.XRevRangeN(ctx, keysOfBucket(b).audit, "+", "-", int64(limit))
		}
		return nil
	})
	if err != nil && err != redis.Nil {
		return nil, storeErr(err)
	}
	type rec struct {
		AuditRecord
		id string
	}
	var all []rec
	for _, c := range cmds {
		for _, m := range c.Val() {
			all = append(all, rec{auditFrom(m.Values), m.ID})
		}
	}
	sort.SliceStable(all, func(i, j int) bool {
		if !all[i].At.Equal(all[j].At) {
			return all[i].At.After(all[j].At)
		}
		return all[i].id > all[j].id
	})
	if len(all) > limit {
		all = all[:limit]
	}
	out := make([]AuditRecord, len(all))
	for i, r := range all {
		out[i] = r.AuditRecord
	}
	return out, nil
}

func auditFrom(v map[string]any) AuditRecord {
	str := func(k string) string { s, _ := v[k].(string); return s }
	at, _ := strconv.ParseInt(str("at"), 10, 64)
	return AuditRecord{
		At: fromMS(at), Actor: str("actor"), Action: str("action"), Channel: str("channel"),
		Contact: str("contact"), Ticket: str("ticket"), Detail: str("detail"),
	}
}
