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

// scored is a member of a per-bucket index with its score.
type scored struct {
	score int64
	id    string
}

// less orders members by score, then id: the order of a sorted set (whose
// equal scores are ordered by member, bytewise) and of every listing.
func (a scored) less(b scored) bool {
	if a.score != b.score {
		return a.score < b.score
	}
	return a.id < b.id
}

// fetchFunc reads, for every source i with counts[i] > 0, up to counts[i]
// members in the page's order, starting at the score of from inclusive (from
// the start when from is nil). The members of one source must come in the
// page's order, which mergePage checks nothing of.
type fetchFunc func(ctx context.Context, from *scored, counts []int64) ([][]scored, error)

// pageMargin is read beyond the page from every source, so that members
// sharing the cursor's score (read again and skipped) rarely make a second
// read necessary.
const pageMargin = 64

// mergePage merges one page of limit members over sources ordered indexes
// (one or more per bucket), in (score, id) order — descending when desc —
// after the cursor: the text "score:id" of the last member of the previous
// page, base64url, whose id validID checks. It returns the members and the
// next page's cursor ("" after the last page). Every listing over the buckets
// pages through it.
//
// A source read to its count may hold more members. Its members after the
// cursor are enough when they are at least limit: the ones not read come
// after all of them. When fewer are left — more members than the margin
// share the cursor's score — that source is read again with a larger count,
// so a page never skips a member.
func mergePage(ctx context.Context, sources int, desc bool, limit int, cursor string, validID func(string) bool, fetch fetchFunc) ([]scored, string, error) {
	if limit < 1 || limit > MaxListLimit {
		return nil, "", fmt.Errorf("%w: limit must be 1 to %d", ErrInvalid, MaxListLimit)
	}
	var from *scored
	if cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(cursor)
		sc, id, ok := strings.Cut(string(b), ":")
		v, perr := strconv.ParseInt(sc, 10, 64)
		if err != nil || !ok || perr != nil || !validID(id) {
			return nil, "", fmt.Errorf("%w: bad cursor", ErrInvalid)
		}
		from = &scored{v, id}
	}
	// after reports whether m comes after the cursor in the page's order.
	after := func(m scored) bool {
		if from == nil {
			return true
		}
		if desc {
			return m.less(*from)
		}
		return from.less(m)
	}
	counts := make([]int64, sources)
	for i := range counts {
		counts[i] = int64(limit) + pageMargin
	}
	got := make([][]scored, sources)
	full := make([]bool, sources) // the source's last read stopped at its count
	for {
		res, err := fetch(ctx, from, counts)
		if err != nil {
			return nil, "", err
		}
		again := false
		for i, n := range counts {
			if n == 0 {
				continue
			}
			got[i] = got[i][:0]
			for _, m := range res[i] {
				if after(m) {
					got[i] = append(got[i], m)
				}
			}
			full[i] = int64(len(res[i])) >= n
			counts[i] = 0
			if full[i] && len(got[i]) < limit {
				counts[i], again = 4*n, true
			}
		}
		if !again {
			break
		}
	}
	var all []scored
	more := false // some source holds members beyond those read
	for i, g := range got {
		all = append(all, g...)
		more = more || full[i]
	}
	sort.Slice(all, func(i, j int) bool {
		if desc {
			return all[j].less(all[i])
		}
		return all[i].less(all[j])
	})
	if len(all) < limit || len(all) == limit && !more {
		return all, "", nil
	}
	all = all[:limit]
	last := all[limit-1]
	return all, base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(last.score, 10) + ":" + last.id)), nil
}

// scoreIndex is a listing over sorted sets: one or more per bucket, scored
// by time, members the listed ids.
type scoreIndex struct {
	// keys are the sorted sets to merge.
	keys []string
	// desc lists the highest score first.
	desc bool
	// min is the lowest score a descending listing lists; "" for no bound.
	min string
}

// perBucket returns key(b) of every bucket.
func perBucket(key func(b int) string) []string {
	keys := make([]string, Buckets)
	for b := range keys {
		keys[b] = key(b)
	}
	return keys
}

// pageByScore merges one page of the sorted sets of ix (see mergePage).
func (s *Store) pageByScore(ctx context.Context, ix scoreIndex, limit int, cursor string, validID func(string) bool) ([]scored, string, error) {
	lo := ix.min
	if lo == "" {
		lo = "-inf"
	}
	fetch := func(ctx context.Context, from *scored, counts []int64) ([][]scored, error) {
		cmds := make([]*redis.ZSliceCmd, len(ix.keys))
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, key := range ix.keys {
				if counts[i] == 0 {
					continue
				}
				// From the cursor's score inclusive: members sharing it are
				// ordered by id in mergePage.
				r := &redis.ZRangeBy{Min: lo, Max: "+inf", Count: counts[i]}
				if ix.desc {
					if from != nil {
						r.Max = strconv.FormatInt(from.score, 10)
					}
					cmds[i] = p.ZRevRangeByScoreWithScores(ctx, key, r)
				} else {
					if from != nil {
						r.Min = strconv.FormatInt(from.score, 10)
					}
					cmds[i] = p.ZRangeByScoreWithScores(ctx, key, r)
				}
			}
			return nil
		})
		if err != nil {
			return nil, storeErr(err)
		}
		out := make([][]scored, len(cmds))
		for i, c := range cmds {
			if c == nil {
				continue
			}
			for _, z := range c.Val() {
				id, _ := z.Member.(string)
				out[i] = append(out[i], scored{int64(z.Score), id})
			}
		}
		return out, nil
	}
	return mergePage(ctx, len(ix.keys), ix.desc, limit, cursor, validID, fetch)
}
