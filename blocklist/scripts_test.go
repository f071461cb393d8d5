package blocklist_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hookwall/hookwall/blocklist/internal/storetest"

	"github.com/hookwall/hookwall/blocklist"
	"github.com/hookwall/hookwall/blocklist/blocks"
	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/hookwall/hookwall/internal/redistest"
)

// TestScriptsDeclareKeys runs every way a ticket ends — released in chunks,
// released by Unblock All, deleted, deleted by Delete All, kept by an
// unblock that may not touch it — and checks that
// each script touched only keys it declared in KEYS, as Redis Cluster
// requires. The Cluster itself checks only the slot, and a contact's keys
// share one, so the check reads what the scripts ran on one server.
func TestScriptsDeclareKeys(t *testing.T) {
	redistest.Parallel(t)
	srv := redistest.Start(t)
	rdb := srv.Client()
	s, err := blocklist.New(blocklist.Config{
		DefaultEnabled: true, ReleaseChunk: 2,
		Channels: map[string]store.ChannelInfo{"line-main": {Type: "line", DedupeWindow: time.Hour}},
	}, rdb)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.InitSettings(t.Context()); err != nil {
		t.Fatal(err)
	}
	w := srv.WatchScripts(t)

	for _, co := range []string{"U1", "U2", "U3", "U4"} {
		storetest.Block(t, s, "line-main", co)
	}
	id := storetest.Queue(t, s, "U1", storetest.Texts(1, 5)...)[0].Ticket
	if r, err := s.ReleaseTicket(t.Context(), id, "sam"); err != nil || r.Messages != 5 {
		t.Fatalf("release: %+v, %v", r, err)
	}
	storetest.Queue(t, s, "U2", storetest.Texts(1, 3)...)
	if res, err := s.Unblock(t.Context(), "line-main", "U2", "sam", blocks.TicketsRelease); err != nil || res.Released != 1 {
		t.Fatalf("Unblock All: %+v, %v", res, err)
	}
	storetest.Queue(t, s, "U3", storetest.Texts(1, 3)...)
	if res, err := s.Unblock(t.Context(), "line-main", "U3", "sam", blocks.TicketsDelete); err != nil || res.Deleted != 1 {
		t.Fatalf("Delete All: %+v, %v", res, err)
	}
	id = storetest.Queue(t, s, "U4", storetest.Texts(1, 3)...)[0].Ticket
	if err := s.DeleteTicket(t.Context(), id, "sam"); err != nil {
		t.Fatal(err)
	}
	if res, err := s.Unblock(t.Context(), "line-main", "U4", "alice", blocks.TicketsNone); err != nil || !res.Unblocked {
		t.Fatalf("unblock without a ticket: %+v, %v", res, err)
	}
	storetest.Block(t, s, "line-main", "U5")
	storetest.Queue(t, s, "U5", "m1")
	if _, err := s.Unblock(t.Context(), "line-main", "U5", "alice", blocks.TicketsNone); !errors.Is(err, store.ErrHasTicket) {
		t.Fatalf("unblock with no tickets of a contact with one: %v, want ErrHasTicket", err)
	}
	if res, err := s.Unblock(t.Context(), "line-main", "U5", "sam", blocks.TicketsDelete); err != nil || res.Deleted != 1 {
		t.Fatalf("Delete All: %+v, %v", res, err)
	}
	if n, err := s.FinishReleases(t.Context()); err != nil || n != 0 {
		t.Fatalf("FinishReleases: %d, %v; want none left", n, err)
	}

	if runs := w.Check(); len(runs) == 0 {
		t.Fatal("the watch saw no script run")
	}
	if want := slices.Concat([]string{"contact.blocked"}, storetest.Texts(1, 5), []string{"ticket.released"}); !slices.Equal(storetest.Delivered(t, rdb, "U1"), want) {
		t.Errorf("U1's stream %v, want %v", storetest.Delivered(t, rdb, "U1"), want)
	}
	if keys, err := redistest.Keys(t.Context(), rdb, "hw:*:tktid:*"); err != nil || len(keys) != 0 {
		t.Errorf("ticket id keys left: %q, %v", keys, err)
	}
}
