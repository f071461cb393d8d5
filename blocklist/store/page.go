package store

import (
	"context"
	"encoding/base64"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Scored is a member of a per-bucket index with its score.
type Scored struct {
	Score int64
	ID    string
}

// less orders members by score, then id: the order of a sorted set (whose
// equal scores are ordered by member, bytewise) and of every listing.
func (a Scored) less(b Scored) bool {
	if a.Score != b.Score {
		return a.Score < b.Score
	}
	return a.ID < b.ID
}

// FetchFunc reads, for every source i with counts[i] > 0, up to counts[i]
// members in the page's order, starting at the score of from inclusive (from
// the start when from is nil). The members of one source must come in the
// page's order, which MergePage checks nothing of.
type FetchFunc func(ctx context.Context, from *Scored, counts []int64) ([][]Scored, error)

// pageMargin is read beyond the page from every source, so that members
// sharing the cursor's score (read again and skipped) rarely make a second
// read necessary.
const pageMargin = 64

// MergePage merges one page of limit members over sources ordered indexes
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
func MergePage(ctx context.Context, sources int, desc bool, limit int, cursor string, validID func(string) bool, fetch FetchFunc) ([]Scored, string, error) {
	if limit < 1 || limit > MaxListLimit {
		return nil, "", fmt.Errorf("%w: limit must be 1 to %d", ErrInvalid, MaxListLimit)
	}
	var from *Scored
	if cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(cursor)
		sc, id, ok := strings.Cut(string(b), ":")
		v, perr := strconv.ParseInt(sc, 10, 64)
		if err != nil || !ok || perr != nil || !validID(id) {
			return nil, "", fmt.Errorf("%w: bad cursor", ErrInvalid)
		}
		from = &Scored{v, id}
	}
	// after reports whether m comes after the cursor in the page's order.
	after := func(m Scored) bool {
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
	got := make([][]Scored, sources)
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
	var all []Scored
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
	return all, base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(last.Score, 10) + ":" + last.ID)), nil
}

// ScoreIndex is a listing over sorted sets: one or more per bucket, scored
// by time, members the listed ids.
type ScoreIndex struct {
	// Keys are the sorted sets to merge.
	Keys []string
	// Desc lists the highest score first.
	Desc bool
	// Min is the lowest score a descending listing lists; "" for no bound.
	Min string
}

// PerBucket returns key(b) of every bucket.
func PerBucket(key func(b int) string) []string {
	keys := make([]string, Buckets)
	for b := range keys {
		keys[b] = key(b)
	}
	return keys
}

// PageByScore merges one page of the sorted sets of ix (see MergePage).
func (c *Core) PageByScore(ctx context.Context, ix ScoreIndex, limit int, cursor string, validID func(string) bool) ([]Scored, string, error) {
	lo := ix.Min
	if lo == "" {
		lo = "-inf"
	}
	fetch := func(ctx context.Context, from *Scored, counts []int64) ([][]Scored, error) {
		cmds := make([]*redis.ZSliceCmd, len(ix.Keys))
		_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, key := range ix.Keys {
				if counts[i] == 0 {
					continue
				}
				// From the cursor's score inclusive: members sharing it are
				// ordered by id in MergePage.
				r := &redis.ZRangeBy{Min: lo, Max: "+inf", Count: counts[i]}
				if ix.Desc {
					if from != nil {
						r.Max = strconv.FormatInt(from.Score, 10)
					}
					cmds[i] = p.ZRevRangeByScoreWithScores(ctx, key, r)
				} else {
					if from != nil {
						r.Min = strconv.FormatInt(from.Score, 10)
					}
					cmds[i] = p.ZRangeByScoreWithScores(ctx, key, r)
				}
			}
			return nil
		})
		if err != nil {
			return nil, Err(err)
		}
		out := make([][]Scored, len(cmds))
		for i, c := range cmds {
			if c == nil {
				continue
			}
			for _, z := range c.Val() {
				id, _ := z.Member.(string)
				out[i] = append(out[i], Scored{int64(z.Score), id})
			}
		}
		return out, nil
	}
	return MergePage(ctx, len(ix.Keys), ix.Desc, limit, cursor, validID, fetch)
}
