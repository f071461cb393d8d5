package tickets_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookwall/hookwall/blocklist/internal/storetest"

	"github.com/hookwall/hookwall/blocklist"
	"github.com/hookwall/hookwall/blocklist/blocks"
	"github.com/hookwall/hookwall/blocklist/decision"
	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/hookwall/hookwall/blocklist/tickets"
	"github.com/hookwall/hookwall/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// TestTicketsPageAcrossBuckets queues messages of many blocked contacts and
// pages through the supervisor's list: every ticket once, oldest first.
func TestTicketsPageAcrossBuckets(t *testing.T) {
	redistest.Parallel(t)
	rdb := redistest.StartTopology(t).Client()
	s := storetest.NewStore(t, rdb, true)
	ctx := context.Background()
	const contacts = 23
	for i := range contacts {
		co := fmt.Sprintf("U%02d", i)
		storetest.Block(t, s, "line-main", co)
		out, err := s.Ingest(ctx, []decision.Event{{
			Channel: "line-main", Contact: co, ID: "ev-" + co, Type: "message",
			Message: json.RawMessage(`{"id":"m","type":"text","text":"hi"}`), ReceivedAt: time.Now(),
			Raw: json.RawMessage(`{}`),
		}})
		if err != nil || out[0].Decision != decision.Queued || out[0].Ticket == "" {
			t.Fatalf("ingest %s: %+v %v", co, out, err)
		}
	}
	seen := map[string]bool{}
	var last time.Time
	cursor := ""
	for pages := 0; ; pages++ {
		items, next, err := s.ListTickets(ctx, tickets.TicketListRequest{Limit: 4, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range items {
			if seen[tk.ID] || tk.MessageCount != 1 || tk.FirstMessageAt.Before(last) {
				t.Fatalf("ticket %+v repeated, miscounted or out of order", tk)
			}
			seen[tk.ID], last = true, tk.FirstMessageAt
		}
		if next == "" {
			break
		}
		if pages > contacts {
			t.Fatal("paging does not end")
		}
		cursor = next
	}
	if len(seen) != contacts {
		t.Fatalf("listed %d tickets, want %d", len(seen), contacts)
	}
	if _, _, err := s.ListTickets(ctx, tickets.TicketListRequest{Limit: 4, Cursor: "MTox"}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("cursor naming no ticket: %v, want ErrInvalid", err)
	}
	if _, _, err := s.DeadLetters(ctx, 0, ""); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("limit 0: %v, want ErrInvalid", err)
	}
}

// newTicketStore is a store of one channel without bot whose tickets keep
// max messages and whose releases move chunk entries per script (the
// defaults when zero), on the Redis topology the environment selects.
func newTicketStore(t *testing.T, max, chunk int) (*blocklist.Store, redis.UniversalClient) {
	t.Helper()
	rdb := redistest.StartTopology(t).Client()
	s, err := blocklist.New(blocklist.Config{
		DefaultEnabled: true, TicketMessages: max, ReleaseChunk: chunk,
		Channels: map[string]store.ChannelInfo{"line-main": {Type: "line", DedupeWindow: time.Hour}},
	}, rdb)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.InitSettings(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s, rdb
}

// pageTexts returns the texts of a page of ticket messages.
func pageTexts(t *testing.T, msgs []json.RawMessage) []string {
	t.Helper()
	var out []string
	for _, m := range msgs {
		var v struct {
			Message struct{ Text string } `json:"message"`
		}
		if err := json.Unmarshal(m, &v); err != nil {
			t.Fatalf("message %s: %v", m, err)
		}
		out = append(out, v.Message.Text)
	}
	return out
}

// TestTicketKeepsNewest fills a ticket past its bound: it keeps the newest
// messages, counts the ones it dropped, tells each decision how many it
// dropped, and its release and audit say so.
func TestTicketKeepsNewest(t *testing.T) {
	redistest.Parallel(t)
	s, rdb := newTicketStore(t, 5, 0)
	storetest.Block(t, s, "line-main", "U1")
	out := storetest.Queue(t, s, "U1", storetest.Texts(1, 8)...)
	for i, o := range out {
		if want := min(max(i+1-5, 0), 1); o.Dropped != want {
			t.Errorf("message %d: dropped %d, want %d", i+1, o.Dropped, want)
		}
	}
	tk, err := s.GetTicket(t.Context(), tickets.TicketRequest{ID: out[0].Ticket, Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	if tk.MessageCount != 5 || tk.DroppedCount != 3 || tk.NextCursor != "" {
		t.Errorf("ticket %+v, want 5 messages, 3 dropped, one page", tk.Ticket)
	}
	if got := pageTexts(t, tk.Messages); !slices.Equal(got, storetest.Texts(4, 5)) {
		t.Errorf("ticket holds %v, want the newest %v", got, storetest.Texts(4, 5))
	}
	if open, err := s.OpenTicket(t.Context(), "line-main", "U1"); err != nil || open.DroppedCount != 3 {
		t.Errorf("open ticket %+v, %v; want 3 dropped", open, err)
	}
	if items, _, err := s.ListTickets(t.Context(), tickets.TicketListRequest{Limit: 10}); err != nil || len(items) != 1 || items[0].DroppedCount != 3 {
		t.Errorf("listing %+v, %v; want the ticket with 3 dropped", items, err)
	}
	r, err := s.ReleaseTicket(t.Context(), out[0].Ticket, "sam")
	if err != nil || r.Messages != 5 {
		t.Fatalf("release %+v, %v; want 5 messages", r, err)
	}
	want := slices.Concat([]string{"contact.blocked"}, storetest.Texts(4, 5), []string{"ticket.released"})
	if got := storetest.Delivered(t, rdb, "U1"); !slices.Equal(got, want) {
		t.Errorf("delivered %v, want %v", got, want)
	}
	audit, _, err := s.Audit(t.Context(), 1, "")
	if err != nil || len(audit) != 1 || audit[0].Action != "ticket.release" || !strings.Contains(audit[0].Detail, "messages=5 dropped=3") {
		t.Errorf("audit %+v, %v; want ticket.release saying messages=5 dropped=3", audit, err)
	}
}

// TestTicketPaging pages through a ticket's messages while it fills past its
// bound: oldest first, no message twice, the dropped ones skipped.
func TestTicketPaging(t *testing.T) {
	redistest.Parallel(t)
	s, _ := newTicketStore(t, 10, 0)
	storetest.Block(t, s, "line-main", "U1")
	id := storetest.Queue(t, s, "U1", storetest.Texts(1, 7)...)[0].Ticket
	page := func(cursor string) ([]string, string) {
		t.Helper()
		tk, err := s.GetTicket(t.Context(), tickets.TicketRequest{ID: id, Limit: 3, Cursor: cursor})
		if err != nil {
			t.Fatalf("page at %q: %v", cursor, err)
		}
		return pageTexts(t, tk.Messages), tk.NextCursor
	}
	var got []string
	p, next := page("")
	got = append(got, p...)
	storetest.Queue(t, s, "U1", storetest.Texts(8, 6)...) // 13 messages: m1-m3 dropped
	p, next = page(next)
	got = append(got, p...)
	storetest.Queue(t, s, "U1", storetest.Texts(14, 4)...) // 17: m1-m7 dropped, m7 not read yet
	for next != "" {
		p, next = page(next)
		if len(p) == 0 {
			t.Fatal("an empty page with a next cursor")
		}
		got = append(got, p...)
	}
	want := slices.Concat(storetest.Texts(1, 6), storetest.Texts(8, 10))
	if !slices.Equal(got, want) {
		t.Errorf("paged %v, want %v", got, want)
	}

	// A full last page has no next one.
	tk, err := s.GetTicket(t.Context(), tickets.TicketRequest{ID: id, Limit: 10})
	if err != nil || len(tk.Messages) != 10 || tk.NextCursor != "" {
		t.Errorf("one page of all 10: %d messages, next %q, %v", len(tk.Messages), tk.NextCursor, err)
	}

	storetest.Block(t, s, "line-main", "U2")
	other := storetest.Queue(t, s, "U2", "x")[0].Ticket
	_, cursor := page("")
	for _, req := range []tickets.TicketRequest{
		{ID: id, Limit: 0},
		{ID: id, Limit: store.MaxListLimit + 1},
		{ID: id, Limit: 3, Cursor: "!!"},
		{ID: other, Limit: 3, Cursor: cursor}, // another ticket's cursor
	} {
		if _, err := s.GetTicket(t.Context(), req); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%+v: %v, want ErrInvalid", req, err)
		}
	}
}

// lostReplies is a go-redis hook that loses the reply of the release chunks
// it is told to (their script runs; the client sees an error), as a dropped
// connection or a replica stopping between two chunks would.
type lostReplies struct {
	chunks atomic.Int32 // chunk scripts run
	lose   atomic.Int32 // lose the reply of this chunk (1-based); 0: none
}

func (h *lostReplies) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessPipelineHook loses replies in the executor's pipelines, where the
// store's writes go.
func (h *lostReplies) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, cmd := range cmds {
			if cmd.Err() == nil && isReleaseChunk(cmd) && h.chunks.Add(1) == h.lose.Load() {
				cmd.SetErr(errors.New("test: reply lost"))
				err = cmd.Err()
			}
		}
		return err
	}
}
func (h *lostReplies) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		// A chunk that ran: not one refused (NOSCRIPT, sent again as EVAL).
		if err == nil && isReleaseChunk(cmd) && h.chunks.Add(1) == h.lose.Load() {
			return errors.New("test: reply lost")
		}
		return err
	}
}

// isReleaseChunk reports whether cmd runs the release chunk script: the only
// script whose first key is a contact's release hash (hw:{tag}:rel:...).
func isReleaseChunk(cmd redis.Cmder) bool {
	a := cmd.Args()
	if len(a) < 4 || (a[0] != "evalsha" && a[0] != "eval") {
		return false
	}
	k, _ := a[3].(string)
	return strings.Contains(k, "}:rel:")
}

// TestReleaseInterrupted releases a ticket in chunks of 3 and loses a chunk's
// reply: the call fails with the release in progress. A message queued
// meanwhile opens a new ticket; the same call again finishes the release and
// answers as the first would have. Each message enters the delivery stream
// once, in order, before anything newer of the contact.
func TestReleaseInterrupted(t *testing.T) {
	redistest.Parallel(t)
	s, rdb := newTicketStore(t, 0, 3)
	h := &lostReplies{}
	rdb.AddHook(h)
	storetest.Block(t, s, "line-main", "U1")
	id := storetest.Queue(t, s, "U1", storetest.Texts(1, 10)...)[0].Ticket

	h.lose.Store(2)
	if _, err := s.ReleaseTicket(t.Context(), id, "sam"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("release with a lost reply: %v, want ErrUnavailable", err)
	}
	if got := storetest.Delivered(t, rdb, "U1"); !slices.Equal(got, slices.Concat([]string{"contact.blocked"}, storetest.Texts(1, 6))) {
		t.Fatalf("after two chunks the stream holds %v, want contact.blocked and m1-m6", got)
	}
	if items, _, err := s.ListTickets(t.Context(), tickets.TicketListRequest{Limit: 10}); err != nil || len(items) != 0 {
		t.Fatalf("tickets listed during the release: %+v, %v; want none", items, err)
	}
	next := storetest.Queue(t, s, "U1", "m11")[0].Ticket
	if next == id {
		t.Fatal("a message queued during the release went to the ticket being released")
	}

	r, err := s.ReleaseTicket(t.Context(), id, "sam")
	if err != nil || r.Messages != 10 || r.RoutedTo != "unassigned" {
		t.Fatalf("release again: %+v, %v; want 10 messages to unassigned", r, err)
	}
	want := slices.Concat([]string{"contact.blocked"}, storetest.Texts(1, 10), []string{"ticket.released"})
	if got := storetest.Delivered(t, rdb, "U1"); !slices.Equal(got, want) {
		t.Fatalf("stream %v, want %v", got, want)
	}
	if _, err := s.ReleaseTicket(t.Context(), id, "sam"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a third release: %v, want ErrNotFound", err)
	}
	if _, err := s.ReleaseTicket(t.Context(), next, "sam"); err != nil {
		t.Fatal(err)
	}
	want = append(want, "m11", "ticket.released")
	if got := storetest.Delivered(t, rdb, "U1"); !slices.Equal(got, want) {
		t.Errorf("stream %v, want %v", got, want)
	}
	if n, err := s.FinishReleases(t.Context()); err != nil || n != 0 {
		t.Errorf("FinishReleases after all: %d, %v; want none left", n, err)
	}
}

// TestUnblockAllInterrupted unblocks with Unblock All and loses a chunk's
// reply. The contact is unblocked: its next message is forwarded, and waits
// behind the release. FinishReleases, as a replica's sweep runs it, finishes
// the release; the new message follows it, and the block and the new
// message's notices keep their order too.
func TestUnblockAllInterrupted(t *testing.T) {
	redistest.Parallel(t)
	s, rdb := newTicketStore(t, 0, 4)
	h := &lostReplies{}
	rdb.AddHook(h)
	storetest.Block(t, s, "line-main", "U1")
	storetest.Queue(t, s, "U1", storetest.Texts(1, 10)...)

	h.lose.Store(1)
	if _, err := s.Unblock(t.Context(), "line-main", "U1", "bob", blocks.TicketsRelease); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("unblock with a lost reply: %v, want ErrUnavailable", err)
	}
	if o := storetest.Ingest(t, s, storetest.TextEvent("line-main", "U1", "ev-after", "after")); o[0].Decision != decision.Forwarded {
		t.Fatalf("after the unblock: %+v, want forwarded", o[0])
	}
	storetest.Block(t, s, "line-main", "U1") // its notices wait too
	if got := storetest.Delivered(t, rdb, "U1"); !slices.Equal(got, slices.Concat([]string{"contact.blocked"}, storetest.Texts(1, 4))) {
		t.Fatalf("before the sweep the stream holds %v, want contact.blocked and m1-m4", got)
	}

	if n, err := s.FinishReleases(t.Context()); err != nil || n != 1 {
		t.Fatalf("FinishReleases: %d, %v; want 1", n, err)
	}
	want := slices.Concat([]string{"contact.blocked"}, storetest.Texts(1, 10),
		[]string{"ticket.released", "contact.unblocked", "after", "conversation.ended", "contact.blocked"})
	if got := storetest.Delivered(t, rdb, "U1"); !slices.Equal(got, want) {
		t.Fatalf("stream %v, want %v", got, want)
	}
	// Nothing waits any more: the next message goes straight to the stream.
	if o := storetest.Ingest(t, s, storetest.TextEvent("line-main", "U1", "ev-later", "later")); o[0].Decision != decision.Queued {
		t.Fatalf("blocked again: %+v, want queued", o[0])
	}
	if res, err := s.Unblock(t.Context(), "line-main", "U1", "bob", blocks.TicketsDelete); err != nil || res.Deleted != 1 {
		t.Fatalf("Delete All: %+v, %v", res, err)
	}
	want = append(want, "ticket.deleted", "contact.unblocked")
	if got := storetest.Delivered(t, rdb, "U1"); !slices.Equal(got, want) {
		t.Errorf("stream %v, want %v", got, want)
	}
}

// TestReleaseKeepsEventTypes releases events whose type JSON escapes: the
// delivery's type is the event's, whichever way the release reads it.
func TestReleaseKeepsEventTypes(t *testing.T) {
	redistest.Parallel(t)
	s, rdb := newTicketStore(t, 0, 0)
	storetest.Block(t, s, "line-main", "U1")
	types := []string{"message", `od"d<type>`, "follow"}
	var id string
	for i, typ := range types {
		ev := storetest.TextEvent("line-main", "U1", fmt.Sprint("ev-", i), "x")
		ev.Type = typ
		id = storetest.Ingest(t, s, ev)[0].Ticket
	}
	if _, err := s.ReleaseTicket(t.Context(), id, "sam"); err != nil {
		t.Fatal(err)
	}
	keys, err := redistest.Keys(t.Context(), rdb, "hw:{*}:queue")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, k := range keys {
		entries, err := rdb.XRange(t.Context(), k, "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			got = append(got, e.Values["type"].(string))
		}
	}
	want := slices.Concat([]string{"contact.blocked"}, types, []string{"ticket.released"})
	if !slices.Equal(got, want) {
		t.Errorf("delivery types %q, want %q", got, want)
	}
}

// before is a go-redis hook that runs do once, before the first script run
// match picks after it is armed: another replica's call landing between a
// store call's read and its script.
type before struct {
	match func(redis.Cmder) bool
	do    func()
	armed atomic.Bool
}

func (h *before) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *before) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			if h.match(cmd) && h.armed.CompareAndSwap(true, false) {
				h.do()
			}
		}
		return next(ctx, cmds)
	}
}
func (h *before) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if h.match(cmd) && h.armed.CompareAndSwap(true, false) {
			h.do()
		}
		return next(ctx, cmd)
	}
}

// isUnblock reports whether cmd runs the unblock script: the only script
// whose first key is a contact's block entry (hw:{tag}:block:...).
func isUnblock(cmd redis.Cmder) bool {
	a := cmd.Args()
	if len(a) < 4 || (a[0] != "evalsha" && a[0] != "eval") {
		return false
	}
	k, _ := a[3].(string)
	return strings.Contains(k, "}:block:")
}

// twoStores returns two stores of one channel without bot on one Redis of
// the topology the environment selects, each with its own client: two
// replicas. The first moves chunk entries per release script.
func twoStores(t *testing.T, chunk int) (s, s2 *blocklist.Store, rdb, rdb2 redis.UniversalClient) {
	t.Helper()
	tp := redistest.StartTopology(t)
	rdb, rdb2 = tp.Client(), tp.Client()
	for i, c := range []redis.UniversalClient{rdb, rdb2} {
		st, err := blocklist.New(blocklist.Config{
			DefaultEnabled: true, ReleaseChunk: chunk,
			Channels: map[string]store.ChannelInfo{"line-main": {Type: "line", DedupeWindow: time.Hour}},
		}, c)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(st.Close)
		if i == 0 {
			s = st
		} else {
			s2 = st
		}
	}
	if err := s.InitSettings(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s, s2, rdb, rdb2
}

// assertNoTicketIDs checks that no ticket id key is left: every ticket is
// released or deleted, and its id key with it.
func assertNoTicketIDs(t *testing.T, rdb redis.UniversalClient) {
	t.Helper()
	if keys, err := redistest.Keys(t.Context(), rdb, "hw:*:tktid:*"); err != nil || len(keys) != 0 {
		t.Errorf("ticket id keys left: %q, %v", keys, err)
	}
}

// TestReleaseChangedUnderfoot: a sweep reads the contact's release in
// progress, and before its chunk runs another replica finishes that release
// and leaves the contact's next one in progress. The chunk finds the other
// ticket's release and changes nothing; the sweep reads again and finishes
// that one, removing its ticket id. Every message enters the stream once,
// in order.
func TestReleaseChangedUnderfoot(t *testing.T) {
	redistest.Parallel(t)
	s, s2, rdb, rdb2 := twoStores(t, 2)
	h, h2 := &lostReplies{}, &lostReplies{}
	rdb.AddHook(h)
	rdb2.AddHook(h2)
	storetest.Block(t, s, "line-main", "U1")
	first := storetest.Queue(t, s, "U1", storetest.Texts(1, 4)...)[0].Ticket

	h.lose.Store(1)
	if _, err := s.ReleaseTicket(t.Context(), first, "sam"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("release with a lost reply: %v, want ErrUnavailable", err)
	}
	second := storetest.Queue(t, s, "U1", storetest.Texts(5, 2)...)[0].Ticket

	b := &before{match: isReleaseChunk, do: func() {
		// The other replica finishes the first release in two chunks, starts
		// the second and loses the reply of its first chunk.
		h2.lose.Store(3)
		if _, err := s2.ReleaseTicket(t.Context(), second, "sam"); !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("the other replica's release: %v, want ErrUnavailable", err)
		}
	}}
	rdb.AddHook(b)
	b.armed.Store(true)
	if n, err := s.FinishReleases(t.Context()); err != nil || n != 1 {
		t.Fatalf("FinishReleases: %d, %v; want 1", n, err)
	}
	if b.armed.Load() {
		t.Fatal("the other replica never ran")
	}
	want := slices.Concat([]string{"contact.blocked"}, storetest.Texts(1, 4), []string{"ticket.released"},
		storetest.Texts(5, 2), []string{"ticket.released"})
	if got := storetest.Delivered(t, rdb, "U1"); !slices.Equal(got, want) {
		t.Errorf("stream %v, want %v", got, want)
	}
	assertNoTicketIDs(t, rdb)
	if n, err := s.FinishReleases(t.Context()); err != nil || n != 0 {
		t.Errorf("FinishReleases after all: %d, %v; want none left", n, err)
	}
}

// TestUnblockTicketChangedUnderfoot: Delete All reads that the contact has
// no open ticket, and before its script runs a message opens one. The
// script finds another ticket than the one read and changes nothing; the
// unblock reads again and deletes the new ticket, its id with it.
func TestUnblockTicketChangedUnderfoot(t *testing.T) {
	redistest.Parallel(t)
	s, s2, rdb, _ := twoStores(t, 0)
	storetest.Block(t, s, "line-main", "U1")
	b := &before{match: isUnblock, do: func() { storetest.Queue(t, s2, "U1", "m1") }}
	rdb.AddHook(b)
	b.armed.Store(true)
	res, err := s.Unblock(t.Context(), "line-main", "U1", "sam", blocks.TicketsDelete)
	if err != nil || res != (blocks.UnblockResult{Unblocked: true, Deleted: 1}) {
		t.Fatalf("Delete All: %+v, %v; want unblocked with the new ticket deleted", res, err)
	}
	want := []string{"contact.blocked", "ticket.deleted", "contact.unblocked"}
	if got := storetest.Delivered(t, rdb, "U1"); !slices.Equal(got, want) {
		t.Errorf("stream %v, want %v", got, want)
	}
	assertNoTicketIDs(t, rdb)
}

// TestReleaseRawCJSONRefuses releases a ticket whose messages carry raw
// events Redis's cjson refuses to decode — nested 1500 deep, a lone
// surrogate escape — with event types plain and escaped in JSON. The release
// completes, and every message is delivered in order, with its envelope id
// and type and its raw event byte for byte.
func TestReleaseRawCJSONRefuses(t *testing.T) {
	redistest.Parallel(t)
	s, rdb := newTicketStore(t, 0, 2)
	storetest.Block(t, s, "line-main", "U1")
	deep := strings.Repeat(`{"a":`, 1500) + "1" + strings.Repeat("}", 1500)
	lone := `{"text":"\ud800 alone"}`
	var evs []decision.Event
	for i, c := range []struct{ typ, raw string }{
		{"message", deep},
		{`od"d<type>`, deep},
		{"message", lone},
		{`<x>\y`, lone},
		{"message", `{}`},
	} {
		ev := storetest.TextEvent("line-main", "U1", fmt.Sprint("ev-", i), fmt.Sprint("m", i))
		ev.Type, ev.Raw = c.typ, json.RawMessage(c.raw)
		evs = append(evs, ev)
	}
	out := storetest.Ingest(t, s, evs...)
	if _, err := s.ReleaseTicket(t.Context(), out[0].Ticket, "sam"); err != nil {
		t.Fatalf("release: %v", err)
	}
	keys, err := redistest.Keys(t.Context(), rdb, "hw:{*}:queue")
	if err != nil {
		t.Fatal(err)
	}
	var got []redis.XMessage
	for _, k := range keys {
		entries, err := rdb.XRange(t.Context(), k, "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, entries...)
	}
	if len(got) != len(evs)+2 || got[0].Values["type"] != "contact.blocked" || got[len(got)-1].Values["type"] != "ticket.released" {
		t.Fatalf("stream %v, want contact.blocked, the %d messages, ticket.released", got, len(evs))
	}
	for i, ev := range evs {
		e := got[i+1].Values
		var p struct {
			ID   string          `json:"id"`
			Type string          `json:"type"`
			Raw  json.RawMessage `json:"raw"`
		}
		if err := json.Unmarshal([]byte(e["ev"].(string)), &p); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if e["id"] != out[i].Envelope || p.ID != out[i].Envelope || e["type"] != ev.Type || p.Type != ev.Type || string(p.Raw) != string(ev.Raw) {
			t.Errorf("message %d: id %v, type %q, raw of %d bytes; want %s, %q, the %d bytes sent",
				i, e["id"], e["type"], len(p.Raw), out[i].Envelope, ev.Type, len(ev.Raw))
		}
	}
	if n, err := s.FinishReleases(t.Context()); err != nil || n != 0 {
		t.Errorf("FinishReleases after the release: %d, %v; want none left", n, err)
	}
}

// refuseChunks is a go-redis hook that refuses, without running them, the
// release chunks of the first contact whose chunk it sees once armed: a
// release that fails every time.
type refuseChunks struct {
	armed atomic.Bool
	mu    sync.Mutex
	key   string // the release hash of the refused contact
}

func (h *refuseChunks) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessPipelineHook refuses in the executor's pipelines, where the
// store's writes go: the refused calls are not sent, the others are.
func (h *refuseChunks) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		var sent []redis.Cmder
		var refused error
		for _, cmd := range cmds {
			if h.refuses(cmd) {
				refused = errors.New("test: chunk refused")
				cmd.SetErr(refused)
				continue
			}
			sent = append(sent, cmd)
		}
		if len(sent) > 0 {
			if err := next(ctx, sent); err != nil {
				return err
			}
		}
		return refused
	}
}

// refuses reports whether cmd is a release chunk of the refused contact.
func (h *refuseChunks) refuses(cmd redis.Cmder) bool {
	if !h.armed.Load() || !isReleaseChunk(cmd) {
		return false
	}
	k := cmd.Args()[3].(string)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.key == "" {
		h.key = k
	}
	return h.key == k
}
func (h *refuseChunks) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if h.refuses(cmd) {
			err := errors.New("test: chunk refused")
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}

// TestReleaseSweepCarriesOn: two contacts have a release in progress, and
// the first the sweep comes to fails every time. The sweep finishes the
// other, and reports the failure naming its contact; once the failure is
// gone, the next sweep finishes the first.
func TestReleaseSweepCarriesOn(t *testing.T) {
	redistest.Parallel(t)
	s, rdb := newTicketStore(t, 0, 2)
	h, r := &lostReplies{}, &refuseChunks{}
	rdb.AddHook(h)
	rdb.AddHook(r)
	contacts := []string{"U1", "U2"}
	for i, co := range contacts {
		storetest.Block(t, s, "line-main", co)
		id := storetest.Queue(t, s, co, storetest.Texts(1, 3)...)[0].Ticket
		h.lose.Store(int32(i + 1)) // each release's first chunk
		if _, err := s.ReleaseTicket(t.Context(), id, "sam"); !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("release of %s with a lost reply: %v, want ErrUnavailable", co, err)
		}
	}

	r.armed.Store(true)
	n, err := s.FinishReleases(t.Context())
	var re *tickets.ReleaseError
	if n != 1 || !errors.As(err, &re) || !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("FinishReleases with a failing release: %d, %v; want 1 and the failure", n, err)
	}
	failed := re.Contact
	if !strings.HasSuffix(r.key, ":"+failed) {
		t.Fatalf("the failure names %s, the refused release is %s", failed, r.key)
	}
	want := slices.Concat([]string{"contact.blocked"}, storetest.Texts(1, 3), []string{"ticket.released"})
	for _, co := range contacts {
		got := storetest.Delivered(t, rdb, co)
		if co == failed {
			if slices.Equal(got, want) {
				t.Errorf("%s: the refused release finished", co)
			}
		} else if !slices.Equal(got, want) {
			t.Errorf("%s: stream %v, want %v", co, got, want)
		}
	}

	r.armed.Store(false)
	if n, err := s.FinishReleases(t.Context()); err != nil || n != 1 {
		t.Fatalf("FinishReleases once the failure is gone: %d, %v; want 1", n, err)
	}
	if got := storetest.Delivered(t, rdb, failed); !slices.Equal(got, want) {
		t.Errorf("%s: stream %v, want %v", failed, got, want)
	}
}

// TestUnblockNoTickets: an unblock that may not act on tickets
// (TicketsNone) refuses a contact with an open ticket, changing nothing,
// also when the ticket opens after the unblock looked and before its script
// ran; it unblocks a contact without one as the default unblock would,
// releasing nothing.
func TestUnblockNoTickets(t *testing.T) {
	redistest.Parallel(t)
	s, s2, rdb, _ := twoStores(t, 0)
	storetest.Block(t, s, "line-main", "U1")
	storetest.Queue(t, s, "U1", "m1")
	was := storetest.Dump(t, rdb)
	if res, err := s.Unblock(t.Context(), "line-main", "U1", "alice", blocks.TicketsNone); !errors.Is(err, store.ErrHasTicket) {
		t.Fatalf("unblock of a contact with a ticket: %+v, %v; want ErrHasTicket", res, err)
	}
	if after := storetest.Dump(t, rdb); !maps.Equal(after, was) {
		t.Fatal("a refused unblock changed the store")
	}

	storetest.Block(t, s, "line-main", "U2")
	b := &before{match: isUnblock, do: func() { storetest.Queue(t, s2, "U2", "m1") }}
	rdb.AddHook(b)
	b.armed.Store(true)
	if res, err := s.Unblock(t.Context(), "line-main", "U2", "alice", blocks.TicketsNone); !errors.Is(err, store.ErrHasTicket) {
		t.Fatalf("unblock of a contact whose ticket opened meanwhile: %+v, %v; want ErrHasTicket", res, err)
	}
	if b.armed.Load() {
		t.Fatal("no message came meanwhile")
	}
	if tk, err := s.OpenTicket(t.Context(), "line-main", "U2"); err != nil || tk.MessageCount != 1 {
		t.Errorf("U2's ticket after the refusal: %+v, %v; want it open with its message", tk, err)
	}
	if ok, err := s.IsBlocked(t.Context(), "line-main", "U2"); err != nil || !ok {
		t.Errorf("U2 after the refusal: blocked %v, %v; want blocked", ok, err)
	}

	storetest.Block(t, s, "line-main", "U3")
	res, err := s.Unblock(t.Context(), "line-main", "U3", "alice", blocks.TicketsNone)
	if err != nil || res != (blocks.UnblockResult{Unblocked: true}) {
		t.Fatalf("unblock of a contact without a ticket: %+v, %v; want unblocked", res, err)
	}
	if got, want := storetest.Delivered(t, rdb, "U3"), []string{"contact.blocked", "contact.unblocked"}; !slices.Equal(got, want) {
		t.Errorf("U3's stream %v, want %v", got, want)
	}
	audit, _, err := s.Audit(t.Context(), 1, "")
	if err != nil || len(audit) != 1 || audit[0].Contact != "U3" || audit[0].Detail != "tickets=release" {
		t.Errorf("audit %+v, %v; want U3's unblock, tickets=release (the default, releasing nothing)", audit, err)
	}
	if _, err := s.Unblock(t.Context(), "line-main", "U3", "alice", "all"); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("an unknown mode: %v, want ErrInvalid", err)
	}
}
