package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/hookwall/hookwall/internal/redistest"
	"github.com/hookwall/hookwall/internal/testkit"
)

// The end-to-end tests drive hookwall through HTTP only: signed platform
// webhooks in, signed envelopes out to fake bot and helpdesk servers, the
// admin API in between. Each test has its own Redis and hookwall. The
// tests that neither stop Redis nor put a proxy before it run on the
// topology HOOKWALL_TEST_REDIS selects (one server by default, "cluster" or
// "sentinel"); the others on a redis-server of their own.
//
// "Nothing was delivered" is shown with a barrier rather than a wait: one
// contact's deliveries, to the bot and to the helpdesk alike, leave in the
// order they were queued, so once a later envelope of the contact has
// arrived, every earlier one has been delivered or never will be.

const traceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// TestE2E covers the contract's routing rows, blocks, tickets and
// conversations on one hookwall; each subtest has contacts of its own.
func TestE2E(t *testing.T) {
	parallelAnyTopology(t)
	h := startHookwall(t, hwOptions{AnyTopology: true})

	t.Run("unblocked line message goes to the bot", func(t *testing.T) {
		t.Parallel()
		const contact = "Ue2e-bot"
		id := h.eventID("ev")
		body := lineBody(t, lineEvent{Contact: contact, ID: id, Text: "hello bot"})
		if c := h.postLine(t, body, "").counts(t); c != (counts{Forwarded: 1}) {
			t.Fatalf("answer = %+v; want forwarded 1", c)
		}
		h.bot.WaitText(t, contact, "hello bot")
		r := h.bot.Records(contact)[0]
		e := r.Env
		checkEnvelope(t, e, testkit.Envelope{
			Type: "message", Channel: "line-main", ChannelType: "line", Contact: contact,
			Route: "bot", Queue: "bot", Automation: true, Blocked: false,
			Message: &testkit.Message{ID: "m-" + id, Type: "text", Text: "hello bot"},
		})
		if r.WebhookID() != e.ID || !strings.HasPrefix(e.ID, "evt_") {
			t.Errorf("webhook-id %q, envelope id %q; want the same evt_ id", r.WebhookID(), e.ID)
		}
		if !strings.HasPrefix(e.Conversation, "conv_") {
			t.Errorf("conversation = %q; want a conv_ id", e.Conversation)
		}
		if e.ReceivedAt.IsZero() {
			t.Error("received_at is zero")
		}
		var top struct{ Events []json.RawMessage }
		_ = json.Unmarshal(body, &top)
		if !jsonEqual(e.Raw, top.Events[0]) {
			t.Errorf("raw = %s; want the platform's event %s", e.Raw, top.Events[0])
		}
		conv := h.conversation(t, "line-main", contact)
		if conv.ID != e.Conversation || conv.Status != "open" {
			t.Errorf("conversation = %s %s; want %s open", conv.ID, conv.Status, e.Conversation)
		}

		// A second message stays on the open conversation.
		h.line(t, contact, "again")
		if e2 := h.bot.WaitText(t, contact, "again"); e2.Conversation != e.Conversation || e2.ID == e.ID {
			t.Errorf("second message: conversation %s id %s; want conversation %s and a new id", e2.Conversation, e2.ID, e.Conversation)
		}
		// Barrier: the block's notices reach the helpdesk after everything
		// queued before them, so the helpdesk has all it will get of the
		// two messages: nothing.
		h.block(t, "line-main", contact, nil)
		h.helpdesk.WaitType(t, contact, "contact.blocked")
		for _, e := range h.helpdesk.Envs(contact) {
			if e.Type == "message" {
				t.Errorf("helpdesk got a message of an unblocked contact of a channel with a bot: %+v", e)
			}
		}
	})

	t.Run("what hookwall cannot tie to a contact passes through to the helpdesk", func(t *testing.T) {
		t.Parallel()
		const contact = "Ue2e-passthrough"
		marker := h.eventID("pt")
		// The bot joining a group (no user), a type the SDK does not know
		// (from a user), and a message without webhookEventId, as LINE's
		// older payloads and its SDK's samples have.
		events := func(redelivery bool) []byte {
			dc := `"deliveryContext":{"isRedelivery":` + strconv.FormatBool(redelivery) + `}`
			return []byte(`{"destination":"x","events":[` +
				`{"type":"join","webhookEventId":"` + marker + `-join","timestamp":1,` + dc + `,"source":{"type":"group","groupId":"C` + marker + `"}},` +
				`{"type":"futureEvent","webhookEventId":"` + marker + `-future","timestamp":1,` + dc + `,"source":{"type":"user","userId":"` + contact + `"}},` +
				`{"type":"message","timestamp":2,"replyToken":"` + marker + `",` + dc + `,"source":{"type":"user","userId":"` + contact + `"},"message":{"id":"1","type":"text","text":"no event id"}}]}`)
		}
		if c := h.postLine(t, events(false), "").counts(t); c != (counts{Forwarded: 3}) {
			t.Fatalf("answer = %+v; want forwarded 3", c)
		}
		for _, typ := range []string{"join", "futureEvent"} {
			e := h.helpdesk.WaitEnv(t, "", typ+" "+marker, func(e testkit.Envelope) bool {
				return e.Type == typ && bytes.Contains(e.Raw, []byte(marker+"-"))
			})
			checkEnvelope(t, e, testkit.Envelope{Type: typ, Channel: "line-main", ChannelType: "line",
				Route: "helpdesk", Queue: "unassigned", Automation: true, Blocked: false})
			if e.Contact != "" || e.Conversation != "" || e.Message != nil {
				t.Errorf("%s: contact %q conversation %q message %+v; want none", typ, e.Contact, e.Conversation, e.Message)
			}
		}
		// The message without an id is the contact's, decided as usual.
		h.bot.WaitText(t, contact, "no event id")
		// LINE's redelivery of the same events: all duplicates.
		if c := h.postLine(t, events(true), "").counts(t); c != (counts{Duplicates: 3}) {
			t.Fatalf("redelivery answer = %+v; want duplicates 3", c)
		}
	})

	t.Run("a blocked contact's event with odd members is still the contact's", func(t *testing.T) {
		t.Parallel()
		const contact = "Ue2e-odd"
		h.block(t, "line-main", contact, nil)
		// Members of the wrong kind make the SDK refuse the event; the
		// user it names is still read, so the block applies.
		body := []byte(`{"destination":"x","events":[{"type":"message","mode":5,"timestamp":"soon","webhookEventId":"` + h.eventID("odd") +
			`","source":{"type":"user","userId":"` + contact + `"},"message":{"type":"text","id":"1","text":"odd","emojis":"x"}}]}`)
		if c := h.postLine(t, body, "").counts(t); c != (counts{Queued: 1}) {
			t.Fatalf("answer = %+v; want queued 1", c)
		}
		if tk, ok := h.ticketOf(t, "line-main", contact); !ok || !slices.Equal(tk.texts(), []string{"odd"}) {
			t.Errorf("ticket %+v (found %v); want the message %q", tk, ok, "odd")
		}
	})

	t.Run("traceparent is passed through to the target", func(t *testing.T) {
		t.Parallel()
		const contact = "Ue2e-trace"
		a := h.postLine(t, lineBody(t, lineEvent{Contact: contact, ID: h.eventID("ev"), Text: "traced"}), traceParent)
		if c := a.counts(t); c.Forwarded != 1 {
			t.Fatalf("answer = %+v", c)
		}
		h.bot.WaitText(t, contact, "traced")
		if got := h.bot.Records(contact)[0].TraceParent(); got != traceParent {
			t.Errorf("bot got traceparent %q; want %q", got, traceParent)
		}
	})

	t.Run("unblocked web chat message goes to the helpdesk", func(t *testing.T) {
		t.Parallel()
		const contact = "visitor-e2e-web"
		if c := h.web(t, contact, "hello helpdesk"); c != (counts{Forwarded: 1}) {
			t.Fatalf("answer = %+v; want forwarded 1", c)
		}
		h.helpdesk.WaitText(t, contact, "hello helpdesk")
		r := h.helpdesk.Records(contact)[0]
		checkEnvelope(t, r.Env, testkit.Envelope{
			Type: "message", Channel: "web", ChannelType: "webchat", Contact: contact,
			Route: "helpdesk", Queue: "unassigned", Automation: true, Blocked: false,
			Message: &testkit.Message{Type: "text", Text: "hello helpdesk"},
		})
		if r.WebhookID() != r.Env.ID {
			t.Errorf("webhook-id %q != envelope id %q", r.WebhookID(), r.Env.ID)
		}
		if conv := h.conversation(t, "web", contact); conv.ID != r.Env.Conversation || conv.Status != "open" {
			t.Errorf("conversation = %+v; want %s open", conv, r.Env.Conversation)
		}
	})

	t.Run("block ends the open conversation", func(t *testing.T) {
		t.Parallel()
		const contact = "Ue2e-ends"
		h.line(t, contact, "before the block")
		conv := h.bot.WaitText(t, contact, "before the block").Conversation
		e := h.block(t, "line-main", contact, map[string]string{"note": "spam"})
		if e.Action != "queue" || e.BlockedBy != "e2e-agent" || e.Note != "spam" || e.Contact != contact {
			t.Errorf("block entry = %+v; want action queue (the channel's default) by e2e-agent", e)
		}
		blocked := h.helpdesk.WaitType(t, contact, "contact.blocked")
		notices := h.helpdesk.Envs(contact)
		if got := types(notices); !slices.Equal(got, []string{"conversation.ended", "contact.blocked"}) {
			t.Fatalf("helpdesk notices = %v; want conversation.ended then contact.blocked", got)
		}
		if notices[0].Conversation != conv || blocked.Conversation != conv {
			t.Errorf("notices on conversations %s, %s; want %s", notices[0].Conversation, blocked.Conversation, conv)
		}
		if got := h.conversation(t, "line-main", contact); got.ID != conv || got.Status != "blocked" {
			t.Errorf("conversation = %s %s; want %s blocked", got.ID, got.Status, conv)
		}
		if st := h.contact(t, "line-main", contact); !st.Blocked || st.Block == nil || st.Block.Action != "queue" {
			t.Errorf("contact = %+v; want blocked with action queue", st)
		}
	})

	t.Run("blocked record goes to the helpdesk on the latest conversation", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			name, channel, contact string
			block                  any
			post                   func(t *testing.T, contact, text string) counts
			before                 *testkit.Target
		}{
			{"web chat, channel default record", "web", "visitor-e2e-record", nil, func(t *testing.T, c, s string) counts { return h.web(t, c, s) }, h.helpdesk},
			{"line, record requested on the block", "line-main", "Ue2e-record", map[string]string{"action": "record"}, func(t *testing.T, c, s string) counts { return h.line(t, c, s) }, h.bot},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tc.post(t, tc.contact, "before")
				conv := tc.before.WaitText(t, tc.contact, "before").Conversation
				if e := h.block(t, tc.channel, tc.contact, tc.block); e.Action != "record" {
					t.Fatalf("block action = %q; want record", e.Action)
				}
				if c := tc.post(t, tc.contact, "while blocked"); c != (counts{Recorded: 1}) {
					t.Fatalf("answer = %+v; want recorded 1", c)
				}
				e := h.helpdesk.WaitText(t, tc.contact, "while blocked")
				checkEnvelope(t, e, testkit.Envelope{
					Type: "message", Channel: tc.channel, Contact: tc.contact,
					Route: "helpdesk", Queue: "unassigned", Automation: false, Blocked: true,
				})
				if e.Conversation != conv {
					t.Errorf("recorded on conversation %q; want the latest, %q", e.Conversation, conv)
				}
				got := h.conversation(t, tc.channel, tc.contact)
				if got.ID != conv || got.Status != "blocked" {
					t.Errorf("conversation = %s %s; want %s blocked (no new conversation)", got.ID, got.Status, conv)
				}
				if n := len(got.Messages); n == 0 || got.Messages[n-1].Decision != "recorded" ||
					got.Messages[n-1].Message.Message == nil || got.Messages[n-1].Message.Message.Text != "while blocked" {
					t.Errorf("conversation messages = %+v; want the recorded message last", got.Messages)
				}
				// The recorded message reached the helpdesk, so the bot has
				// all it will get of this contact.
				if got := texts(h.bot.Envs(tc.contact)); tc.before == h.bot && !slices.Equal(got, []string{"before"}) {
					t.Errorf("bot got %q; want only the message before the block", got)
				}
			})
		}
	})

	t.Run("blocked queue diverts to a ticket that release sends to the bot", func(t *testing.T) {
		t.Parallel()
		const contact = "Ue2e-queue"
		h.line(t, contact, "q0")
		h.bot.WaitText(t, contact, "q0")
		h.block(t, "line-main", contact, nil)
		for _, s := range []string{"q1", "q2", "q3"} {
			if c := h.line(t, contact, s); c != (counts{Queued: 1}) {
				t.Fatalf("answer for %s = %+v; want queued 1", s, c)
			}
		}
		tk, ok := h.ticketOf(t, "line-main", contact)
		if !ok {
			t.Fatal("no ticket in GET /admin/v1/blocked-tickets")
		}
		if tk.MessageCount != 3 || tk.Channel != "line-main" || !slices.Equal(tk.texts(), []string{"q1", "q2", "q3"}) ||
			tk.FirstMessageAt.IsZero() || tk.LastMessageAt.Before(tk.FirstMessageAt) {
			t.Fatalf("ticket = %+v; want 3 messages q1..q3", tk)
		}
		var rel struct {
			ID       string `json:"id"`
			RoutedTo string `json:"routed_to"`
			Messages int    `json:"messages"`
		}
		h.apiOK(t, http.MethodPost, "/admin/v1/blocked-tickets/"+tk.ID+"/unblock", supervisorToken, nil, http.StatusOK, &rel)
		if rel.ID != tk.ID || rel.RoutedTo != "bot" || rel.Messages != 3 {
			t.Errorf("release = %+v; want %s routed to bot with 3 messages", rel, tk.ID)
		}
		h.bot.WaitText(t, contact, "q3")
		envs := h.bot.Envs(contact)
		if got := texts(envs); !slices.Equal(got, []string{"q0", "q1", "q2", "q3"}) {
			t.Fatalf("bot got %q; want q0 then the released q1..q3 in order, once each", got)
		}
		for _, e := range envs[1:] {
			if e.Route != "bot" || e.Queue != "bot" {
				t.Errorf("released envelope %s: route %s queue %s; want bot bot", e.ID, e.Route, e.Queue)
			}
		}
		n := h.helpdesk.WaitType(t, contact, "ticket.released")
		if !strings.Contains(string(n.Data), tk.ID) {
			t.Errorf("ticket.released data %s does not name the ticket %s", n.Data, tk.ID)
		}
		if got := types(h.helpdesk.Envs(contact)); !slices.Equal(got, []string{"conversation.ended", "contact.blocked", "ticket.released"}) {
			t.Errorf("helpdesk got %v; want only the notices", got)
		}
		if a := h.api(t, http.MethodGet, "/admin/v1/blocked-tickets/"+tk.ID, supervisorToken, nil); a.Status != http.StatusNotFound {
			t.Errorf("released ticket: GET = %d; want 404", a.Status)
		}
		if st := h.contact(t, "line-main", contact); !st.Blocked {
			t.Fatal("the contact is no longer blocked after a ticket release")
		}
		if c := h.line(t, contact, "q4"); c != (counts{Queued: 1}) {
			t.Fatalf("after release: answer = %+v; want queued 1", c)
		}
		tk2, ok := h.ticketOf(t, "line-main", contact)
		if !ok || tk2.ID == tk.ID || tk2.MessageCount != 1 || !slices.Equal(tk2.texts(), []string{"q4"}) {
			t.Errorf("after release: ticket %+v; want a new ticket holding q4", tk2)
		}
	})

	t.Run("ticket delete", func(t *testing.T) {
		t.Parallel()
		const contact = "Ue2e-tdel"
		h.block(t, "line-main", contact, nil)
		h.line(t, contact, "d1")
		h.line(t, contact, "d2")
		tk, ok := h.ticketOf(t, "line-main", contact)
		if !ok || tk.MessageCount != 2 {
			t.Fatalf("ticket = %+v %v; want 2 messages", tk, ok)
		}
		if a := h.api(t, http.MethodDelete, "/admin/v1/blocked-tickets/"+tk.ID, supervisorToken, nil); a.Status != http.StatusNoContent {
			t.Fatalf("DELETE = %d %s; want 204", a.Status, a.Body)
		}
		if a := h.api(t, http.MethodGet, "/admin/v1/blocked-tickets/"+tk.ID, supervisorToken, nil); a.Status != http.StatusNotFound || a.code() != "not_found" {
			t.Errorf("GET deleted ticket = %d %s; want 404 not_found", a.Status, a.Body)
		}
		if _, ok := h.ticketOf(t, "line-main", contact); ok {
			t.Error("the deleted ticket is still listed")
		}
		h.helpdesk.WaitType(t, contact, "ticket.deleted")
		h.unblock(t, "line-main", contact, "release")
		h.line(t, contact, "d3")
		h.bot.WaitText(t, contact, "d3")
		if got := texts(h.bot.Envs(contact)); !slices.Equal(got, []string{"d3"}) {
			t.Errorf("bot got %q; want only d3 (the deleted ticket's messages never)", got)
		}
	})

	t.Run("unblock all releases the ticket and automation starts again", func(t *testing.T) {
		t.Parallel()
		const contact = "Ue2e-unblock-all"
		h.line(t, contact, "a0")
		conv := h.bot.WaitText(t, contact, "a0").Conversation
		h.block(t, "line-main", contact, nil)
		h.line(t, contact, "a1")
		h.line(t, contact, "a2")
		if r := h.unblock(t, "line-main", contact, "release"); r != (unblockResult{Released: 1}) {
			t.Errorf("unblock = %+v; want released 1", r)
		}
		h.bot.WaitText(t, contact, "a2")
		h.helpdesk.WaitType(t, contact, "contact.unblocked")
		if got := types(h.helpdesk.Envs(contact)); !slices.Equal(got, []string{"conversation.ended", "contact.blocked", "ticket.released", "contact.unblocked"}) {
			t.Errorf("helpdesk notices = %v", got)
		}
		if st := h.contact(t, "line-main", contact); st.Blocked {
			t.Error("still blocked after unblock")
		}
		if _, ok := h.ticketOf(t, "line-main", contact); ok {
			t.Error("a ticket is left after unblock all")
		}
		if c := h.line(t, contact, "a3"); c != (counts{Forwarded: 1}) {
			t.Fatalf("after unblock: answer = %+v; want forwarded 1", c)
		}
		e := h.bot.WaitText(t, contact, "a3")
		if e.Conversation == conv || e.Conversation == "" || !e.Automation || e.Blocked {
			t.Errorf("after unblock: conversation %q (before %q), automation %v, blocked %v; want a new conversation with automation", e.Conversation, conv, e.Automation, e.Blocked)
		}
		if got := texts(h.bot.Envs(contact)); !slices.Equal(got, []string{"a0", "a1", "a2", "a3"}) {
			t.Errorf("bot got %q; want a0..a3 in order", got)
		}
		if c := h.conversation(t, "line-main", contact); c.ID != e.Conversation || c.Status != "open" {
			t.Errorf("conversation = %s %s; want %s open", c.ID, c.Status, e.Conversation)
		}
	})

	t.Run("delete all removes the ticket for good", func(t *testing.T) {
		t.Parallel()
		const contact = "Ue2e-delete-all"
		h.block(t, "line-main", contact, nil)
		h.line(t, contact, "x1")
		h.line(t, contact, "x2")
		tk, ok := h.ticketOf(t, "line-main", contact)
		if !ok {
			t.Fatal("no ticket")
		}
		if r := h.unblock(t, "line-main", contact, "delete"); r != (unblockResult{Deleted: 1}) {
			t.Errorf("unblock = %+v; want deleted 1", r)
		}
		h.helpdesk.WaitType(t, contact, "contact.unblocked")
		if got := types(h.helpdesk.Envs(contact)); !slices.Equal(got, []string{"contact.blocked", "ticket.deleted", "contact.unblocked"}) {
			t.Errorf("helpdesk notices = %v", got)
		}
		if a := h.api(t, http.MethodGet, "/admin/v1/blocked-tickets/"+tk.ID, supervisorToken, nil); a.Status != http.StatusNotFound {
			t.Errorf("GET ticket after delete all = %d; want 404", a.Status)
		}
		// Gone from the store: no key names the ticket or holds the
		// contact's ticket, and no value holds its messages, on any
		// master.
		keys, err := redistest.Keys(context.Background(), h.rdb, "*")
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if strings.Contains(k, tk.ID) || strings.Contains(k, "tkt") && strings.Contains(k, contact) {
				t.Errorf("key %q is left after delete all", k)
			}
			if typ, _ := h.rdb.Type(context.Background(), k).Result(); typ == "list" {
				vs, _ := h.rdb.LRange(context.Background(), k, 0, -1).Result()
				for _, v := range vs {
					if strings.Contains(v, `"x1"`) || strings.Contains(v, `"x2"`) {
						t.Errorf("list %q still holds a deleted message: %s", k, v)
					}
				}
			}
		}
		h.line(t, contact, "x3")
		e := h.bot.WaitText(t, contact, "x3")
		if got := texts(h.bot.Envs(contact)); !slices.Equal(got, []string{"x3"}) {
			t.Errorf("bot got %q; want only x3", got)
		}
		if !e.Automation || e.Blocked || e.Conversation == "" {
			t.Errorf("first message after unblock: %+v; want a conversation with automation", e)
		}
	})

	t.Run("duplicates are answered and delivered once", func(t *testing.T) {
		t.Parallel()
		const contact = "Ue2e-dup"
		body := lineBody(t, lineEvent{Contact: contact, ID: h.eventID("dup"), Text: "once"})
		if c := h.postLine(t, body, "").counts(t); c != (counts{Forwarded: 1}) {
			t.Fatalf("first answer = %+v", c)
		}
		if c := h.postLine(t, body, "").counts(t); c != (counts{Duplicates: 1}) {
			t.Fatalf("second answer = %+v; want duplicates 1", c)
		}
		h.line(t, contact, "next")
		h.bot.WaitText(t, contact, "next")
		if got := texts(h.bot.Envs(contact)); !slices.Equal(got, []string{"once", "next"}) {
			t.Errorf("bot got %q; want the duplicate once", got)
		}

		// Web chat dedupes on webhook-id.
		const visitor = "visitor-e2e-dup"
		id := h.eventID("msg")
		wb := webBody(t, visitor, id, "web once")
		for i, want := range []counts{{Forwarded: 1}, {Duplicates: 1}} {
			a, err := postWebRaw(h.client, h.base, id, wb)
			if err != nil {
				t.Fatal(err)
			}
			if c := a.counts(t); c != want {
				t.Errorf("web post %d: answer %+v; want %+v", i, c, want)
			}
		}
		h.web(t, visitor, "web next")
		h.helpdesk.WaitText(t, visitor, "web next")
		if got := texts(h.helpdesk.Envs(visitor)); !slices.Equal(got, []string{"web once", "web next"}) {
			t.Errorf("helpdesk got %q", got)
		}
	})

	t.Run("webhook answer counts every decision", func(t *testing.T) {
		t.Parallel()
		h.block(t, "line-main", "Ue2e-count-q", nil)
		h.block(t, "line-main", "Ue2e-count-r", map[string]string{"action": "record"})
		seen := lineEvent{Contact: "Ue2e-count-f", ID: h.eventID("cnt"), Text: "c0"}
		h.postLine(t, lineBody(t, seen), "").counts(t)
		body := lineBody(t,
			lineEvent{Contact: "Ue2e-count-f", ID: h.eventID("cnt"), Text: "c1"},
			lineEvent{Contact: "Ue2e-count-q", ID: h.eventID("cnt"), Text: "c2"},
			seen,
			lineEvent{Contact: "Ue2e-count-r", ID: h.eventID("cnt"), Text: "c3"},
			lineEvent{Contact: "Ue2e-count-f", ID: h.eventID("cnt"), Text: "c4"},
		)
		if c := h.postLine(t, body, "").counts(t); c != (counts{Forwarded: 2, Recorded: 1, Queued: 1, Duplicates: 1}) {
			t.Errorf("answer = %+v; want forwarded 2, recorded 1, queued 1, duplicates 1", c)
		}
		// LINE's verification call has no events.
		if c := h.postLine(t, []byte(`{"destination":"Uxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx","events":[]}`), "").counts(t); c != (counts{}) {
			t.Errorf("verification answer = %+v; want all zero", c)
		}
		h.bot.WaitText(t, "Ue2e-count-f", "c4")
		if got := texts(h.bot.Envs("Ue2e-count-f")); !slices.Equal(got, []string{"c0", "c1", "c4"}) {
			t.Errorf("bot got %q; want c0 c1 c4", got)
		}
		h.helpdesk.WaitText(t, "Ue2e-count-r", "c3")
	})

	t.Run("concurrent block and messages", func(t *testing.T) {
		t.Parallel()
		testConcurrentBlock(t, h)
	})

	t.Run("expired block stops applying", func(t *testing.T) {
		t.Parallel()
		const contact = "Ue2e-expiring"
		expires := time.Now().Add(2 * time.Second).UTC().Truncate(time.Millisecond)
		e := h.block(t, "line-main", contact, map[string]any{"action": "queue", "expires_at": expires})
		if e.ExpiresAt == nil || !e.ExpiresAt.Equal(expires) {
			t.Errorf("expires_at = %v; want %v", e.ExpiresAt, expires)
		}
		if c := h.line(t, contact, "while blocked"); c != (counts{Queued: 1}) {
			t.Fatalf("before expiry: answer %+v; want queued 1", c)
		}
		waitRedisTime(t, h.rdb, expires)
		if c := h.line(t, contact, "after expiry"); c != (counts{Forwarded: 1}) {
			t.Fatalf("after expiry: answer %+v; want forwarded 1", c)
		}
		h.bot.WaitText(t, contact, "after expiry")
		if got := texts(h.bot.Envs(contact)); !slices.Equal(got, []string{"after expiry"}) {
			t.Errorf("bot got %q", got)
		}
		if st := h.contact(t, "line-main", contact); st.Blocked {
			t.Errorf("contact = %+v; want not blocked after expiry", st)
		}
		var page struct{ Items []blockEntry }
		h.apiOK(t, http.MethodGet, "/admin/v1/blocked-contacts?channel=line-main&limit=500", agentToken, nil, http.StatusOK, &page)
		for _, it := range page.Items {
			if it.Contact == contact {
				t.Errorf("expired block still listed: %+v", it)
			}
		}
	})

	t.Run("ticket endpoints check roles and input", func(t *testing.T) {
		t.Parallel()
		const unknown = "tkt_3_0000000000000000000000000000000a"
		for _, tc := range []struct {
			method, path, token string
			status              int
			code                string
		}{
			{http.MethodGet, "/admin/v1/blocked-tickets", "", 401, "unauthenticated"},
			{http.MethodGet, "/admin/v1/blocked-tickets", "not-a-configured-token", 401, "unauthenticated"},
			{http.MethodGet, "/admin/v1/blocked-tickets", agentToken, 403, "forbidden"},
			{http.MethodGet, "/admin/v1/blocked-tickets/" + unknown, agentToken, 403, "forbidden"},
			{http.MethodPost, "/admin/v1/blocked-tickets/" + unknown + "/unblock", agentToken, 403, "forbidden"},
			{http.MethodDelete, "/admin/v1/blocked-tickets/" + unknown, agentToken, 403, "forbidden"},
			{http.MethodGet, "/admin/v1/dead-letters", agentToken, 403, "forbidden"},
			{http.MethodGet, "/admin/v1/dead-letters", supervisorToken, 403, "forbidden"},
			{http.MethodGet, "/admin/v1/blocked-tickets/" + unknown, supervisorToken, 404, "not_found"},
			{http.MethodGet, "/admin/v1/blocked-tickets/nonsense", supervisorToken, 400, "invalid_request"},
			{http.MethodDelete, "/admin/v1/blocked-tickets/nonsense", supervisorToken, 400, "invalid_request"},
			{http.MethodPost, "/admin/v1/blocked-tickets/" + unknown + "/unblock", supervisorToken, 404, "not_found"},
			{http.MethodDelete, "/admin/v1/blocked-tickets/" + unknown, supervisorToken, 404, "not_found"},
			{http.MethodGet, "/admin/v1/blocked-tickets?cursor=" + url.QueryEscape("not a cursor!"), supervisorToken, 400, "invalid_request"},
			{http.MethodGet, "/admin/v1/blocked-tickets?cursor=bm90LWEtY3Vyc29y", supervisorToken, 400, "invalid_request"},
			{http.MethodGet, "/admin/v1/blocked-tickets?limit=0", supervisorToken, 400, "invalid_request"},
			{http.MethodGet, "/admin/v1/blocked-tickets?channel=nope", supervisorToken, 404, "unknown_channel"},
			{http.MethodPost, "/admin/v1/dead-letters/dl_3_0-0/retry", adminToken, 404, "not_found"},
			{http.MethodPost, "/admin/v1/dead-letters/nonsense/retry", adminToken, 400, "invalid_request"},
		} {
			a := h.api(t, tc.method, tc.path, tc.token, nil)
			if a.Status != tc.status || a.code() != tc.code {
				t.Errorf("%s %s as %q = %d %s; want %d %s", tc.method, tc.path, tc.token, a.Status, a.Body, tc.status, tc.code)
			}
		}
	})
}

// testConcurrentBlock posts messages of one contact from many goroutines
// while the contact is blocked: every message sent after the block's answer
// must be queued and never reach the bot, every forwarded one must reach it
// once, and the queued ones are exactly the ticket's.
func testConcurrentBlock(t *testing.T, h *hw) {
	const (
		contact = "Ue2e-concurrent"
		posters = 8
		per     = 25
		blockAt = 40 // answers before the block is made
	)
	type result struct {
		text       string
		afterBlock bool // sent after the block's 200 arrived
		c          counts
		err        string
	}
	bodies := make([][][]byte, posters)
	for g := range posters {
		for i := range per {
			bodies[g] = append(bodies[g], lineBody(t, lineEvent{Contact: contact, ID: h.eventID("cc"), Text: fmt.Sprintf("g%d-%02d", g, i)}))
		}
	}
	var (
		blockAnswered atomic.Bool
		answered      atomic.Int64
		startBlock    = make(chan struct{})
		results       = make([][]result, posters)
		wg            sync.WaitGroup
	)
	for g := range posters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				r := result{text: fmt.Sprintf("g%d-%02d", g, i), afterBlock: blockAnswered.Load()}
				a, err := postLineRaw(h.client, h.base, bodies[g][i], "")
				switch {
				case err != nil:
					r.err = err.Error()
				case a.Status != http.StatusOK:
					r.err = fmt.Sprintf("%d %s", a.Status, a.Body)
				default:
					_ = json.Unmarshal(a.Body, &r.c)
				}
				results[g] = append(results[g], r)
				if answered.Add(1) == blockAt {
					close(startBlock)
				}
			}
		}()
	}
	select {
	case <-startBlock:
	case <-time.After(waitLimit):
		t.Fatal("posters did not get going")
	}
	h.block(t, "line-main", contact, nil)
	blockAnswered.Store(true)
	wg.Wait()

	forwarded, queued := map[string]bool{}, map[string]bool{}
	for g, rs := range results {
		sawQueued := false
		for _, r := range rs {
			switch {
			case r.err != "":
				t.Errorf("%s: %s", r.text, r.err)
			case r.c == counts{Forwarded: 1}:
				forwarded[r.text] = true
				if r.afterBlock {
					t.Errorf("%s was sent after the block's answer but forwarded", r.text)
				}
				if sawQueued {
					t.Errorf("%s forwarded after an earlier message of poster %d was queued", r.text, g)
				}
			case r.c == counts{Queued: 1}:
				queued[r.text] = true
				sawQueued = true
			default:
				t.Errorf("%s: answer %+v; want forwarded 1 or queued 1", r.text, r.c)
			}
		}
	}
	if len(forwarded) == 0 || len(queued) == 0 {
		t.Fatalf("forwarded %d, queued %d: the block did not land mid-flight", len(forwarded), len(queued))
	}
	tk, ok := h.ticketOf(t, "line-main", contact)
	if !ok {
		t.Fatal("no ticket")
	}
	if tk.MessageCount != len(queued) {
		t.Errorf("ticket message_count = %d; want %d queued", tk.MessageCount, len(queued))
	}
	last := map[byte]string{}
	for _, s := range tk.texts() {
		if !queued[s] {
			t.Errorf("ticket holds %s, which was not answered queued", s)
		}
		if s <= last[s[1]] {
			t.Errorf("ticket order: %s after %s", s, last[s[1]])
		}
		last[s[1]] = s
	}
	// Barrier: the unblock's notices reach the helpdesk after every
	// delivery queued before them.
	h.unblock(t, "line-main", contact, "delete")
	h.helpdesk.WaitType(t, contact, "contact.unblocked")
	got := map[string]int{}
	for _, s := range texts(h.bot.Envs(contact)) {
		got[s]++
		if queued[s] {
			t.Errorf("bot got %s, which was queued", s)
		}
	}
	for s := range forwarded {
		if got[s] != 1 {
			t.Errorf("bot got forwarded %s %d times; want once", s, got[s])
		}
	}
	t.Logf("%d forwarded, %d queued", len(forwarded), len(queued))
}

// TestE2EDeadLetters parks a delivery the bot keeps refusing, retries it once
// the bot recovers, and refuses the retry of a bot delivery of a contact that
// is blocked now.
func TestE2EDeadLetters(t *testing.T) {
	parallelAnyTopology(t)
	h := startHookwall(t, hwOptions{MaxAttempts: 3, AnyTopology: true})
	var failing sync.Map
	h.bot.SetAnswer(func(r testkit.Request) int {
		if _, ok := failing.Load(r.Env.Text()); ok {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})

	// park waits until the bot refused the contact's text max_attempts
	// times and a later message got through, and returns its dead letter.
	park := func(t *testing.T, contact, text string) deadLetter {
		t.Helper()
		failing.Store(text, true)
		h.line(t, contact, text)
		h.line(t, contact, "after "+text)
		h.bot.WaitText(t, contact, "after "+text)
		var ids []string
		for _, r := range h.bot.Requests() {
			if r.Env.Contact == contact && r.Env.Text() == text {
				ids = append(ids, r.WebhookID())
			}
		}
		if len(ids) != 3 || len(firstOrder(ids)) != 1 {
			t.Fatalf("bot saw %s %d times with webhook-ids %v; want 3 attempts of one envelope", text, len(ids), ids)
		}
		for _, dl := range h.deadLetters(t) {
			if dl.Delivery.ID == ids[0] {
				if dl.Attempts != 3 || dl.Delivery.Target != "bot" || dl.Delivery.Contact != contact || dl.Reason == "" {
					t.Errorf("dead letter = %+v; want 3 attempts to the bot with a reason", dl)
				}
				return dl
			}
		}
		t.Fatalf("envelope %s is not in GET /admin/v1/dead-letters", ids[0])
		return deadLetter{}
	}

	t.Run("retry after the target recovers", func(t *testing.T) {
		const contact = "Ue2e-dead-a"
		dl := park(t, contact, "dead a")
		failing.Delete("dead a")
		var res struct {
			ID       string `json:"id"`
			Envelope string `json:"envelope"`
		}
		h.apiOK(t, http.MethodPost, "/admin/v1/dead-letters/"+dl.ID+"/retry", adminToken, nil, http.StatusAccepted, &res)
		if res.ID != dl.ID || res.Envelope != dl.Delivery.ID {
			t.Errorf("retry answer = %+v; want %s with envelope %s", res, dl.ID, dl.Delivery.ID)
		}
		e := h.bot.WaitText(t, contact, "dead a")
		if e.ID != dl.Delivery.ID {
			t.Errorf("redelivered with envelope id %s; want the same id %s", e.ID, dl.Delivery.ID)
		}
		for _, r := range h.bot.Records(contact) {
			if r.Env.Text() == "dead a" && r.WebhookID() != dl.Delivery.ID {
				t.Errorf("redelivered with webhook-id %s; want %s", r.WebhookID(), dl.Delivery.ID)
			}
		}
		for _, d := range h.deadLetters(t) {
			if d.ID == dl.ID {
				t.Errorf("dead letter %s still listed after its retry", dl.ID)
			}
		}
		if a := h.api(t, http.MethodPost, "/admin/v1/dead-letters/"+dl.ID+"/retry", adminToken, nil); a.Status != http.StatusNotFound {
			t.Errorf("second retry = %d %s; want 404", a.Status, a.Body)
		}
	})

	t.Run("retry of a bot delivery of a contact blocked now", func(t *testing.T) {
		const contact = "Ue2e-dead-b"
		dl := park(t, contact, "dead b")
		failing.Delete("dead b")
		h.block(t, "line-main", contact, nil)
		a := h.api(t, http.MethodPost, "/admin/v1/dead-letters/"+dl.ID+"/retry", adminToken, nil)
		if a.Status != http.StatusConflict || a.code() != "contact_blocked" {
			t.Errorf("retry = %d %s; want 409 contact_blocked", a.Status, a.Body)
		}
		parked := false
		for _, d := range h.deadLetters(t) {
			parked = parked || d.ID == dl.ID
		}
		if !parked {
			t.Error("the refused dead letter is no longer parked")
		}
		// Barrier for the bot: a helpdesk notice of the contact queued
		// after the refused retry.
		h.unblock(t, "line-main", contact, "release")
		h.helpdesk.WaitType(t, contact, "contact.unblocked")
		if got := texts(h.bot.Envs(contact)); slices.Contains(got, "dead b") {
			t.Errorf("bot got the refused dead letter: %q", got)
		}
	})
}

// TestE2EHelpdeskOutage keeps the helpdesk failing until its circuit breaker
// opens, checks that attempts stop while it is open, then lets the helpdesk
// recover: every event arrives, in per-contact order.
func TestE2EHelpdeskOutage(t *testing.T) {
	parallelAnyTopology(t)
	h := startHookwall(t, hwOptions{MaxAttempts: 1000, AnyTopology: true})
	var down atomic.Bool
	down.Store(true)
	h.helpdesk.SetAnswer(func(testkit.Request) int {
		if down.Load() {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	const contacts, per = 8, 6
	want := map[string][]string{}
	for i := range per {
		for c := range contacts {
			contact, text := fmt.Sprintf("visitor-outage-%d", c), fmt.Sprintf("m%02d", i)
			if got := h.web(t, contact, text); got != (counts{Forwarded: 1}) {
				t.Fatalf("answer = %+v", got)
			}
			want[contact] = append(want[contact], text)
		}
	}
	requests := func() int { return len(h.helpdesk.Requests()) }
	// The breaker opens after 5 consecutive failures.
	h.helpdesk.WaitUntil(t, waitLimit, "5 failed attempts", func() bool { return requests() >= 5 })
	before := requests()
	waitRedisTime(t, h.rdb, redisNow(t, h.rdb).Add(2*time.Second))
	during := requests() - before
	// Without a breaker 8 contacts retrying every 20ms to 200ms make about
	// a hundred attempts in 2s; with it, only those already in flight.
	if during > contacts {
		t.Errorf("%d attempts in the 2s after the breaker should have opened; want at most %d", during, contacts)
	}
	down.Store(false)
	h.helpdesk.WaitUntil(t, 3*waitLimit, "every event after the outage", func() bool {
		for contact, w := range want {
			if len(firstOrder(texts(h.helpdesk.Envs(contact)))) < len(w) {
				return false
			}
		}
		return true
	})
	for contact, w := range want {
		if got := firstOrder(texts(h.helpdesk.Envs(contact))); !slices.Equal(got, w) {
			t.Errorf("%s: first deliveries %q; want %q", contact, got, w)
		}
	}
	total := requests()
	t.Logf("%d helpdesk requests in all, %d in the 2s of the open breaker", total, during)
}

// TestE2EStoreOutage kills the redis-server (with an fsynced append-only
// file) under load: webhooks answer 503 store_unavailable while it is down,
// and once it is back every event that got a 200 is delivered.
func TestE2EStoreOutage(t *testing.T) {
	t.Parallel()
	h := startHookwall(t, hwOptions{RedisArgs: []string{"--appendonly", "yes", "--appendfsync", "always"}})
	const (
		posters  = 8
		per      = 30
		outageAt = 60
	)
	bodies := make([][][]byte, posters)
	for p := range posters {
		for i := range per {
			bodies[p] = append(bodies[p], lineBody(t, lineEvent{Contact: fmt.Sprintf("Ue2e-outage-%d", p), ID: h.eventID("so"), Text: fmt.Sprintf("s%02d", i)}))
		}
	}
	var (
		epoch     atomic.Int32 // 0 up, 1 down, 2 restarting or back
		answered  atomic.Int64
		got503    atomic.Int64
		outage    = make(chan struct{})
		restarted = make(chan struct{})
		waiting   = make(chan int, posters) // each poster once: it waits for the restart, or it is done
		wg        sync.WaitGroup
		mu        sync.Mutex
		problems  []string
		ok        = make([][]string, posters)
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		problems = append(problems, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	for p := range posters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var signal sync.Once
			defer signal.Do(func() { waiting <- p })
			for i := range per {
				for try := 0; ; try++ {
					if try > 50 {
						fail("poster %d: s%02d not accepted after %d tries", p, i, try)
						return
					}
					e0 := epoch.Load()
					a, err := postLineRaw(h.client, h.base, bodies[p][i], "")
					e1 := epoch.Load()
					if err != nil {
						fail("poster %d: %v", p, err)
						return
					}
					if a.Status == http.StatusOK {
						if e0 == 1 && e1 == 1 {
							fail("poster %d: s%02d answered 200 while the store was down: %s", p, i, a.Body)
						}
						ok[p] = append(ok[p], fmt.Sprintf("s%02d", i))
						if answered.Add(1) == outageAt {
							close(outage)
						}
						break
					}
					if a.Status != http.StatusServiceUnavailable || a.code() != "store_unavailable" {
						fail("poster %d: s%02d answered %d %s; want 200 or 503 store_unavailable", p, i, a.Status, a.Body)
						return
					}
					got503.Add(1)
					signal.Do(func() { waiting <- p })
					select {
					case <-restarted:
					case <-time.After(3 * waitLimit):
						fail("poster %d: no restart", p)
						return
					}
				}
			}
		}()
	}
	select {
	case <-outage:
	case <-time.After(waitLimit):
		t.Fatal("no load before the outage")
	}
	h.redis.Stop()
	epoch.Store(1)
	for range posters {
		select {
		case <-waiting:
		case <-time.After(waitLimit):
			t.Fatal("posters neither refused nor done while the store is down")
		}
	}
	epoch.Store(2)
	h.redis.Restart()
	close(restarted)
	wg.Wait()
	for _, p := range problems {
		t.Error(p)
	}
	if got503.Load() == 0 {
		t.Error("no webhook answered 503 while the store was down")
	}
	h.bot.WaitUntil(t, 3*waitLimit, "every accepted event", func() bool {
		for p := range posters {
			if len(firstOrder(texts(h.bot.Envs(fmt.Sprintf("Ue2e-outage-%d", p))))) < len(ok[p]) {
				return false
			}
		}
		return true
	})
	for p := range posters {
		contact := fmt.Sprintf("Ue2e-outage-%d", p)
		if got := firstOrder(texts(h.bot.Envs(contact))); !slices.Equal(got, ok[p]) {
			t.Errorf("%s: first deliveries %q; want %q", contact, got, ok[p])
		}
	}
	t.Logf("%d answers 503 during the outage", got503.Load())
}

// checkEnvelope compares the routing fields of got with want; empty strings
// and a nil message in want are not compared, the booleans always are.
func checkEnvelope(t *testing.T, got, want testkit.Envelope) {
	t.Helper()
	str := []struct{ name, got, want string }{
		{"type", got.Type, want.Type}, {"channel", got.Channel, want.Channel},
		{"channel_type", got.ChannelType, want.ChannelType}, {"contact", got.Contact, want.Contact},
		{"route", got.Route, want.Route}, {"queue", got.Queue, want.Queue},
	}
	for _, s := range str {
		if s.want != "" && s.got != s.want {
			t.Errorf("envelope %s: %s = %q; want %q", got.ID, s.name, s.got, s.want)
		}
	}
	if got.Automation != want.Automation || got.Blocked != want.Blocked {
		t.Errorf("envelope %s: automation %v blocked %v; want %v %v", got.ID, got.Automation, got.Blocked, want.Automation, want.Blocked)
	}
	if want.Message != nil {
		if got.Message == nil {
			t.Errorf("envelope %s has no message", got.ID)
		} else if w := *want.Message; got.Message.Text != w.Text || got.Message.Type != w.Type || w.ID != "" && got.Message.ID != w.ID {
			t.Errorf("envelope %s: message %+v; want %+v", got.ID, *got.Message, w)
		}
	}
}

// types returns the envelope types, in order.
func types(envs []testkit.Envelope) []string {
	out := make([]string, len(envs))
	for i, e := range envs {
		out[i] = e.Type
	}
	return out
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// TestE2ELostReadReply cuts the connection that carries a delivery worker's
// XREADGROUP answer after Redis has executed it: the entry is then in the
// consumer group's pending list although the worker never saw it. At least
// once and per-contact order ask that it still reaches the bot, before the
// contact's next message; the contact's later message is the barrier.
func TestE2ELostReadReply(t *testing.T) {
	t.Parallel()
	h := startHookwall(t, hwOptions{DropProxy: true})
	const contact, marker = "Ue2e-lost-reply", "lost-reply-marker-7f3a"
	h.line(t, contact, "first")
	h.bot.WaitText(t, contact, "first")
	// The ingest answer carries no message text; the worker's read of the
	// shard does.
	h.proxy.arm(marker)
	h.line(t, contact, marker)
	select {
	case <-h.proxy.dropped:
	case <-time.After(waitLimit):
		t.Fatal("the worker's read of the entry did not pass the proxy")
	}
	h.line(t, contact, "next")
	h.bot.WaitText(t, contact, "next")
	if got := texts(h.bot.Envs(contact)); !slices.Equal(firstOrder(got), []string{"first", marker, "next"}) {
		t.Errorf("bot got %q; want first, %s, next", got, marker)
		ctx := context.Background()
		queues, _ := h.rdb.Keys(ctx, "hw:*:queue").Result()
		for _, q := range queues {
			if p, err := h.rdb.XPending(ctx, q, "hookwall").Result(); err == nil && p.Count > 0 {
				t.Logf("%s: %d entries pending in group hookwall (%s..%s): handed out by Redis, skipped by the worker's retried read", q, p.Count, p.Lower, p.Higher)
			}
		}
	}
}

// TestE2EBreakerIsolatesTargets keeps the helpdesk down until its breaker
// opens, then sends a message of another contact, on the same delivery
// shard, to the bot, which is up: a breaker per target means the bot's
// delivery does not wait for the helpdesk's breaker to half-open.
func TestE2EBreakerIsolatesTargets(t *testing.T) {
	parallelAnyTopology(t)
	h := startHookwall(t, hwOptions{MaxAttempts: 1000, AnyTopology: true})
	const visitor = "visitor-isolation"
	contact := ""
	for i := 0; contact == ""; i++ {
		if c := fmt.Sprintf("Ue2e-isolation-%d", i); store.BucketOf("line-main", c) == store.BucketOf("web", visitor) {
			contact = c
		}
	}
	var (
		down      atomic.Bool
		afterTrip atomic.Int64 // helpdesk requests once the breaker is open
		trial     = make(chan struct{})
		trialOnce sync.Once
	)
	down.Store(true)
	afterTrip.Store(-1)
	h.helpdesk.SetAnswer(func(testkit.Request) int {
		if afterTrip.Load() >= 0 && afterTrip.Add(1) == 1 {
			trialOnce.Do(func() { close(trial) })
		}
		if down.Load() {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	t.Cleanup(func() { down.Store(false) })
	h.web(t, visitor, "to the helpdesk, which is down")
	h.helpdesk.WaitUntil(t, waitLimit, "5 failed attempts", func() bool { return len(h.helpdesk.Requests()) >= 5 })
	afterTrip.Store(0)

	h.line(t, contact, "to the bot, which is up")
	for {
		ch := h.bot.Changed()
		if len(h.bot.Envs(contact)) > 0 {
			break
		}
		select {
		case <-ch:
		case <-trial:
			t.Fatalf("the bot's delivery to %s waited for the helpdesk breaker's half-open trial: "+
				"one shard's deliveries wait for every contact of the batch, so one target's open breaker stalls the others", contact)
		case <-time.After(waitLimit):
			t.Fatal("no delivery to the bot")
		}
	}
}
