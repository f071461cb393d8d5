package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookwall/hookwall/blocklist"
	"github.com/hookwall/hookwall/blocklist/blocks"
	"github.com/hookwall/hookwall/channels"
	"github.com/hookwall/hookwall/internal/redistest"
)

// tick is a clock that moves one millisecond on every reading, so that each
// request's events are received at a later instant than the last's.
type tick struct {
	mu sync.Mutex
	t  time.Time
}

func (c *tick) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

// newConsoleEnv is newEnv with two channels, the second with an enabled bot
// and the record action, on a ticking clock.
func newConsoleEnv(t *testing.T) *env {
	t.Helper()
	clk := &tick{t: time.Now().UTC().Truncate(time.Millisecond)}
	return newEnvOf(t, envSpec{
		maxBody: 64 << 10,
		extra:   []extraChannel{{id: "wa-main", action: blocks.ActionRecord, bot: true}},
		store:   blocklist.Config{Now: clk.Now},
	})
}

// post sends one webhook request of the events to the channel.
func (e *env) post(channel string, evs ...channels.Event) map[string]any {
	e.t.Helper()
	body, err := json.Marshal(evs)
	if err != nil {
		e.t.Fatal(err)
	}
	r := e.do("POST", "/webhooks/"+channel, "", string(body), "X-Fake-Signature", "good")
	if r.status != 200 {
		e.t.Fatalf("webhook %s: %d %s", channel, r.status, r.raw)
	}
	return r.body
}

func textMsg(contact, id, text string) channels.Event {
	return channels.Event{Contact: contact, ID: id, Type: "message", Message: &channels.Message{ID: "m-" + id, Type: "text", Text: text}, Raw: json.RawMessage(`{}`)}
}

func TestMe(t *testing.T) {
	redistest.Parallel(t)
	e := newEnv(t)
	tests := []struct{ token, name, role string }{
		{agentToken, "alice", "agent"},
		{supervisorToken, "sam", "supervisor"},
		{adminToken, "root", "admin"},
	}
	for _, tc := range tests {
		t.Run(tc.role, func(t *testing.T) {
			r := e.do("GET", "/admin/v1/me", tc.token, "")
			if r.status != 200 || r.body["name"] != tc.name || r.body["role"] != tc.role || len(r.body) != 2 {
				t.Fatalf("me = %d %s, want name %s role %s", r.status, r.raw, tc.name, tc.role)
			}
		})
	}
	wantProblem(t, e.do("GET", "/admin/v1/me", "", ""), 401, "unauthenticated")
}

func TestChannels(t *testing.T) {
	e := newConsoleEnv(t)
	r := e.do("GET", "/admin/v1/channels", agentToken, "")
	want := `{"items":[` +
		`{"id":"line-main","type":"fake","blocked_action":"queue","bot":false},` +
		`{"id":"wa-main","type":"fake","blocked_action":"record","bot":true}]}`
	if r.status != 200 || r.raw != want {
		t.Fatalf("channels = %d %s\nwant %s", r.status, r.raw, want)
	}
}

// recentItem is the part of a recent contact the tests compare.
type recentItem struct{ channel, contact, preview, blocked string }

func (e *env) recentPage(query string) ([]recentItem, string) {
	e.t.Helper()
	r := e.do("GET", "/admin/v1/contacts?"+query, agentToken, "")
	if r.status != 200 {
		e.t.Fatalf("contacts?%s = %d %s", query, r.status, r.raw)
	}
	var out []recentItem
	var last time.Time
	for i, it := range r.body["items"].([]any) {
		m := it.(map[string]any)
		at, err := time.Parse(time.RFC3339Nano, m["last_message_at"].(string))
		if err != nil || at.Location() != time.UTC {
			e.t.Fatalf("last_message_at %v: %v", m["last_message_at"], err)
		}
		if i > 0 && at.After(last) {
			e.t.Fatalf("contacts?%s: item %d is newer than the one before it: %s", query, i, r.raw)
		}
		last = at
		out = append(out, recentItem{m["channel"].(string), m["contact"].(string), m["preview"].(string), fmt.Sprint(m["blocked"])})
	}
	next, ok := r.body["next_cursor"].(string)
	if !ok {
		e.t.Fatalf("contacts?%s: no next_cursor: %s", query, r.raw)
	}
	return out, next
}

// recentAll pages through the recent contacts, limit at a time.
func (e *env) recentAll(query string, limit int) []recentItem {
	e.t.Helper()
	var all []recentItem
	cursor := ""
	for pages := 0; ; pages++ {
		items, next := e.recentPage(fmt.Sprintf("%s&limit=%d&cursor=%s", query, limit, url.QueryEscape(cursor)))
		all = append(all, items...)
		if next == "" {
			return all
		}
		if len(items) != limit || pages > 100 {
			e.t.Fatalf("page %d: %d items with a next cursor", pages, len(items))
		}
		cursor = next
	}
}

func TestRecentContactsAPI(t *testing.T) {
	e := newConsoleEnv(t)
	var want []recentItem // newest first
	for i := range 9 {
		ch := "line-main"
		if i%3 == 2 {
			ch = "wa-main"
		}
		co := fmt.Sprintf("U%d", i)
		e.post(ch, textMsg(co, "e"+co, "hello "+co))
		want = append([]recentItem{{ch, co, "hello " + co, "false"}}, want...)
	}
	// A duplicate and a passthrough event are not indexed; a blocked
	// contact's queued message is, and moves it to the top.
	if r := e.post("line-main", textMsg("U0", "eU0", "changed")); r["duplicates"] != 1.0 {
		t.Fatalf("redelivery: %v", r)
	}
	if r := e.post("line-main", channels.Event{ID: "join", Type: "join", Raw: json.RawMessage(`{}`)}); r["forwarded"] != 1.0 {
		t.Fatalf("passthrough: %v", r)
	}
	if r := e.do("POST", "/admin/v1/channels/line-main/contacts/U1/block", agentToken, ""); r.status != 200 {
		t.Fatalf("block: %d %s", r.status, r.raw)
	}
	long := strings.Repeat("ü", 120)
	if r := e.post("line-main", textMsg("U1", "eU1-2", long)); r["queued"] != 1.0 {
		t.Fatalf("blocked contact's message: %v", r)
	}
	want = append([]recentItem{{"line-main", "U1", strings.Repeat("ü", 100), "true"}}, want[:len(want)-2]...)
	want = append(want, recentItem{"line-main", "U0", "hello U0", "false"})

	tests := []struct {
		name, query string
		limit       int
		want        []recentItem
	}{
		{"one page", "", 50, want},
		{"pages of 2", "", 2, want},
		{"pages of 3", "", 3, want},
		{"channel filter", "channel=wa-main", 2, filter(want, "wa-main")},
		{"channel filter, one page", "channel=line-main", 50, filter(want, "line-main")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := e.recentAll(tc.query, tc.limit); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("listed\n%v\nwant\n%v", got, tc.want)
			}
		})
	}
	if _, next := e.recentPage(""); next != "" {
		t.Fatalf("default limit: next %q on %d contacts", next, len(want))
	}

	for _, tc := range []struct {
		query  string
		status int
		code   string
	}{
		{"channel=nope", 404, "unknown_channel"},
		{"limit=0", 400, "invalid_request"},
		{"limit=501", 400, "invalid_request"},
		{"limit=x", 400, "invalid_request"},
		{"cursor=%21%21", 400, "invalid_request"},
		{"cursor=MTox", 400, "invalid_request"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			wantProblem(t, e.do("GET", "/admin/v1/contacts?"+tc.query, agentToken, ""), tc.status, tc.code)
		})
	}
}

func filter(items []recentItem, channel string) []recentItem {
	var out []recentItem
	for _, it := range items {
		if it.channel == channel {
			out = append(out, it)
		}
	}
	return out
}

func TestAuditAPIPaging(t *testing.T) {
	e := newConsoleEnv(t)
	for i := range 12 {
		if r := e.do("POST", fmt.Sprintf("/admin/v1/channels/line-main/contacts/U%d/block", i), agentToken, ""); r.status != 200 {
			t.Fatalf("block: %d %s", r.status, r.raw)
		}
	}
	// An old client's request: no cursor, the newest records.
	whole := e.do("GET", "/admin/v1/audit", adminToken, "")
	if whole.status != 200 || len(whole.body["items"].([]any)) != 12 || whole.body["next_cursor"] != "" {
		t.Fatalf("audit = %d %s", whole.status, whole.raw)
	}
	for _, limit := range []int{1, 5, 12} {
		t.Run(fmt.Sprint("limit ", limit), func(t *testing.T) {
			var got []any
			cursor := ""
			for pages := 0; ; pages++ {
				r := e.do("GET", fmt.Sprintf("/admin/v1/audit?limit=%d&cursor=%s", limit, url.QueryEscape(cursor)), adminToken, "")
				if r.status != 200 {
					t.Fatalf("page %d: %d %s", pages, r.status, r.raw)
				}
				items := r.body["items"].([]any)
				got = append(got, items...)
				next, _ := r.body["next_cursor"].(string)
				if next == "" {
					break
				}
				if len(items) != limit || pages > 20 {
					t.Fatalf("page %d: %d records with a next cursor", pages, len(items))
				}
				cursor = next
			}
			if fmt.Sprint(got) != fmt.Sprint(whole.body["items"]) {
				t.Fatalf("pages\n%v\nwant\n%v", got, whole.body["items"])
			}
		})
	}
	wantProblem(t, e.do("GET", "/admin/v1/audit?cursor=%21%21", adminToken, ""), 400, "invalid_request")
}
