package blocklist

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// A ticket release moves the ticket's messages to the delivery stream in
// chunks, one short script each, so that no script holds Redis for long: a
// script blocks every other command, every channel's webhooks included.
//
// It starts with one script (detachLua, in the ticket release or the unblock)
// that renames the ticket's message list to the contact's release list,
// appends the lifecycle notices after the messages, records where the
// messages go in the contact's release hash, and removes the ticket from the
// indexes: the ticket is no longer open. Then releaseChunkScript moves the
// head of the release list to the stream, LPOP and XADD in one script, until
// the list is empty; the last chunk removes the release hash. The release
// list itself is the progress: every entry is in the list or in the stream,
// never both and never neither, whatever stops between two chunks. Anyone
// may move the next chunk — the request that started the release, a retry of
// it, the contact's next release or unblock, FinishReleases — and the entries
// still enter the stream once each, in order.
//
// While the release hash exists, every other stream entry of the contact
// (forwarded and recorded messages, lifecycle notices) is appended to the
// release list rather than the stream (emit): it enters the stream after
// what the release has still to move, so the contact's deliveries keep the
// order in which they were stored. Queued messages go to the contact's
// ticket as always: a ticket release leaves the contact blocked, and its next
// message opens a new ticket, which a later release moves only once this one
// is done.

// Defaults of the release's chunks.
const (
	// DefaultReleaseChunk is how many entries one release script moves.
	DefaultReleaseChunk = 200
	// ReleaseChunkBytes bounds the bytes one release script moves: a chunk
	// ends at the first entry past it.
	ReleaseChunkBytes = 1 << 20
)

// entryLua defines the functions of the scripts that write a contact's
// deliveries:
//
//   - emit(kq, krel, krl, f) adds the stream entry of field list f to the
//     delivery stream kq, or, while the contact has a release in progress
//     (the hash krel exists), appends it to the release list krl.
//   - packEntry(f) and unpackEntry(s) store a field list in a release list:
//     "[" then each value as <length>:<bytes>, which keeps any bytes as they
//     are. Ticket messages in the list are JSON objects: they start with "{".
const entryLua = `
local function packEntry(f)
  local parts = {}
  for i, v in ipairs(f) do parts[i] = #v .. ':' .. v end
  return '[' .. table.concat(parts)
end
local function unpackEntry(s)
  local f, i = {}, 2
  while i <= #s do
    local c = string.find(s, ':', i, true)
    local n = tonumber(string.sub(s, i, c - 1))
    f[#f + 1] = string.sub(s, c + 1, c + n)
    i = c + n + 1
  end
  return f
end
local function emit(kq, krel, krl, f)
  if redis.call('EXISTS', krel) == 1 then
    redis.call('RPUSH', krl, packEntry(f))
  else
    redis.call('XADD', kq, '*', unpack(f))
  end
end
`

// detachLua starts the release of the open ticket: it expects the locals kt
// (ticket), ktm (ticket messages), kidx, kcidx (indexes), krel, krl (release
// hash and list), krels (releases index), tid, member, now, ch, ct, co, conv,
// target and queue, and sets n (the messages released) and dropped (the
// messages the ticket dropped). The contact must have no release in
// progress. The caller appends the notices to krl.
const detachLua = `
n = redis.call('LLEN', ktm)
dropped = redis.call('HGET', kt, 'dropped') or '0'
if n > 0 then redis.call('RENAME', ktm, krl) end
redis.call('HSET', krel, 'ticket', tid, 'n', n, 'ch', ch, 'ct', ct, 'co', co, 'conv', conv,
  'target', target, 'queue', queue)
redis.call('ZADD', krels, now, member)
redis.call('DEL', kt)
redis.call('ZREM', kidx, tid)
redis.call('ZREM', kcidx, tid)
`

// idTypeLua defines idType(m), which reads a ticket message's id and type
// for its delivery entry. The stored form starts {"id":"evt_...","type":"...",
// and only the type's JSON string is decoded, never the whole message: its
// raw event, the platform's, may be one Redis's cjson refuses (nested over
// 1000 deep, a lone surrogate escape), and an entry must never make a chunk
// fail, or the release never ends and every later delivery of the contact
// waits behind it. A message not in the stored form goes all the same,
// unchanged, with what can be read of it.
const idTypeLua = `
local function idType(m)
  local id, typ = string.match(m, '^{"id":"([^"\\]*)","type":"([^"\\]*)"')
  if id then return id, typ end
  local at
  id, at = string.match(m, '^{"id":"([^"\\]*)","type":()"')
  if id then
    local i = at + 1
    while i <= #m do
      local c = string.byte(m, i)
      if c == 34 then
        local ok, v = pcall(cjson.decode, string.sub(m, at, i))
        if ok and type(v) == 'string' then return id, v end
        break
      end
      if c == 92 then i = i + 2 else i = i + 1 end
    end
  end
  local ok, p = pcall(cjson.decode, m)
  if ok and type(p) == 'table' then
    if type(p['id']) == 'string' then id = p['id'] end
    if type(p['type']) == 'string' then typ = p['type'] end
  end
  return id or '', typ or ''
end
`

// releaseChunkScript moves the next entries of the contact's release to the
// delivery stream: up to ARGV[1] entries, ending at the first past ARGV[4]
// bytes. The last chunk removes the release hash, its index member and the
// ticket id key. Redis Cluster wants every key a script touches in KEYS, so
// the caller reads the release's ticket id first and passes its key; when
// the release is another ticket's by the time the script runs (that one
// finished and the next began), the script changes nothing and answers
// changed. It returns the entries left, 0 when the release is done now, -1
// when there is none in progress, -2 when it is not ARGV[3]'s.
//
// KEYS: 1 release, 2 release list, 3 delivery stream, 4 releases index,
// 5 ticket id key of ARGV[3]
// ARGV: 1 max entries, 2 index member, 3 ticket id, 4 max bytes
var releaseChunkScript = redis.NewScript(entryLua + idTypeLua + `
local r = redis.call('HMGET', KEYS[1], 'ticket', 'ch', 'ct', 'co', 'conv', 'target', 'queue')
if not r[1] then return -1 end
if r[1] ~= ARGV[3] then return -2 end
local ch, ct, co, conv, target, queue = r[2], r[3], r[4], r[5], r[6], r[7]
local moved, bytes = 0, 0
local max, maxBytes = tonumber(ARGV[1]), tonumber(ARGV[4])
while moved < max and bytes < maxBytes do
  local m = redis.call('LPOP', KEYS[2])
  if not m then break end
  moved, bytes = moved + 1, bytes + #m
  if string.sub(m, 1, 1) == '[' then
    redis.call('XADD', KEYS[3], '*', unpack(unpackEntry(m)))
  else
    local id, typ = idType(m)
    redis.call('XADD', KEYS[3], '*', 'id', id, 'tgt', target, 'type', typ, 'ch', ch,
      'ct', ct, 'co', co, 'conv', conv, 'route', target, 'queue', queue, 'auto', '1', 'blk', '1', 'ev', m)
  end
end
local left = redis.call('LLEN', KEYS[2])
if left == 0 then
  redis.call('DEL', KEYS[1], KEYS[5])
  redis.call('ZREM', KEYS[4], ARGV[2])
end
return left
`)

// maxChanges bounds how often a store call reads a ticket id again because
// the contact's ticket or release changed between its read and its script.
// Each change is another call's progress (a release finished, a ticket
// opened), so it takes a contact under constant change to use them up.
const maxChanges = 10

// finishRelease moves the contact's release in progress, if any, to the
// delivery stream, chunk by chunk. On error the release stays in progress
// where it stopped; any later call goes on from there.
func (s *Store) finishRelease(ctx context.Context, channel, contact string) error {
	k := keysOf(channel, contact)
	for range maxChanges {
		tid, err := s.rdb.HGet(ctx, k.release, "ticket").Result()
		if err == redis.Nil {
			return nil
		}
		if err != nil {
			return storeErr(err)
		}
		keys := []string{k.release, k.releaseMessages, k.queue, k.releases, k.ticketID(tid)}
		for {
			left, err := releaseChunkScript.Run(ctx, s.rdb, keys,
				s.releaseChunk, member(channel, contact), tid, ReleaseChunkBytes).Int()
			if err != nil {
				return storeErr(err)
			}
			if left == -2 {
				break // another ticket's release now: read its id
			}
			if left <= 0 {
				return nil
			}
		}
	}
	return fmt.Errorf("%w: the release of %s/%s changed %d times while moving it", ErrUnavailable, channel, contact, maxChanges)
}

// ReleaseError is the failure of one contact's release in FinishReleases.
type ReleaseError struct {
	// Channel and Contact name the contact.
	Channel, Contact string
	// Err is why its release did not finish.
	Err error
}

func (e *ReleaseError) Error() string {
	return fmt.Sprintf("release of %s/%s: %v", e.Channel, e.Contact, e.Err)
}

func (e *ReleaseError) Unwrap() error { return e.Err }

// FinishReleases finishes every ticket release left in progress — by a
// replica that stopped, or a request whose store call failed between two
// chunks — and returns how many it finished. Releases in progress are
// finished by their own request too, and by the contact's next release or
// unblock; this is for those nobody returns to. It is safe to run alongside
// any of them, on every replica. A release that fails does not hold back the
// others: FinishReleases goes on with them and returns the failures joined,
// each contact's a *ReleaseError.
func (s *Store) FinishReleases(ctx context.Context) (int, error) {
	done := 0
	var errs []error
	for b := range Buckets {
		if err := ctx.Err(); err != nil {
			return done, errors.Join(append(errs, err)...)
		}
		members, err := s.rdb.ZRange(ctx, keysOfBucket(b).releases, 0, -1).Result()
		if err != nil {
			errs = append(errs, fmt.Errorf("releases of bucket %d: %w", b, storeErr(err)))
			continue
		}
		for _, m := range members {
			channel, contact, ok := strings.Cut(m, "\x00")
			if !ok {
				continue
			}
			if err := s.finishRelease(ctx, channel, contact); err != nil {
				errs = append(errs, &ReleaseError{Channel: channel, Contact: contact, Err: err})
				continue
			}
			done++
		}
	}
	return done, errors.Join(errs...)
}
