package blocks

import (
	"context"
	"encoding/base64"
	"fmt"
	"sort"
	"strings"

	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/redis/go-redis/v9"
)

// ListRequest asks for one page of blocked contacts.
type ListRequest struct {
	// Channel, when set, keeps only that channel's contacts.
	Channel string
	// Limit is the page size, 1 to store.MaxListLimit.
	Limit int
	// Cursor is the NextCursor of the previous page, or "" for the first.
	Cursor string
}

// List returns blocked contacts ordered by channel then contact, and the
// cursor of the next page ("" after the last). Expired blocks are left out
// and dropped from the index on the way.
func (s *Registry) List(ctx context.Context, req ListRequest) ([]Entry, string, error) {
	if req.Limit < 1 || req.Limit > store.MaxListLimit {
		return nil, "", fmt.Errorf("%w: limit must be 1 to %d", store.ErrInvalid, store.MaxListLimit)
	}
	after, err := decodeCursor(req.Cursor)
	if err != nil {
		return nil, "", err
	}
	lo, hi := "-", "+"
	if req.Channel != "" {
		lo, hi = "["+req.Channel+"\x00", "("+req.Channel+"\x01"
	}
	if after != "" && (req.Channel == "" || after >= req.Channel+"\x00") {
		lo = "(" + after
	}
	var out []Entry
	now := s.db.Now()
	for len(out) < req.Limit {
		members, more, err := s.nextMembers(ctx, lo, hi, req.Limit-len(out))
		if err != nil {
			return nil, "", err
		}
		entries, err := s.entries(ctx, members)
		if err != nil {
			return nil, "", err
		}
		var stale []string
		for i, m := range members {
			if e, ok := entryFrom(entries[i], now); ok {
				out = append(out, e)
			} else {
				stale = append(stale, m)
			}
		}
		s.dropStale(ctx, stale)
		if !more {
			return out, "", nil
		}
		lo = "(" + members[len(members)-1]
	}
	last := out[len(out)-1]
	return out, encodeCursor(store.Member(last.Channel, last.Contact)), nil
}

// nextMembers merges the next n index members after lo from every bucket; more
// says whether any bucket may hold members beyond those returned.
func (s *Registry) nextMembers(ctx context.Context, lo, hi string, n int) ([]string, bool, error) {
	cmds := make([]*redis.StringSliceCmd, store.Buckets)
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for b := range store.Buckets {
			cmds[b] = p.ZRangeByLex(ctx, store.KeysOfBucket(b).Blocked, &redis.ZRangeBy{Min: lo, Max: hi, Count: int64(n) + 1})
		}
		return nil
	})
	if err != nil {
		return nil, false, store.Err(err)
	}
	var all []string
	for _, c := range cmds {
		all = append(all, c.Val()...)
	}
	sort.Strings(all)
	if len(all) > n {
		return all[:n], true, nil
	}
	return all, false, nil
}

func (s *Registry) entries(ctx context.Context, members []string) ([]map[string]string, error) {
	cmds := make([]*redis.MapStringStringCmd, len(members))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, m := range members {
			ch, co, _ := strings.Cut(m, "\x00")
			cmds[i] = p.HGetAll(ctx, store.KeysOf(ch, co).Block)
		}
		return nil
	})
	if err != nil {
		return nil, store.Err(err)
	}
	out := make([]map[string]string, len(cmds))
	for i, c := range cmds {
		out[i] = c.Val()
	}
	return out, nil
}

// dropStale removes index members of expired blocks. A member is removed only
// if its block key is still absent, so a concurrent re-block is kept.
func (s *Registry) dropStale(ctx context.Context, members []string) {
	for _, m := range members {
		ch, co, _ := strings.Cut(m, "\x00")
		k := store.KeysOf(ch, co)
		_ = dropStaleScript.Run(ctx, s.rdb, dropStaleKeys{Block: k.Block, Blocked: k.Blocked}, dropStaleArgs{Member: m}).Err()
	}
}

var dropStaleScript = store.NewScript[dropStaleKeys, dropStaleArgs](luaFiles, "drop_stale")

type dropStaleKeys struct {
	Block   string `lua:"block"`
	Blocked string `lua:"blocked"`
}

type dropStaleArgs struct {
	Member string `lua:"member"`
}

func encodeCursor(m string) string { return base64.RawURLEncoding.EncodeToString([]byte(m)) }

func decodeCursor(c string) (string, error) {
	if c == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !strings.Contains(string(b), "\x00") || len(b) > 1024 {
		return "", fmt.Errorf("%w: bad cursor", store.ErrInvalid)
	}
	return string(b), nil
}
