package decision_test

import (
	"context"
	"regexp"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookwall/hookwall/blocklist/internal/storetest"

	"github.com/hookwall/hookwall/blocklist"
	"github.com/hookwall/hookwall/blocklist/blocks"
	"github.com/hookwall/hookwall/blocklist/decision"
	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/hookwall/hookwall/internal/redistest"
)

// TestDecision is the decision script's table: for each state of the
// contact (the feature switch, its block, its ticket, its conversation) and
// each kind of event, the outcome, the delivery entry it writes, and every
// key it writes, by kind. It runs on the topology the environment selects:
// one server, Cluster or Sentinel.
func TestDecision(t *testing.T) {
	redistest.Parallel(t)
	type entry struct{ tgt, route, queue, auto, blk string }
	for _, tc := range []struct {
		name string
		// setup brings the contact Udec of channel ch to the state; the
		// event follows.
		setup    func(t *testing.T, s *blocklist.Store, ch string)
		ch       string // line-main (no bot) or bot-chan
		contact  string // "" for a passthrough
		typ      string // event type
		decision decision.Decision
		conv     string // "new", "same", "" (none)
		ticket   bool
		entry    *entry // the delivery entry, nil for none
		written  []string
	}{{
		name: "a message, bot on the channel", ch: "bot-chan", contact: "Udec", typ: "message",
		decision: decision.Forwarded, conv: "new",
		entry:   &entry{"bot", "bot", "bot", "1", "0"},
		written: []string{"conv", "convmsg", "dd", "queue", "recent", "recentpv"},
	}, {
		name: "a message, helpdesk only", ch: "line-main", contact: "Udec", typ: "message",
		decision: decision.Forwarded, conv: "new",
		entry:   &entry{"helpdesk", "helpdesk", "unassigned", "1", "0"},
		written: []string{"conv", "convmsg", "dd", "queue", "recent", "recentpv"},
	}, {
		name: "a second message, conversation open",
		setup: func(t *testing.T, s *blocklist.Store, ch string) {
			storetest.Ingest(t, s, storetest.TextEvent(ch, "Udec", "ev-first", "first"))
		},
		ch: "bot-chan", contact: "Udec", typ: "message", decision: decision.Forwarded, conv: "same",
		entry:   &entry{"bot", "bot", "bot", "1", "0"},
		written: []string{"conv", "convmsg", "dd", "queue", "recent", "recentpv"},
	}, {
		name: "a follow: no recent contact",
		ch:   "bot-chan", contact: "Udec", typ: "follow", decision: decision.Forwarded, conv: "new",
		entry:   &entry{"bot", "bot", "bot", "1", "0"},
		written: []string{"conv", "convmsg", "dd", "queue"},
	}, {
		name: "a passthrough: helpdesk, no conversation, no recent contact",
		ch:   "bot-chan", contact: "", typ: "join", decision: decision.Forwarded, conv: "",
		entry:   &entry{"helpdesk", "helpdesk", "unassigned", "1", "0"},
		written: []string{"dd", "queue"},
	}, {
		name: "blocked, record: helpdesk, automation off, on the ended conversation",
		setup: func(t *testing.T, s *blocklist.Store, ch string) {
			storetest.Ingest(t, s, storetest.TextEvent(ch, "Udec", "ev-first", "first"))
			blockAs(t, s, ch, "Udec", blocks.ActionRecord)
		},
		ch: "bot-chan", contact: "Udec", typ: "message", decision: decision.Recorded, conv: "same",
		entry:   &entry{"helpdesk", "helpdesk", "unassigned", "0", "1"},
		written: []string{"conv", "convmsg", "dd", "queue", "recent", "recentpv"},
	}, {
		name: "blocked, record, never a conversation: none started",
		setup: func(t *testing.T, s *blocklist.Store, ch string) {
			blockAs(t, s, ch, "Udec", blocks.ActionRecord)
		},
		ch: "bot-chan", contact: "Udec", typ: "message", decision: decision.Recorded, conv: "",
		entry:   &entry{"helpdesk", "helpdesk", "unassigned", "0", "1"},
		written: []string{"dd", "queue", "recent", "recentpv"},
	}, {
		name: "blocked, queue: a new ticket, nothing delivered",
		setup: func(t *testing.T, s *blocklist.Store, ch string) {
			blockAs(t, s, ch, "Udec", blocks.ActionQueue)
		},
		ch: "bot-chan", contact: "Udec", typ: "message", decision: decision.Queued, ticket: true,
		written: []string{"dd", "recent", "recentpv", "tickets", "tickets:", "tkt", "tktid", "tktmsg"},
	}, {
		name: "blocked, queue, ticket open: onto it",
		setup: func(t *testing.T, s *blocklist.Store, ch string) {
			blockAs(t, s, ch, "Udec", blocks.ActionQueue)
			storetest.Ingest(t, s, storetest.TextEvent(ch, "Udec", "ev-first", "first"))
		},
		ch: "bot-chan", contact: "Udec", typ: "message", decision: decision.Queued, ticket: true,
		written: []string{"dd", "recent", "recentpv", "tkt", "tktmsg"},
	}, {
		name: "blocked, feature off: forwarded as if not",
		setup: func(t *testing.T, s *blocklist.Store, ch string) {
			blockAs(t, s, ch, "Udec", blocks.ActionQueue)
			if err := s.SetEnabled(context.Background(), "root", false); err != nil {
				t.Fatal(err)
			}
		},
		ch: "bot-chan", contact: "Udec", typ: "message", decision: decision.Forwarded, conv: "new",
		entry:   &entry{"bot", "bot", "bot", "1", "0"},
		written: []string{"conv", "convmsg", "dd", "queue", "recent", "recentpv"},
	}, {
		name: "unblocked after a block ended the conversation: a new one",
		setup: func(t *testing.T, s *blocklist.Store, ch string) {
			storetest.Ingest(t, s, storetest.TextEvent(ch, "Udec", "ev-first", "first"))
			blockAs(t, s, ch, "Udec", blocks.ActionRecord)
			if _, err := s.Unblock(context.Background(), ch, "Udec", "sam", blocks.TicketsRelease); err != nil {
				t.Fatal(err)
			}
		},
		ch: "bot-chan", contact: "Udec", typ: "message", decision: decision.Forwarded, conv: "new",
		entry:   &entry{"bot", "bot", "bot", "1", "0"},
		written: []string{"conv", "convmsg", "dd", "queue", "recent", "recentpv"},
	}, {
		name: "a duplicate: nothing",
		setup: func(t *testing.T, s *blocklist.Store, ch string) {
			e := storetest.TextEvent(ch, "Udec", "ev-dup", "first")
			storetest.Ingest(t, s, e)
		},
		ch: "bot-chan", contact: "Udec", typ: "duplicate", decision: decision.Duplicate,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			redistest.Parallel(t)
			rdb := redistest.StartTopology(t).Client()
			// Each call of the store's clock is a millisecond later, so that
			// the event writes its times over the setup's, never the same.
			var clock atomic.Int64
			clock.Store(time.Now().UnixMilli())
			s, err := blocklist.New(blocklist.Config{
				DefaultEnabled: true, Now: func() time.Time { return time.UnixMilli(clock.Add(1)) },
				Channels: map[string]store.ChannelInfo{
					"line-main": {Type: "line", DedupeWindow: time.Hour},
					"bot-chan":  {Type: "line", Bot: true, DedupeWindow: time.Hour},
				},
			}, rdb)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.Close)
			if err := s.InitSettings(t.Context()); err != nil {
				t.Fatal(err)
			}
			if tc.setup != nil {
				tc.setup(t, s, tc.ch)
			}
			var prevConv string
			if c, err := s.GetConversation(t.Context(), tc.ch, "Udec"); err == nil {
				prevConv = c.ID
			}
			before := storetest.Dump(t, rdb)
			e := storetest.TextEvent(tc.ch, tc.contact, "ev-decide", "hello")
			switch tc.typ {
			case "duplicate":
				e.ID = "ev-dup"
			case "message":
			default:
				e.Type, e.Message, e.Text = tc.typ, nil, ""
			}
			const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
			e.TraceParent = tp
			o := storetest.Ingest(t, s, e)[0]
			if o.Decision != tc.decision {
				t.Fatalf("decision %s; want %s", o.Decision, tc.decision)
			}
			switch tc.conv {
			case "":
				if o.Conversation != "" {
					t.Errorf("conversation %q; want none", o.Conversation)
				}
			case "new":
				if o.Conversation == "" || o.Conversation == prevConv {
					t.Errorf("conversation %q (before %q); want a new one", o.Conversation, prevConv)
				}
			case "same":
				if o.Conversation == "" || o.Conversation != prevConv {
					t.Errorf("conversation %q; want the same as before, %q", o.Conversation, prevConv)
				}
			}
			if (o.Ticket != "") != tc.ticket {
				t.Errorf("ticket %q; want one: %v", o.Ticket, tc.ticket)
			}
			written := changedKinds(before, storetest.Dump(t, rdb))
			if !slices.Equal(written, tc.written) {
				t.Errorf("keys written %v; want %v", written, tc.written)
			}
			var got []map[string]string
			for _, x := range storetest.Entries(t, rdb, tc.contact) {
				if x["id"] == o.Envelope {
					got = append(got, x)
				}
			}
			switch {
			case tc.entry == nil && len(got) > 0:
				t.Errorf("a delivery entry %v; want none", got)
			case tc.entry != nil && len(got) != 1:
				t.Errorf("%d delivery entries of the event; want 1", len(got))
			case tc.entry != nil:
				x := got[0]
				gotE := entry{x["tgt"], x["route"], x["queue"], x["auto"], x["blk"]}
				if gotE != *tc.entry || x["tp"] != tp || x["conv"] != o.Conversation || x["type"] != e.Type {
					t.Errorf("entry %v; want %+v, tp, conversation %q, type %q", x, *tc.entry, o.Conversation, e.Type)
				}
			}
		})
	}
}

func blockAs(t *testing.T, s *blocklist.Store, ch, co string, action blocks.Action) {
	t.Helper()
	if _, err := s.Block(context.Background(), blocks.BlockRequest{
		Channel: ch, Contact: co, Action: action, Actor: "alice",
	}); err != nil {
		t.Fatal(err)
	}
}

// kindOf names a key's kind: hw:{tag}:<kind>[:...]; the channel's tickets
// index is "tickets:", the bucket's "tickets".
var kindOf = regexp.MustCompile(`^hw:\{[^}]*\}:([a-z]+)(:?)`)

// changedKinds lists, sorted and once each, the kinds of the keys created,
// changed or removed between two snapshots.
func changedKinds(before, after map[string]string) []string {
	seen := map[string]bool{}
	add := func(k string) {
		m := kindOf.FindStringSubmatch(k)
		if m == nil {
			seen[k] = true
			return
		}
		kind := m[1]
		if kind == "tickets" && m[2] == ":" {
			kind = "tickets:"
		}
		seen[kind] = true
	}
	for k, v := range after {
		if before[k] != v {
			add(k)
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			add(k)
		}
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
