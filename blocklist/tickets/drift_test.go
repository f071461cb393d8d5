package tickets_test

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/hookwall/hookwall/blocklist/internal/storetest"

	"github.com/hookwall/hookwall/blocklist/blocks"
	"github.com/hookwall/hookwall/blocklist/decision"
	"github.com/hookwall/hookwall/blocklist/tickets"
	"github.com/hookwall/hookwall/internal/redistest"
)

// TestReleaseKeepsTraceParent: a queued message keeps the trace context of
// the request that brought it through its ticket's release, by Unblock
// Ticket and by Unblock All alike, as a forwarded message does. Ticket
// messages used to be kept without it, and their deliveries started traces
// of their own.
func TestReleaseKeepsTraceParent(t *testing.T) {
	redistest.Parallel(t)
	s, rdb := newTicketStore(t, 0, 0)
	const tp1 = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	const tp2 = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for _, c := range []struct {
		contact, traceparent string
		release              func(ticket string)
	}{
		{"Utp1", tp1, func(ticket string) {
			if _, err := s.ReleaseTicket(t.Context(), ticket, "sam"); err != nil {
				t.Fatal(err)
			}
		}},
		{"Utp2", tp2, func(string) {
			if _, err := s.Unblock(t.Context(), "line-main", "Utp2", "sam", blocks.TicketsRelease); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		storetest.Block(t, s, "line-main", c.contact)
		e := storetest.TextEvent("line-main", c.contact, "ev-"+c.contact, "hello")
		e.TraceParent = c.traceparent
		o := storetest.Ingest(t, s, e)
		if o[0].Decision != decision.Queued {
			t.Fatalf("%+v, want queued", o[0])
		}
		c.release(o[0].Ticket)
		var got []string
		for _, e := range storetest.Entries(t, rdb, c.contact) {
			if e["type"] == "message" {
				got = append(got, e["tp"])
			}
		}
		if !slices.Equal(got, []string{c.traceparent}) {
			t.Errorf("%s: released message's traceparent %q, want %q", c.contact, got, c.traceparent)
		}
	}
}

// TestReleaseOfOldTicketMessages: a ticket stored before ticket messages
// were delivery entries (each message its envelope payload, JSON) still
// reads and releases: its messages go where the release sends them, with
// their id and type.
func TestReleaseOfOldTicketMessages(t *testing.T) {
	redistest.Parallel(t)
	s, rdb := newTicketStore(t, 0, 0)
	storetest.Block(t, s, "line-main", "Uold")
	o := storetest.Queue(t, s, "Uold", "new")
	ticket := o[0].Ticket
	old := `{"id":"evt_old","type":"message","message":{"id":"m-old","type":"text","text":"old"},"received_at":"2026-01-01T00:00:00Z","raw":{}}`
	key := ""
	for _, k := range storetest.KeysLike(t, rdb, "hw:{*}:tktmsg:*") {
		key = k
	}
	if key == "" {
		t.Fatal("no ticket message list")
	}
	if err := rdb.LPush(t.Context(), key, old).Err(); err != nil {
		t.Fatal(err)
	}
	tk, err := s.GetTicket(t.Context(), tickets.TicketRequest{ID: ticket, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if got := pageTexts(t, tk.Messages); !slices.Equal(got, []string{"old", "new"}) {
		t.Fatalf("ticket page %v, want [old new]", got)
	}
	if _, err := s.ReleaseTicket(t.Context(), ticket, "sam"); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range storetest.Entries(t, rdb, "Uold") {
		if e["type"] != "message" {
			continue
		}
		var p struct{ Message struct{ Text string } }
		if err := json.Unmarshal([]byte(e["ev"]), &p); err != nil {
			t.Fatal(err)
		}
		got = append(got, e["id"]+" "+e["tgt"]+" "+p.Message.Text)
	}
	if len(got) != 2 || got[0] != "evt_old helpdesk old" || got[1][len(got[1])-len("helpdesk new"):] != "helpdesk new" {
		t.Fatalf("released %q, want the old message then the new, both to the helpdesk", got)
	}
}

// TestUpgradeOldReplicaReleases: during a rolling upgrade a replica of the
// version before ticket messages were delivery entries (f88c033) may move a
// release that this version started: it copies packed entries to the stream
// as they are. The queued messages this version stores are complete entries,
// so what it copies is delivered to where the release sends it, trace
// context included — not parked for an empty target.
func TestUpgradeOldReplicaReleases(t *testing.T) {
	s, rdb := newTicketStore(t, 0, 0)
	storetest.Block(t, s, "line-main", "Uup")
	e := storetest.TextEvent("line-main", "Uup", "ev-up", "hello")
	e.TraceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	o := storetest.Ingest(t, s, e)
	ticket := o[0].Ticket
	// This version starts the release; its chunks are refused, so the
	// release stays in progress for the old replica.
	h := &refuseChunks{}
	h.armed.Store(true)
	rdb.AddHook(h)
	if _, err := s.ReleaseTicket(t.Context(), ticket, "sam"); err == nil {
		t.Fatal("the release finished; want it left in progress")
	}
	h.armed.Store(false)
	old, err := os.ReadFile("testdata/release_chunk_f88c033.lua")
	if err != nil {
		t.Fatal(err)
	}
	key := func(pattern string) string {
		ks := storetest.KeysLike(t, rdb, pattern)
		if len(ks) != 1 {
			t.Fatalf("%s: %v", pattern, ks)
		}
		return ks[0]
	}
	rel := key("hw:{*}:rel:line-main:Uup")
	tag := rel[len("hw:") : strings.Index(rel, "}:")+1]
	keys := []string{rel, key("hw:{*}:relmsg:line-main:Uup"), "hw:" + tag + ":queue", "hw:" + tag + ":releases", "hw:" + tag + ":tktid:" + ticket}
	left, err := rdb.Eval(t.Context(), string(old), keys, 200, "line-main\x00Uup", ticket, 1<<20).Int()
	if err != nil || left != 0 {
		t.Fatalf("the old release chunk: %d, %v; want 0 left", left, err)
	}
	var got []map[string]string
	for _, x := range storetest.Entries(t, rdb, "Uup") {
		if x["type"] == "message" {
			got = append(got, x)
		}
	}
	if len(got) != 1 {
		t.Fatalf("%d message entries; want 1", len(got))
	}
	x := got[0]
	if x["tgt"] != "helpdesk" || x["route"] != "helpdesk" || x["queue"] != "unassigned" || x["auto"] != "1" || x["blk"] != "1" || x["tp"] != e.TraceParent {
		t.Errorf("entry moved by the old replica %v; want it to the helpdesk's unassigned queue, blocked, with its traceparent", x)
	}
}
