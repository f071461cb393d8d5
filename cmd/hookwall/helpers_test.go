package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"text/template"
	"time"

	"github.com/hookwall/hookwall/config"
	"github.com/hookwall/hookwall/internal/faultproxy"
	"github.com/hookwall/hookwall/internal/redistest"
	"github.com/hookwall/hookwall/internal/testkit"
	"github.com/redis/go-redis/v9"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// waitLimit bounds every wait for a delivery or a state: it is a failure
// bound only, never a pause; waits end as soon as their condition holds.
const waitLimit = 10 * time.Second

// Secrets and tokens of the test configuration.
const (
	lineSecret      = "e2e-line-channel-secret-0123456789"
	agentToken      = "e2e-agent-token-0000000001"
	supervisorToken = "e2e-supervisor-token-00002"
	adminToken      = "e2e-admin-token-0000000003"
)

var (
	botKey      = whsec("hookwall e2e bot signing key 01")
	helpdeskKey = whsec("hookwall e2e helpdesk signing key 02")
	webKey      = whsec("hookwall e2e web chat signing key 03")
)

func whsec(s string) string { return "whsec_" + base64.StdEncoding.EncodeToString([]byte(s)) }

// texts returns the message texts of envs, in order.
func texts(envs []testkit.Envelope) []string {
	var out []string
	for _, e := range envs {
		if e.Message != nil {
			out = append(out, e.Message.Text)
		}
	}
	return out
}

// counts is the webhook answer.
type counts struct {
	Forwarded  int `json:"forwarded"`
	Recorded   int `json:"recorded"`
	Queued     int `json:"queued"`
	Duplicates int `json:"duplicates"`
}

// hw is one hookwall under test: its own redis-server (or Redis topology),
// fake bot and helpdesk, and hookwall itself running serve in-process. The
// tests of several replicas make one per replica, without redis.
type hw struct {
	redis    *redistest.Server // nil with AnyTopology
	rdb      redis.UniversalClient
	bot      *testkit.Target
	helpdesk *testkit.Target
	proxy    *dropProxy        // with DropProxy
	faults   *faultproxy.Proxy // with FaultProxy
	base     string
	client   *http.Client
	seq      atomic.Int64
	// idPrefix starts every event id of eventID: replicas sharing one
	// Redis must not send each other's ids, or they would be duplicates.
	idPrefix string
	// conf is the configuration of startHookwall's serve; stop ends that
	// serve (restart).
	conf configData
	stop func()
}

// hwOptions tunes startHookwall.
type hwOptions struct {
	// RedisArgs are extra redis-server arguments (persistence).
	RedisArgs []string
	// MaxAttempts is delivery.max_attempts; 3 when zero.
	MaxAttempts int
	// DropProxy puts a dropProxy between hookwall and the redis-server.
	DropProxy bool
	// FaultProxy puts a fault proxy (internal/faultproxy) between hookwall
	// and the redis-server.
	FaultProxy bool
	// WebOutbound is the web chat channel's outbound_url, where agents'
	// replies go; a closed port when empty.
	WebOutbound string
	// AnyTopology runs hookwall on the Redis topology HOOKWALL_TEST_REDIS
	// selects (redistest.StartTopology): one server, Cluster or Sentinel.
	// A test with it neither stops Redis nor needs the proxy: it excludes
	// RedisArgs and DropProxy.
	AnyTopology bool
	// TicketMaxMessages is tickets.max_messages; the default when zero.
	TicketMaxMessages int
}

// parallelAnyTopology marks a test that runs on any topology as parallel,
// except on the Cluster the test binary shares (redistest.Parallel).
func parallelAnyTopology(t *testing.T) { redistest.Parallel(t) }

// configData fills testdata/hookwall.yaml.tmpl.
type configData struct {
	// Listen is the address hookwall listens on.
	Listen string
	// Redis is the config's whole redis section (redistest.Topology's
	// ConfigYAML); when empty, one made of RedisURL.
	Redis, RedisURL string
	// Grace is shutdown.grace (5s when empty); ReadinessDelay is
	// shutdown.readiness_delay (absent when empty).
	Grace, ReadinessDelay string
	// AgentToken, SupervisorToken and AdminToken are the admin tokens;
	// agentToken, supervisorToken and adminToken when empty.
	AgentToken, SupervisorToken, AdminToken string
	LineSecret, WebKey                      string
	// WebOutboundURL is the web chat channel's outbound_url; a closed port
	// when empty.
	WebOutboundURL                           string
	BotURL, BotKey, HelpdeskURL, HelpdeskKey string
	MaxAttempts                              int
	LeaseTTL                                 string
	// TicketMaxMessages is tickets.max_messages (absent when zero).
	TicketMaxMessages int
}

func renderConfig(t testing.TB, d configData) []byte {
	t.Helper()
	tmpl, err := template.ParseFiles("testdata/hookwall.yaml.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []struct {
		field *string
		def   string
	}{
		{&d.AgentToken, agentToken}, {&d.SupervisorToken, supervisorToken}, {&d.AdminToken, adminToken},
	} {
		if *tok.field == "" {
			*tok.field = tok.def
		}
	}
	d.LineSecret, d.WebKey, d.BotKey, d.HelpdeskKey = lineSecret, webKey, botKey, helpdeskKey
	if d.MaxAttempts == 0 {
		d.MaxAttempts = 3
	}
	if d.LeaseTTL == "" {
		d.LeaseTTL = "15s"
	}
	if d.WebOutboundURL == "" {
		d.WebOutboundURL = "http://127.0.0.1:9/outbound"
	}
	if d.Grace == "" {
		d.Grace = "5s"
	}
	if d.Redis == "" {
		d.Redis = fmt.Sprintf("redis:\n  url: %q\n", d.RedisURL)
	}
	d.Redis = strings.TrimRight(d.Redis, "\n")
	var b bytes.Buffer
	if err := tmpl.Execute(&b, d); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// startHookwall starts a private redis-server (or, with AnyTopology, the
// topology HOOKWALL_TEST_REDIS asks for), the fake targets and hookwall's
// serve on a free port, and stops them all when the test ends.
func startHookwall(t *testing.T, o hwOptions) *hw {
	t.Helper()
	h := &hw{}
	d := configData{Listen: freeAddr(t), MaxAttempts: o.MaxAttempts, WebOutboundURL: o.WebOutbound, TicketMaxMessages: o.TicketMaxMessages}
	if o.AnyTopology {
		if len(o.RedisArgs) > 0 || o.DropProxy || o.FaultProxy {
			t.Fatal("startHookwall: AnyTopology excludes RedisArgs and the proxies")
		}
		tp := redistest.StartTopology(t)
		h.rdb = tp.Client()
		d.Redis = tp.ConfigYAML()
	} else {
		h.redis = redistest.Start(t, o.RedisArgs...)
		h.rdb = h.redis.Client()
		d.RedisURL = h.redis.URL()
		if o.DropProxy {
			h.proxy = startDropProxy(t, h.redis.Addr)
			d.RedisURL = h.proxy.URL()
		}
		if o.FaultProxy {
			h.faults = faultproxy.Start(t, h.redis.Addr)
			d.RedisURL = "redis://" + h.faults.Addr + "/0"
		}
	}
	h.bot = testkit.NewTarget(t, "bot", botKey)
	h.helpdesk = testkit.NewTarget(t, "helpdesk", helpdeskKey)
	d.BotURL, d.HelpdeskURL = h.bot.URL(), h.helpdesk.URL()
	h.base = "http://" + d.Listen
	h.client = &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	h.conf = d
	h.serve(t)
	return h
}

// serve runs hookwall's serve on h.conf until the test ends or h.stop is
// called, and waits until it is ready.
func (h *hw) serve(t *testing.T) {
	t.Helper()
	cfg, err := config.Parse(renderConfig(t, h.conf), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	// Every goroutine serve starts, and those they start, carry the label
	// hookwall=<listen address>: goroutines counts them.
	go pprof.Do(ctx, pprof.Labels("hookwall", h.conf.Listen), func(ctx context.Context) { done <- serve(ctx, cfg, log) })
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			h.client.CloseIdleConnections()
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("serve: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Errorf("serve did not return within 15s of its context ending")
			}
		})
	}
	t.Cleanup(h.stop)
	waitReady(t, h.client, h.base, done)
}

// restart stops hookwall and starts it again on the same address, Redis and
// targets, with the configuration edit changes: a token taken out of
// admin.tokens, say.
func (h *hw) restart(t *testing.T, edit func(*configData)) {
	t.Helper()
	h.stop()
	edit(&h.conf)
	h.serve(t)
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitReady polls GET /readyz until hookwall answers 200: the listener is
// bound and the store reachable. exited, when it yields, means hookwall
// stopped before it was ready.
func waitReady(t testing.TB, c *http.Client, base string, exited <-chan error) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		res, err := c.Get(base + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("hookwall at %s not ready after %s: %v", base, waitLimit, err)
		}
		select {
		case err := <-exited:
			t.Fatalf("hookwall exited before it was ready: %v", err)
		case <-tick.C:
		}
	}
}

// lineEvent is one LINE text message event.
type lineEvent struct {
	Contact, ID, Text string
}

var (
	lineTemplateOnce sync.Once
	lineTemplate     []byte
	lineTemplateErr  error
)

// lineBody builds a LINE webhook body of the shape of testdata/line_text.json
// holding the events.
func lineBody(t testing.TB, events ...lineEvent) []byte {
	t.Helper()
	lineTemplateOnce.Do(func() { lineTemplate, lineTemplateErr = os.ReadFile("testdata/line_text.json") })
	if lineTemplateErr != nil {
		t.Fatal(lineTemplateErr)
	}
	var top map[string]any
	if err := json.Unmarshal(lineTemplate, &top); err != nil {
		t.Fatal(err)
	}
	proto, _ := json.Marshal(top["events"].([]any)[0])
	out := make([]any, len(events))
	for i, e := range events {
		var ev map[string]any
		_ = json.Unmarshal(proto, &ev)
		ev["webhookEventId"] = e.ID
		ev["timestamp"] = time.Now().UnixMilli()
		ev["source"].(map[string]any)["userId"] = e.Contact
		msg := ev["message"].(map[string]any)
		msg["id"] = "m-" + e.ID
		msg["text"] = e.Text
		out[i] = ev
	}
	top["events"] = out
	body, err := json.Marshal(top)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// lineSignature is X-Line-Signature: base64(HMAC-SHA256(secret, body)).
func lineSignature(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// answer is an HTTP answer of hookwall.
type answer struct {
	Status int
	Body   []byte
}

// code is the problem code of an error answer.
func (a answer) code() string {
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(a.Body, &p)
	return p.Code
}

// counts decodes a webhook answer.
func (a answer) counts(t testing.TB) counts {
	t.Helper()
	if a.Status != http.StatusOK {
		t.Fatalf("webhook answered %d: %s", a.Status, a.Body)
	}
	var c counts
	if err := json.Unmarshal(a.Body, &c); err != nil {
		t.Fatalf("webhook answer %s: %v", a.Body, err)
	}
	return c
}

// send makes one request; it does not touch t, so goroutines may use it.
func send(c *http.Client, method, url string, header http.Header, body []byte) (answer, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	req.Header = header
	res, err := c.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return answer{}, err
	}
	return answer{Status: res.StatusCode, Body: b}, nil
}

// postLineRaw posts a signed LINE body to line-main without touching t.
func postLineRaw(c *http.Client, base string, body []byte, traceparent string) (answer, error) {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("X-Line-Signature", lineSignature(lineSecret, body))
	if traceparent != "" {
		h.Set("traceparent", traceparent)
	}
	return send(c, http.MethodPost, base+"/webhooks/line-main", h, body)
}

// postLine posts a signed LINE body and returns the answer.
func (h *hw) postLine(t testing.TB, body []byte, traceparent string) answer {
	t.Helper()
	a, err := postLineRaw(h.client, h.base, body, traceparent)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// eventID returns a fresh platform event id.
func (h *hw) eventID(prefix string) string {
	return fmt.Sprintf("%s%s-%06d", h.idPrefix, prefix, h.seq.Add(1))
}

// line posts one LINE text message of the contact and returns the counts.
func (h *hw) line(t testing.TB, contact, text string) counts {
	t.Helper()
	return h.postLine(t, lineBody(t, lineEvent{Contact: contact, ID: h.eventID("ev"), Text: text}), "").counts(t)
}

// webBody builds a web chat body of the shape of testdata/webchat_message.json.
func webBody(t testing.TB, contact, id, text string) []byte {
	t.Helper()
	raw, err := os.ReadFile("testdata/webchat_message.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	m["id"] = id
	m["contact"].(map[string]any)["id"] = contact
	m["message"].(map[string]any)["id"] = "m-" + id
	m["message"].(map[string]any)["text"] = text
	m["timestamp"] = time.Now().UTC().Format(time.RFC3339)
	body, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// postWebRaw posts a Standard Webhooks signed web chat message with the
// webhook-id id, without touching t.
func postWebRaw(c *http.Client, base, id string, body []byte) (answer, error) {
	wh, err := standardwebhooks.NewWebhook(webKey)
	if err != nil {
		return answer{}, err
	}
	now := time.Now()
	sig, err := wh.Sign(id, now, body)
	if err != nil {
		return answer{}, err
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(standardwebhooks.HeaderWebhookID, id)
	h.Set(standardwebhooks.HeaderWebhookTimestamp, fmt.Sprint(now.Unix()))
	h.Set(standardwebhooks.HeaderWebhookSignature, sig)
	return send(c, http.MethodPost, base+"/webhooks/web", h, body)
}

// web posts one web chat message of the contact and returns the counts.
func (h *hw) web(t testing.TB, contact, text string) counts {
	t.Helper()
	id := h.eventID("msg")
	a, err := postWebRaw(h.client, h.base, id, webBody(t, contact, id, text))
	if err != nil {
		t.Fatal(err)
	}
	return a.counts(t)
}

// api calls the admin API with a bearer token ("" for none) and a JSON body
// (nil for none).
func (h *hw) api(t testing.TB, method, path, token string, body any) answer {
	t.Helper()
	hdr := http.Header{}
	if token != "" {
		hdr.Set("Authorization", "Bearer "+token)
	}
	var b []byte
	if body != nil {
		if s, ok := body.(string); ok {
			b = []byte(s)
		} else {
			var err error
			if b, err = json.Marshal(body); err != nil {
				t.Fatal(err)
			}
		}
		hdr.Set("Content-Type", "application/json")
	}
	a, err := send(h.client, method, h.base+path, hdr, b)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// apiOK calls the admin API, expects want, and decodes the answer into v
// (when not nil).
func (h *hw) apiOK(t testing.TB, method, path, token string, body any, want int, v any) {
	t.Helper()
	a := h.api(t, method, path, token, body)
	if a.Status != want {
		t.Fatalf("%s %s = %d %s; want %d", method, path, a.Status, a.Body, want)
	}
	if v != nil {
		if err := json.Unmarshal(a.Body, v); err != nil {
			t.Fatalf("%s %s: decoding %s: %v", method, path, a.Body, err)
		}
	}
}

// blockEntry is the block entry of the admin API.
type blockEntry struct {
	Channel   string     `json:"channel"`
	Contact   string     `json:"contact"`
	Note      string     `json:"note"`
	Action    string     `json:"action"`
	BlockedBy string     `json:"blocked_by"`
	BlockedAt time.Time  `json:"blocked_at"`
	ExpiresAt *time.Time `json:"expires_at"`
}

// block blocks the contact with the request body (nil: the channel's
// default action) as the agent.
func (h *hw) block(t testing.TB, channel, contact string, body any) blockEntry {
	t.Helper()
	var e blockEntry
	h.apiOK(t, http.MethodPost, "/admin/v1/channels/"+channel+"/contacts/"+contact+"/block", agentToken, body, http.StatusOK, &e)
	return e
}

// unblockResult is the unblock answer.
type unblockResult struct {
	Released int `json:"released"`
	Deleted  int `json:"deleted"`
}

// unblock unblocks the contact, releasing or deleting its tickets as tickets
// says, as the supervisor: an agent may not act on tickets.
func (h *hw) unblock(t testing.TB, channel, contact, tickets string) unblockResult {
	t.Helper()
	var r unblockResult
	h.apiOK(t, http.MethodPost, "/admin/v1/channels/"+channel+"/contacts/"+contact+"/unblock", supervisorToken,
		map[string]string{"tickets": tickets}, http.StatusOK, &r)
	return r
}

// contactState is GET /admin/v1/channels/{channel}/contacts/{contact}.
type contactState struct {
	Blocked bool        `json:"blocked"`
	Block   *blockEntry `json:"block"`
}

func (h *hw) contact(t testing.TB, channel, contact string) contactState {
	t.Helper()
	var s contactState
	h.apiOK(t, http.MethodGet, "/admin/v1/channels/"+channel+"/contacts/"+contact, agentToken, nil, http.StatusOK, &s)
	return s
}

// conversation is the contact's latest conversation.
type conversation struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Messages []struct {
		Decision string `json:"decision"`
		Message  struct {
			ID      string           `json:"id"`
			Message *testkit.Message `json:"message"`
		} `json:"message"`
	} `json:"messages"`
}

func (h *hw) conversation(t testing.TB, channel, contact string) conversation {
	t.Helper()
	var c conversation
	h.apiOK(t, http.MethodGet, "/admin/v1/channels/"+channel+"/contacts/"+contact+"/conversation", agentToken, nil, http.StatusOK, &c)
	return c
}

// ticket is a blocked ticket of the admin API.
type ticket struct {
	ID             string    `json:"id"`
	Channel        string    `json:"channel"`
	Contact        string    `json:"contact"`
	MessageCount   int       `json:"message_count"`
	FirstMessageAt time.Time `json:"first_message_at"`
	LastMessageAt  time.Time `json:"last_message_at"`
	Messages       []struct {
		ID      string           `json:"id"`
		Type    string           `json:"type"`
		Message *testkit.Message `json:"message"`
	} `json:"messages"`
}

// texts returns the texts of the ticket's messages, oldest first.
func (tk ticket) texts() []string {
	var out []string
	for _, m := range tk.Messages {
		if m.Message != nil {
			out = append(out, m.Message.Text)
		}
	}
	return out
}

// tickets lists every open ticket of the channel as the supervisor.
func (h *hw) tickets(t testing.TB, channel string) []ticket {
	t.Helper()
	var all []ticket
	cursor := ""
	for {
		var page struct {
			Items      []ticket `json:"items"`
			NextCursor string   `json:"next_cursor"`
		}
		h.apiOK(t, http.MethodGet, "/admin/v1/blocked-tickets?limit=100&channel="+channel+"&cursor="+cursor, supervisorToken, nil, http.StatusOK, &page)
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			return all
		}
		cursor = page.NextCursor
	}
}

// ticketOf returns the contact's open ticket from the listing, with its
// messages from GET /admin/v1/blocked-tickets/{id}; ok is false when it has
// none.
func (h *hw) ticketOf(t testing.TB, channel, contact string) (ticket, bool) {
	t.Helper()
	var found []ticket
	for _, tk := range h.tickets(t, channel) {
		if tk.Contact == contact {
			found = append(found, tk)
		}
	}
	switch len(found) {
	case 0:
		return ticket{}, false
	case 1:
	default:
		t.Fatalf("%d open tickets for %s: %+v", len(found), contact, found)
	}
	var full ticket
	h.apiOK(t, http.MethodGet, "/admin/v1/blocked-tickets/"+found[0].ID, supervisorToken, nil, http.StatusOK, &full)
	if full.MessageCount != found[0].MessageCount || full.ID != found[0].ID {
		t.Fatalf("ticket %s: listing %+v, detail %+v", found[0].ID, found[0], full)
	}
	return full, true
}

// deadLetter is a parked delivery of the admin API.
type deadLetter struct {
	ID       string `json:"id"`
	Attempts int    `json:"attempts"`
	Reason   string `json:"reason"`
	Delivery struct {
		ID      string `json:"id"`
		Target  string `json:"target"`
		Contact string `json:"contact"`
	} `json:"delivery"`
}

func (h *hw) deadLetters(t testing.TB) []deadLetter {
	t.Helper()
	var page struct {
		Items []deadLetter `json:"items"`
	}
	h.apiOK(t, http.MethodGet, "/admin/v1/dead-letters?limit=500", adminToken, nil, http.StatusOK, &page)
	return page.Items
}

// redisNow is the Redis server's clock.
func redisNow(t testing.TB, rdb redis.UniversalClient) time.Time {
	t.Helper()
	now, err := rdb.Time(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	return now
}

// waitRedisTime waits until the Redis server's clock is past until: the
// clock that expires keys.
func waitRedisTime(t testing.TB, rdb redis.UniversalClient, until time.Time) {
	t.Helper()
	for {
		now := redisNow(t, rdb)
		if now.After(until) {
			return
		}
		time.Sleep(until.Sub(now) + time.Millisecond)
	}
}

// firstOrder returns the values in order of their first occurrence.
func firstOrder[T comparable](vs []T) []T {
	seen := map[T]bool{}
	var out []T
	for _, v := range vs {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// dropProxy is a TCP proxy in front of the redis-server that, when armed,
// cuts the one connection whose server reply carries a marker: the server
// has executed the command, the client never reads the answer, as when a
// network path or a Redis proxy fails at that moment.
type dropProxy struct {
	ln      net.Listener
	target  string
	marker  atomic.Pointer[[]byte]
	dropped chan struct{}
	mu      sync.Mutex
	conns   []net.Conn
}

func startDropProxy(t testing.TB, target string) *dropProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &dropProxy{ln: ln, target: target, dropped: make(chan struct{})}
	go p.accept()
	t.Cleanup(func() {
		_ = ln.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.conns {
			_ = c.Close()
		}
	})
	return p
}

// URL is the redis:// URL of the proxy.
func (p *dropProxy) URL() string { return "redis://" + p.ln.Addr().String() + "/0" }

// arm makes the proxy cut the first connection whose reply holds marker;
// dropped is closed when it has.
func (p *dropProxy) arm(marker string) {
	m := []byte(marker)
	p.marker.Store(&m)
}

func (p *dropProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		go func() {
			_, _ = io.Copy(s, c)
			_ = s.Close()
		}()
		go p.replies(c, s)
	}
}

func (p *dropProxy) replies(c, s net.Conn) {
	defer c.Close()
	defer s.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := s.Read(buf)
		if n > 0 {
			if m := p.marker.Load(); m != nil && bytes.Contains(buf[:n], *m) && p.marker.CompareAndSwap(m, nil) {
				close(p.dropped)
				return
			}
			if _, err := c.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
