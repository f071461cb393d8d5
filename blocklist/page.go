package blocklist

import (
	"context"
	"encoding/base64"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// scored is a member of a per-bucket sorted set with its score.
type scored struct {
	score int64
	id    string
}

// pageByScore merges one page of the per-bucket sorted sets key(b) over
// every bucket, in (score, id) order, after the cursor — the text
// "score:id" of the last member of the previous page, base64url, which
// validID checks. It returns the members and the next page's cursor ("" after
// the last page).
func (s *Store) pageByScore(ctx context.Context, key func(b int) string, limit int, cursor string, validID func(string) bool) ([]scored, string, error) {
	if limit < 1 || limit > MaxListLimit {
		return nil, "", fmt.Errorf("%w: limit must be 1 to %d", ErrInvalid, MaxListLimit)
	}
	var after scored
	if cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(cursor)
		sc, id, ok := strings.Cut(string(b), ":")
		v, perr := strconv.ParseInt(sc, 10, 64)
		if err != nil || !ok || perr != nil || !validID(id) {
			return nil, "", fmt.Errorf("%w: bad cursor", ErrInvalid)
		}
		after = scored{v, id}
	}
	cmds := make([]*redis.ZSliceCmd, Buckets)
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for b := range Buckets {
			// From the cursor's score inclusive: ties on the score are
			// ordered by id below, and the margin reaches past them.
			cmds[b] = p.ZRangeByScoreWithScores(ctx, key(b), &redis.ZRangeBy{
				Min: strconv.FormatInt(after.score, 10), Max: "+inf", Count: int64(limit) + 64,
			})
		}
		return nil
	})
	if err != nil {
		return nil, "", storeErr(err)
	}
	var all []scored
	for _, c := range cmds {
		for _, z := range c.Val() {
			m := scored{int64(z.Score), z.Member.(string)}
			if cursor != "" && (m.score < after.score || m.score == after.score && m.id <= after.id) {
				continue
			}
			all = append(all, m)
		}
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].score != all[j].score {
			return all[i].score < all[j].score
		}
		return all[i].id < all[j].id
	})
	if len(all) <= limit {
		return all, "", nil
	}
	all = all[:limit]
	last := all[limit-1]
	return all, base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(last.score, 10) + ":" + last.id)), nil
}
