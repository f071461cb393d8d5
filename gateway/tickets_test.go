package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookwall/hookwall/blocklist"
	"github.com/hookwall/hookwall/blocklist/blocks"
	"github.com/hookwall/hookwall/channels"
	"github.com/hookwall/hookwall/gateway"
	"github.com/redis/go-redis/v9"
)

// newTicketEnv is newEnv with a second channel, wa-main, and tickets that
// keep max messages. Its fake channels take bodies of up to 1 MiB, so that a
// test fills a ticket in few requests.
func newTicketEnv(t *testing.T, max int) *env {
	t.Helper()
	return newEnvOf(t, envSpec{
		maxBody: 1 << 20,
		extra:   []extraChannel{{id: "wa-main", action: blocks.ActionQueue}},
		store:   blocklist.Config{TicketMessages: max},
		gateway: func(c *gateway.Config) {
			c.RequestTimeout = 10 * time.Second
			c.Tokens = c.Tokens[:2] // agent and supervisor
		},
	})
}

// flood posts n text messages of the contact to line-main, per per request,
// with texts m<from>, m<from+1>, ... and a raw event of about 400 bytes, the
// size of a WhatsApp text message's.
func (e *env) flood(contact string, from, n, per int) {
	e.t.Helper()
	pad := strings.Repeat("x", 300)
	for i := 0; i < n; i += per {
		var evs []channels.Event
		for j := i; j < min(i+per, n); j++ {
			text := fmt.Sprintf("m%d", from+j)
			ev := textMsg(contact, contact+"-"+text, text)
			ev.Raw = json.RawMessage(`{"text":"` + text + `","pad":"` + pad + `"}`)
			evs = append(evs, ev)
		}
		e.post("line-main", evs...)
	}
}

// ticketTexts returns the texts of a ticket answer's messages.
func ticketTexts(t *testing.T, r resp) []string {
	t.Helper()
	msgs, ok := r.body["messages"].([]any)
	if !ok {
		t.Fatalf("ticket answer without messages: %s", r.raw)
	}
	var out []string
	for _, m := range msgs {
		msg, _ := m.(map[string]any)["message"].(map[string]any)
		text, _ := msg["text"].(string)
		out = append(out, text)
	}
	return out
}

// TestTicketAPI fills a ticket past its bound over HTTP: the listing, the
// contact status and the ticket answer count what it dropped, and the ticket
// answer pages the messages it kept.
func TestTicketAPI(t *testing.T) {
	e := newTicketEnv(t, 5)
	if r := e.do("POST", "/admin/v1/channels/line-main/contacts/U1/block", agentToken, `{}`); r.status != 200 {
		t.Fatalf("block: %d %s", r.status, r.raw)
	}
	e.flood("U1", 1, 8, 8)

	r := e.do("GET", "/admin/v1/blocked-tickets", supervisorToken, "")
	items, _ := r.body["items"].([]any)
	if r.status != 200 || len(items) != 1 {
		t.Fatalf("listing: %d %s; want one ticket", r.status, r.raw)
	}
	tk := items[0].(map[string]any)
	if tk["message_count"] != 5.0 || tk["dropped_count"] != 3.0 {
		t.Errorf("listed ticket %v; want 5 messages and 3 dropped", tk)
	}
	st := e.do("GET", "/admin/v1/channels/line-main/contacts/U1", agentToken, "")
	if open, _ := st.body["open_ticket"].(map[string]any); open == nil || open["dropped_count"] != 3.0 {
		t.Errorf("contact status %s; want the open ticket with 3 dropped", st.raw)
	}

	id := tk["id"].(string)
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		r := e.do("GET", "/admin/v1/blocked-tickets/"+id+"?limit=2&cursor="+url.QueryEscape(cursor), supervisorToken, "")
		if r.status != 200 || r.body["dropped_count"] != 3.0 || r.body["message_count"] != 5.0 {
			t.Fatalf("page %d: %d %s", pages, r.status, r.raw)
		}
		page := ticketTexts(t, r)
		if len(page) > 2 {
			t.Fatalf("page %d holds %d messages, more than the limit 2", pages, len(page))
		}
		got = append(got, page...)
		cursor, _ = r.body["next_cursor"].(string)
		if cursor == "" {
			break
		}
		if pages > 5 {
			t.Fatal("paging does not end")
		}
	}
	if want := []string{"m4", "m5", "m6", "m7", "m8"}; !slices.Equal(got, want) {
		t.Errorf("paged %v, want the newest five %v", got, want)
	}
	if r := e.do("GET", "/admin/v1/blocked-tickets/"+id, supervisorToken, ""); len(ticketTexts(t, r)) != 5 || r.body["next_cursor"] != "" {
		t.Errorf("default page %s; want all five and no next page", r.raw)
	}
	for _, q := range []string{"limit=0", "limit=501", "cursor=%21%21"} {
		wantProblem(t, e.do("GET", "/admin/v1/blocked-tickets/"+id+"?"+q, supervisorToken, ""), 400, "invalid_request")
	}
}

// chunkWatch is a go-redis hook on the store's client. Before the release
// chunk that follows the first one run, it posts a webhook of another
// channel and records its answer: a release that runs as one script has no
// next chunk to wait for.
type chunkWatch struct {
	webhook func() (int, error)

	mu       sync.Mutex
	ran      int // chunks run (not those refused with NOSCRIPT and sent again)
	answered []int
	errs     []error
	took     []time.Duration
}

func (w *chunkWatch) DialHook(next redis.DialHook) redis.DialHook { return next }
func (w *chunkWatch) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		chunk := false
		for _, cmd := range cmds {
			chunk = chunk || isChunk(cmd)
		}
		if !chunk {
			return next(ctx, cmds)
		}
		return w.around(func() error { return next(ctx, cmds) })
	}
}

func (w *chunkWatch) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !isChunk(cmd) {
			return next(ctx, cmd)
		}
		return w.around(func() error { return next(ctx, cmd) })
	}
}

// isChunk reports whether cmd runs the release chunk script: the only script
// whose first key is a contact's release hash.
func isChunk(cmd redis.Cmder) bool {
	a := cmd.Args()
	return len(a) >= 4 && (a[0] == "evalsha" || a[0] == "eval") && strings.Contains(fmt.Sprint(a[3]), "}:rel:")
}

// around runs a release chunk, and before the second one the webhook.
func (w *chunkWatch) around(run func() error) error {
	w.mu.Lock()
	second := w.ran == 1 && len(w.answered) == 0
	w.mu.Unlock()
	if second {
		start := time.Now()
		status, err := w.webhook()
		w.mu.Lock()
		w.answered, w.errs, w.took = append(w.answered, status), append(w.errs, err), append(w.took, time.Since(start))
		w.mu.Unlock()
	}
	err := run()
	if err == nil {
		w.mu.Lock()
		w.ran++
		w.mu.Unlock()
	}
	return err
}

// TestReleaseLetsOtherChannelsThrough releases a ticket of 20,000 messages
// (the bound raised for it), as a flood from a blocked contact makes one.
// While it is released, another channel's webhook is answered between two
// of the release's scripts; and Redis's slow log, which times each command
// inside Redis, shows no script holding Redis for more than a quarter of the
// release's time. The whole ticket in one script — a few hundred
// milliseconds on an idle machine, seconds on a busy one, every channel's
// webhooks waiting — is all of it. The bound is relative because the test
// shares its cores: a busy machine stretches every script alike, and a
// script's absolute time is a benchmark's figure (BenchmarkReleaseTicket).
func TestReleaseLetsOtherChannelsThrough(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a ticket of 20,000 messages")
	}
	const messages = 20000
	e := newTicketEnv(t, messages)
	if r := e.do("POST", "/admin/v1/channels/line-main/contacts/U-flood/block", agentToken, `{}`); r.status != 200 {
		t.Fatalf("block: %d %s", r.status, r.raw)
	}
	e.flood("U-flood", 1, messages, 1000)
	tk, err := e.store.OpenTicket(t.Context(), "line-main", "U-flood")
	if err != nil || tk.MessageCount != messages {
		t.Fatalf("ticket %+v, %v; want %d messages", tk, err, messages)
	}

	n := 0
	w := &chunkWatch{webhook: func() (int, error) {
		n++
		body := fmt.Sprintf(`[{"contact":"U-other","id":"other-%d","type":"message","raw":{}}]`, n)
		req, err := http.NewRequest("POST", e.base+"/webhooks/wa-main", strings.NewReader(body))
		if err != nil {
			return 0, err
		}
		req.Header.Set("X-Fake-Signature", "good")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		_ = readResp(res)
		return res.StatusCode, nil
	}}
	e.rdb.AddHook(w)
	ctx := t.Context()
	for _, kv := range [][2]string{{"slowlog-log-slower-than", "0"}, {"slowlog-max-len", "100000"}} {
		if err := e.rdb.ConfigSet(ctx, kv[0], kv[1]).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.rdb.SlowLogReset(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	r := e.do("POST", "/admin/v1/blocked-tickets/"+tk.ID+"/unblock", supervisorToken, "")
	if r.status != 200 || r.body["messages"] != float64(messages) {
		t.Fatalf("release: %d %s", r.status, r.raw)
	}
	log, err := e.rdb.SlowLogGet(ctx, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	var scripts int
	var longest, sum time.Duration
	for _, l := range log {
		if len(l.Args) > 0 && strings.HasPrefix(strings.ToLower(l.Args[0]), "eval") {
			scripts++
			sum += l.Duration
			longest = max(longest, l.Duration)
		}
	}
	t.Logf("%d scripts in %v of Redis time, the longest %v", scripts, sum, longest)

	if longest > sum/4 {
		t.Errorf("a script of the release held Redis for %v of the release's %v; want at most a quarter", longest, sum)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.answered) != 1 || w.errs[0] != nil || w.answered[0] != 200 {
		t.Fatalf("webhooks of wa-main answered between the release's first two scripts: %v %v; want one 200", w.answered, w.errs)
	}
	t.Logf("the webhook between two of them was answered in %v", w.took[0])
	depth, err := e.store.QueueDepth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, d := range depth {
		total += d
	}
	// Every message, the ticket.released and contact.blocked notices, and
	// the other channel's message.
	if total != messages+3 {
		t.Errorf("%d deliveries queued, want %d", total, messages+3)
	}
}
