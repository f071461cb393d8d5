package blocks

import (
	"context"

	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/redis/go-redis/v9"
)

// Counts returns the number of entries in the blocked-contacts indexes and
// of open tickets, over every bucket.
func (s *Registry) Counts(ctx context.Context) (blocked, tickets int64, err error) {
	bc := make([]*redis.IntCmd, store.Buckets)
	tc := make([]*redis.IntCmd, store.Buckets)
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for b := range store.Buckets {
			bc[b] = p.ZCard(ctx, store.KeysOfBucket(b).Blocked)
			tc[b] = p.ZCard(ctx, store.KeysOfBucket(b).Tickets)
		}
		return nil
	})
	if err != nil {
		return 0, 0, store.Err(err)
	}
	for b := range store.Buckets {
		blocked += bc[b].Val()
		tickets += tc[b].Val()
	}
	return blocked, tickets, nil
}
