package tickets

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hookwall/hookwall/blocklist/store"
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
// release list rather than the stream (enqueue): it enters the stream after
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

// releaseChunkScript moves the next entries of the contact's release to the
// delivery stream (see lua/release_chunk.lua). Redis Cluster wants every key
// a script touches in KEYS, so the caller reads the release's ticket id first
// and passes its key; the script answers -2, changing nothing, when the
// release is another ticket's by then.
var releaseChunkScript = store.NewScript[releaseChunkKeys, releaseChunkArgs](luaFiles, "release_chunk", "entry", "idtype")

type releaseChunkKeys struct {
	Release         string `lua:"release"`
	ReleaseMessages string `lua:"release_messages"`
	Stream          string `lua:"stream"`
	Releases        string `lua:"releases"`
	TicketID        string `lua:"ticket_id"` // of Ticket
}

type releaseChunkArgs struct {
	Max      int    `lua:"max"` // entries
	Member   string `lua:"member"`
	Ticket   string `lua:"ticket"`
	MaxBytes int    `lua:"max_bytes"`
}

// maxChanges bounds how often a store call reads a ticket id again because
// the contact's ticket or release changed between its read and its script.
// Each change is another call's progress (a release finished, a ticket
// opened), so it takes a contact under constant change to use them up.
const maxChanges = 10

// FinishRelease moves the contact's release in progress, if any, to the
// delivery stream, chunk by chunk. On error the release stays in progress
// where it stopped; any later call goes on from there.
func (s *Desk) FinishRelease(ctx context.Context, channel, contact string) error {
	k := store.KeysOf(channel, contact)
	for range maxChanges {
		tid, err := s.rdb.HGet(ctx, k.Release, "ticket").Result()
		if err == redis.Nil {
			return nil
		}
		if err != nil {
			return store.Err(err)
		}
		keys := releaseChunkKeys{
			Release: k.Release, ReleaseMessages: k.ReleaseMessages, Stream: k.Queue, Releases: k.Releases,
			TicketID: k.TicketID(tid),
		}
		args := releaseChunkArgs{Max: s.releaseChunk, Member: store.Member(channel, contact), Ticket: tid, MaxBytes: ReleaseChunkBytes}
		for {
			left, err := releaseChunkScript.Write(ctx, s.db, keys, args).Int()
			if err != nil {
				return store.Err(err)
			}
			if left == -2 {
				break // another ticket's release now: read its id
			}
			if left <= 0 {
				return nil
			}
		}
	}
	return fmt.Errorf("%w: the release of %s/%s changed %d times while moving it", store.ErrUnavailable, channel, contact, maxChanges)
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
func (s *Desk) FinishReleases(ctx context.Context) (int, error) {
	done := 0
	var errs []error
	for b := range store.Buckets {
		if err := ctx.Err(); err != nil {
			return done, errors.Join(append(errs, err)...)
		}
		members, err := s.rdb.ZRange(ctx, store.KeysOfBucket(b).Releases, 0, -1).Result()
		if err != nil {
			errs = append(errs, fmt.Errorf("releases of bucket %d: %w", b, store.Err(err)))
			continue
		}
		for _, m := range members {
			channel, contact, ok := strings.Cut(m, "\x00")
			if !ok {
				continue
			}
			if err := s.FinishRelease(ctx, channel, contact); err != nil {
				errs = append(errs, &ReleaseError{Channel: channel, Contact: contact, Err: err})
				continue
			}
			done++
		}
	}
	return done, errors.Join(errs...)
}
