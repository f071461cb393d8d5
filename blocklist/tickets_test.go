package blocklist_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hookwall/hookwall/blocklist"
	"github.com/hookwall/hookwall/internal/redistest"
)

// TestTicketsPageAcrossBuckets queues messages of many blocked contacts and
// pages through the supervisor's list: every ticket once, oldest first.
func TestTicketsPageAcrossBuckets(t *testing.T) {
	rdb := redistest.StartTopology(t).Client()
	s := newStore(t, rdb, true)
	ctx := context.Background()
	const contacts = 23
	for i := range contacts {
		co := fmt.Sprintf("U%02d", i)
		block(t, s, "line-main", co)
		out, err := s.Ingest(ctx, []blocklist.Event{{
			Channel: "line-main", Contact: co, ID: "ev-" + co, Type: "message",
			Message: json.RawMessage(`{"id":"m","type":"text","text":"hi"}`), ReceivedAt: time.Now(),
			Raw: json.RawMessage(`{}`),
		}})
		if err != nil || out[0].Decision != blocklist.Queued || out[0].Ticket == "" {
			t.Fatalf("ingest %s: %+v %v", co, out, err)
		}
	}
	seen := map[string]bool{}
	var last time.Time
	cursor := ""
	for pages := 0; ; pages++ {
		items, next, err := s.ListTickets(ctx, blocklist.TicketListRequest{Limit: 4, Cursor: cursor})
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
	if _, _, err := s.ListTickets(ctx, blocklist.TicketListRequest{Limit: 4, Cursor: "MTox"}); !errors.Is(err, blocklist.ErrInvalid) {
		t.Fatalf("cursor naming no ticket: %v, want ErrInvalid", err)
	}
	if _, _, err := s.DeadLetters(ctx, 0, ""); !errors.Is(err, blocklist.ErrInvalid) {
		t.Fatalf("limit 0: %v, want ErrInvalid", err)
	}
}
