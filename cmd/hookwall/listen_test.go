package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookwall/hookwall/config"
	"github.com/hookwall/hookwall/internal/testkit"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// The listen tests run "hookwall listen" on listeners the test binds first
// on free ports, post deliveries to it over real sockets and read what it
// printed. listen prints what it does with a request before it answers it,
// so once the answer is in, the output is complete: only deliveries that
// hookwall itself makes are waited for.

// syncBuffer is an io.Writer for several goroutines; waiters are woken on
// every write.
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{}
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{changed: make(chan struct{})} }

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.b.Write(p)
	close(s.changed)
	s.changed = make(chan struct{})
	return n, err
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Len is how much was written so far: an offset for since.
func (s *syncBuffer) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Len()
}

// since returns what was written after offset n.
func (s *syncBuffer) since(n int) string { return s.String()[n:] }

// lineWith returns the first line of s holding every part.
func lineWith(s string, parts ...string) (string, bool) {
	for l := range strings.Lines(s) {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(l, p)
		}
		if ok {
			return l, true
		}
	}
	return "", false
}

// wait waits until cond holds of everything written, failing the test after
// waitLimit or when exited is closed first (the writer is gone).
func (s *syncBuffer) wait(t testing.TB, exited <-chan struct{}, what string, cond func(string) bool) {
	t.Helper()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		all, ch := s.b.String(), s.changed
		s.mu.Unlock()
		if cond(all) {
			return
		}
		select {
		case <-ch:
		case <-exited:
			t.Fatalf("listen stopped before printing %s; it printed:\n%s", what, all)
		case <-deadline.C:
			t.Fatalf("not printed after %s: %s; printed:\n%s", waitLimit, what, all)
		}
	}
}

// waitLine waits for a line written after offset from holding every part,
// and returns it.
func (s *syncBuffer) waitLine(t testing.TB, exited <-chan struct{}, from int, parts ...string) string {
	t.Helper()
	var got string
	s.wait(t, exited, fmt.Sprintf("a line with %q", parts), func(all string) bool {
		l, ok := lineWith(all[from:], parts...)
		got = l
		return ok
	})
	return got
}

// listenRun is one "hookwall listen" of a test.
type listenRun struct {
	out, log *syncBuffer
	// exited is closed when listen has returned, with err.
	exited chan struct{}
	err    error
	client *http.Client
}

// bindLocal binds a free loopback port.
func bindLocal(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}

// startListen runs "hookwall listen args" until the test ends; every address
// it listens on must be one of lns, bound beforehand. It returns once listen
// has printed its start lines, one per endpoint; a request sent before then
// would wait in the listener's backlog, but a listen that failed to start
// would leave it waiting for good.
func startListen(t *testing.T, args []string, endpoints int, lns ...net.Listener) *listenRun {
	t.Helper()
	bound := map[string]net.Listener{}
	for _, ln := range lns {
		bound[ln.Addr().String()] = ln
	}
	bind := func(addr string) (net.Listener, error) {
		if ln, ok := bound[addr]; ok {
			return ln, nil
		}
		return nil, fmt.Errorf("test: %s is not bound beforehand", addr)
	}
	r := &listenRun{out: newSyncBuffer(), log: newSyncBuffer(), exited: make(chan struct{}),
		client: &http.Client{Timeout: waitLimit}}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(r.exited)
		r.err = runListen(ctx, args, r.out, r.log, bind)
	}()
	t.Cleanup(func() {
		r.client.CloseIdleConnections()
		cancel()
		select {
		case <-r.exited:
			if r.err != nil {
				t.Errorf("listen: %v", r.err)
			}
			if !strings.HasSuffix(r.log.String(), " stopped\n") {
				t.Errorf("listen did not say it stopped; log:\n%s", r.log)
			}
		case <-time.After(waitLimit):
			t.Errorf("listen did not stop within %s of its context ending", waitLimit)
		}
	})
	r.log.wait(t, r.exited, fmt.Sprintf("%d start lines", endpoints), func(all string) bool {
		return strings.Count(all, "listening on") >= endpoints
	})
	return r
}

// post sends one delivery: signed with key at ts ("" leaves it unsigned,
// with webhook-id and webhook-timestamp only, as hookwall sends to a target
// without a secret).
func (r *listenRun) post(t *testing.T, method, url, key, id string, ts time.Time, body []byte) answer {
	t.Helper()
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(standardwebhooks.HeaderWebhookID, id)
	h.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(ts.Unix(), 10))
	if key != "" {
		wh, err := standardwebhooks.NewWebhook(key)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := wh.Sign(id, ts, body)
		if err != nil {
			t.Fatal(err)
		}
		h.Set(standardwebhooks.HeaderWebhookSignature, sig)
	}
	a, err := send(r.client, method, url, h, body)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// listenConfig is a hookwall configuration whose targets are on the
// addresses a and b: line-main's bot and helpdesk and web's helpdesk on a,
// web's replies on b, and line-2's unsigned helpdesk and disabled bot on a.
func listenConfig(t *testing.T, hookwall, a, b string) string {
	t.Helper()
	yaml := strings.NewReplacer(
		"{LISTEN}", hookwall, "{A}", a, "{B}", b,
		"{AGENT}", agentToken, "{LINE}", lineSecret,
		"{BOT}", botKey, "{HELPDESK}", helpdeskKey, "{WEB}", webKey,
	).Replace(`listen: "{LISTEN}"
admin:
  tokens:
    - {name: e2e-agent, role: agent, token: "{AGENT}"}
channels:
  - id: line-main
    type: line
    secret: "{LINE}"
    access_token: "e2e-line-access-token"
    blocked_action: queue
    bot: {url: "http://{A}/bot", secret: "{BOT}"}
    helpdesk: {url: "http://{A}/helpdesk", secret: "{HELPDESK}"}
  - id: web
    type: webchat
    secret: "{WEB}"
    outbound_url: "http://{B}/replies"
    blocked_action: record
    helpdesk: {url: "http://{A}/helpdesk", secret: "{HELPDESK}"}
  - id: line-2
    type: line
    secret: "{LINE}"
    access_token: "e2e-line-access-token"
    bot: {url: "http://{A}/off", secret: "{BOT}", enabled: false}
    helpdesk: {url: "http://{A}/open"}
delivery:
  backoff_min: 20ms
  backoff_max: 200ms
shutdown:
  grace: 5s
`)
	path := filepath.Join(t.TempDir(), "hookwall.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// envJSON encodes an envelope for posting.
func envJSON(t *testing.T, e testkit.Envelope) []byte {
	t.Helper()
	if e.ID == "" {
		e.ID = "evt_test"
	}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestListen(t *testing.T) {
	t.Parallel()
	a, b := bindLocal(t), bindLocal(t)
	r := startListen(t, []string{"--config", listenConfig(t, "127.0.0.1:8080", a.Addr().String(), b.Addr().String())}, 5, a, b)
	A, B := "http://"+a.Addr().String(), "http://"+b.Addr().String()

	t.Run("start lines", func(t *testing.T) {
		for _, want := range []string{
			"listening on " + A + "/bot for the bot of line-main (signed)\n",
			"listening on " + A + "/helpdesk for the helpdesk of line-main, web (signed)\n",
			"listening on " + B + "/replies for the web chat replies of web (signed)\n",
			"listening on " + A + "/off for the disabled bot of line-2 (signed)\n",
			"listening on " + A + "/open for the helpdesk of line-2 (unsigned: no secret, deliveries are taken without a signature)\n",
		} {
			if !strings.Contains(r.log.String(), want) {
				t.Errorf("start lines lack %q:\n%s", want, r.log)
			}
		}
	})

	message := testkit.Envelope{
		Type: "message", Channel: "line-main", ChannelType: "line", Contact: "Ulisten1",
		Conversation: "conv_1", Route: "bot", Queue: "bot", Automation: true,
		Message: &testkit.Message{ID: "m1", Type: "text", Text: "hello"},
	}
	withText := func(contact, text string) testkit.Envelope {
		e := message
		e.Contact, e.Message = contact, &testkit.Message{ID: "m2", Type: "text", Text: text}
		return e
	}
	now := time.Now()
	for _, tc := range []struct {
		name       string
		method     string // POST when empty
		url, key   string
		id         string // the webhook-id; a fresh one when empty
		ts         time.Time
		body       []byte
		wantStatus int
		wantCode   string   // the problem code of an error answer
		wantOut    []string // parts of the one printed line; nil: nothing printed
		notOut     []string
		wantLog    []string
	}{{
		name: "signed message to the bot", url: A + "/bot", key: botKey, body: envJSON(t, message),
		wantStatus: http.StatusNoContent,
		wantOut:    []string{` bot      message line-main contact=Ulisten1 conversation=conv_1 route=bot queue=bot automation=on blocked=no text="hello"` + "\n"},
		notOut:     []string{"(duplicate)"},
	}, {
		name: "lifecycle notice with its data", url: A + "/helpdesk", key: helpdeskKey,
		body: envJSON(t, testkit.Envelope{
			Type: "contact.blocked", Channel: "line-main", ChannelType: "line", Contact: "Ulisten1",
			Conversation: "conv_1", Route: "helpdesk", Queue: "unassigned", Blocked: true,
			Data: json.RawMessage(`{"channel":"line-main","contact":"Ulisten1","note":"abusive language","action":"queue","blocked_by":"agent-1","expires_at":null}`),
		}),
		wantStatus: http.StatusNoContent,
		wantOut: []string{` helpdesk contact.blocked line-main contact=Ulisten1 conversation=conv_1 route=helpdesk queue=unassigned automation=off blocked=yes` +
			` data: action=queue blocked_by=agent-1 note="abusive language"` + "\n"},
	}, {
		name: "passthrough without a contact", url: A + "/helpdesk", key: helpdeskKey,
		body: envJSON(t, testkit.Envelope{
			Type: "join", Channel: "line-main", ChannelType: "line", Route: "helpdesk", Queue: "unassigned", Automation: true,
			Raw: json.RawMessage(`{"type":"join","source":{"type":"group","groupId":"Cg1"}}`),
		}),
		wantStatus: http.StatusNoContent,
		wantOut:    []string{` helpdesk join line-main (no contact) route=helpdesk queue=unassigned automation=on blocked=no raw: source={groupId=Cg1 type=group} type=join` + "\n"},
	}, {
		name: "web chat reply", url: B + "/replies", key: webKey,
		body:       []byte(`{"id":"msg_1","type":"message","contact":{"id":"visitor-1"},"message":{"text":"hi there"},"timestamp":"2026-11-25T10:00:00Z"}`),
		wantStatus: http.StatusNoContent,
		wantOut:    []string{` webchat  reply to contact=visitor-1 text="hi there"` + "\n"},
	}, {
		name: "control characters are escaped", url: A + "/bot", key: botKey,
		body:       envJSON(t, withText("U\x1b[2J", "\x1b[31mred\x1b[0m\r\n\u009b1m\u202e")),
		wantStatus: http.StatusNoContent,
		wantOut:    []string{`contact="U\x1b[2J"`, `text="\x1b[31mred\x1b[0m\r\n\u009b1m\u202e"`},
		notOut:     []string{"\x1b", "\r", "\u009b", "\u202e"},
	}, {
		name: "first delivery of an id", url: A + "/bot", key: botKey, id: "evt_repeat", body: envJSON(t, withText("Ulisten2", "once")),
		wantStatus: http.StatusNoContent,
		wantOut:    []string{` bot      message line-main contact=Ulisten2`},
		notOut:     []string{"(duplicate)"},
	}, {
		name: "redelivery is marked duplicate", url: A + "/bot", key: botKey, id: "evt_repeat", body: envJSON(t, withText("Ulisten2", "once")),
		wantStatus: http.StatusNoContent,
		wantOut:    []string{` bot      (duplicate) message line-main contact=Ulisten2`},
	}, {
		name: "unsigned target takes unsigned deliveries", url: A + "/open", body: envJSON(t, withText("Ulisten3", "open")),
		wantStatus: http.StatusNoContent,
		wantOut:    []string{` helpdesk message line-main contact=Ulisten3`},
	}, {
		name: "wrong secret", url: A + "/bot", key: whsec("not the bot's key, not at all"), body: envJSON(t, message),
		wantStatus: http.StatusUnauthorized, wantCode: "bad_signature",
		wantLog: []string{"refused POST /bot (bot) from 127.0.0.1:", "401 bad_signature: no webhook-signature matches this target's secret"},
	}, {
		name: "another target's secret", url: A + "/bot", key: helpdeskKey, body: envJSON(t, message),
		wantStatus: http.StatusUnauthorized, wantCode: "bad_signature",
		wantLog: []string{"refused POST /bot (bot)", "no webhook-signature matches"},
	}, {
		name: "missing signature", url: A + "/bot", body: envJSON(t, message),
		wantStatus: http.StatusUnauthorized, wantCode: "bad_signature",
		wantLog: []string{"refused POST /bot (bot)", "missing webhook-id, webhook-timestamp or webhook-signature header"},
	}, {
		name: "stale timestamp", url: A + "/bot", key: botKey, ts: now.Add(-6 * time.Minute), body: envJSON(t, message),
		wantStatus: http.StatusUnauthorized, wantCode: "bad_signature",
		wantLog: []string{"refused POST /bot (bot)", "more than 5 minutes old"},
	}, {
		name: "timestamp ahead", url: A + "/bot", key: botKey, ts: now.Add(6 * time.Minute), body: envJSON(t, message),
		wantStatus: http.StatusUnauthorized, wantCode: "bad_signature",
		wantLog: []string{"more than 5 minutes ahead"},
	}, {
		name: "unknown path", url: A + "/bots", key: botKey, body: envJSON(t, message),
		wantStatus: http.StatusNotFound, wantCode: "not_found",
		wantLog: []string{"refused POST /bots from", "404 not_found: no target at this path"},
	}, {
		name: "unknown path with control characters", url: A + "/%1b[2J", key: botKey, body: envJSON(t, message),
		wantStatus: http.StatusNotFound, wantCode: "not_found",
		wantLog: []string{`refused POST "/\x1b[2J" from`},
	}, {
		name: "not a POST", method: http.MethodGet, url: A + "/bot",
		wantStatus: http.StatusMethodNotAllowed, wantCode: "method_not_allowed",
	}, {
		name: "body over the limit", url: A + "/bot", key: botKey, body: bytes.Repeat([]byte{' '}, maxDeliveryBytes+1),
		wantStatus: http.StatusRequestEntityTooLarge, wantCode: "payload_too_large",
	}, {
		name: "signed body that is not an envelope", url: A + "/bot", key: botKey, body: []byte(`[1,2]`),
		wantStatus: http.StatusBadRequest, wantCode: "malformed_payload",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.method == "" {
				tc.method = http.MethodPost
			}
			if tc.id == "" {
				tc.id = "evt_" + strings.ReplaceAll(tc.name, " ", "_")
			}
			if tc.ts.IsZero() {
				tc.ts = time.Now()
			}
			out, log := r.out.Len(), r.log.Len()
			a := r.post(t, tc.method, tc.url, tc.key, tc.id, tc.ts, tc.body)
			if a.Status != tc.wantStatus {
				t.Fatalf("answer %d %s; want %d", a.Status, a.Body, tc.wantStatus)
			}
			if tc.wantCode != "" {
				var p problem
				if err := json.Unmarshal(a.Body, &p); err != nil || p.Code != tc.wantCode || p.Status != tc.wantStatus {
					t.Errorf("answer %s; want a problem with code %s", a.Body, tc.wantCode)
				}
			}
			printed := r.out.since(out)
			switch {
			case tc.wantOut == nil && printed != "":
				t.Errorf("printed %q; want nothing", printed)
			case tc.wantOut != nil && strings.Count(printed, "\n") != 1:
				t.Errorf("printed %q; want one line", printed)
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(printed, w) {
					t.Errorf("printed %q; want it to hold %q", printed, w)
				}
			}
			for _, w := range tc.notOut {
				if strings.Contains(printed, w) {
					t.Errorf("printed %q; want it without %q", printed, w)
				}
			}
			logged := r.log.since(log)
			for _, w := range tc.wantLog {
				if !strings.Contains(logged, w) {
					t.Errorf("logged %q; want it to hold %q", logged, w)
				}
			}
			if strings.Contains(logged, "whsec_") {
				t.Errorf("logged a secret: %q", logged)
			}
		})
	}
}

// TestListenProblemContentType checks the media type of a refusal, which
// send does not return.
func TestListenProblemContentType(t *testing.T) {
	t.Parallel()
	ln := bindLocal(t)
	r := startListen(t, []string{"--addr", ln.Addr().String(), "--secret", botKey}, 1, ln)
	res, err := r.client.Post("http://"+ln.Addr().String()+"/x", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	if ct := res.Header.Get("Content-Type"); res.StatusCode != http.StatusUnauthorized || ct != "application/problem+json" {
		t.Errorf("answer %d %s; want 401 application/problem+json", res.StatusCode, ct)
	}
}

func TestListenAddr(t *testing.T) {
	t.Parallel()
	// Indented JSON with an escaped ESC and a raw C1 control (CSI, U+009B)
	// in the text.
	body := []byte("{\n  \"type\": \"message\", \"channel\": \"web\", \"contact\": \"visitor-2\",\n  \"message\": {\"type\": \"text\", \"text\": \"\\u001b[31mhi\u009b\u202e\"}\n}")
	for _, tc := range []struct {
		name      string
		args      []string // after --addr
		key       string   // signs the deliveries; "" leaves them unsigned
		wantStart string
		// wantOut and wantDup are in what the first and the second delivery
		// of one webhook-id printed; with exact, they are all it printed.
		wantOut, wantDup string
		exact            bool
		wantDupLog       string // logged for the second delivery
	}{{
		name: "signed", args: []string{"--secret", helpdeskKey}, key: helpdeskKey,
		wantStart: " (any path) (signed with --secret)\n",
		wantOut:   ` /desk/in message web contact=visitor-2 route="" queue="" automation=off blocked=no text="\x1b[31mhi\u009b\u202e"` + "\n",
		wantDup:   ` /desk/in (duplicate) message web contact=visitor-2 `,
	}, {
		name:      "unsigned",
		wantStart: " (any path) (unsigned: no --secret, deliveries are taken without a signature)\n",
		wantOut:   ` /desk/in message web contact=visitor-2 `,
		wantDup:   ` /desk/in (duplicate) message web contact=visitor-2 `,
	}, {
		name: "json", args: []string{"--secret", helpdeskKey, "--json"}, key: helpdeskKey,
		wantStart: " (any path) (signed with --secret)\n",
		// Compact, one line, the C1 control escaped.
		wantOut:    `{"type":"message","channel":"web","contact":"visitor-2","message":{"type":"text","text":"\u001b[31mhi\u009b\u202e"}}` + "\n",
		wantDup:    `{"type":"message","channel":"web","contact":"visitor-2","message":{"type":"text","text":"\u001b[31mhi\u009b\u202e"}}` + "\n",
		exact:      true,
		wantDupLog: " /desk/in (duplicate) webhook-id already seen\n",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			ln := bindLocal(t)
			addr := ln.Addr().String()
			r := startListen(t, append([]string{"--addr", addr}, tc.args...), 1, ln)
			if !strings.Contains(r.log.String(), "listening on http://"+addr+tc.wantStart) {
				t.Errorf("start line %q; want it to end in %q", r.log, tc.wantStart)
			}
			for i, want := range []string{tc.wantOut, tc.wantDup} {
				out, log := r.out.Len(), r.log.Len()
				if a := r.post(t, http.MethodPost, "http://"+addr+"/desk/in", tc.key, "msg_addr", time.Now(), body); a.Status != http.StatusNoContent {
					t.Fatalf("answer %d %s; want 204", a.Status, a.Body)
				}
				printed := r.out.since(out)
				if !strings.Contains(printed, want) || (tc.exact && printed != want) {
					t.Errorf("delivery %d printed %q; want %q", i+1, printed, want)
				}
				if logged := r.log.since(log); i == 1 && !strings.Contains(logged, tc.wantDupLog) {
					t.Errorf("delivery %d logged %q; want %q", i+1, logged, tc.wantDupLog)
				}
			}
		})
	}
}

func TestListenFlags(t *testing.T) {
	cfg := listenConfig(t, "127.0.0.1:8080", "127.0.0.1:9001", "127.0.0.1:9003")
	const badKey = "whsec_not*base64*at*all"
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"nothing", nil, listenUsage},
		{"config and addr", []string{"--config", cfg, "--addr", "127.0.0.1:9002"}, listenUsage},
		{"arguments left over", []string{"--addr", "127.0.0.1:9002", "extra"}, listenUsage},
		{"secret with config", []string{"--config", cfg, "--secret", botKey}, "--secret goes with --addr"},
		{"addr without port", []string{"--addr", "127.0.0.1"}, "--addr must be host:port"},
		{"secret not base64", []string{"--addr", "127.0.0.1:9002", "--secret", badKey}, "--secret must be a Standard Webhooks key"},
		{"secret without whsec_", []string{"--addr", "127.0.0.1:9002", "--secret", "c2VjcmV0"}, "--secret must be a Standard Webhooks key"},
		{"missing config file", []string{"--config", filepath.Join(t.TempDir(), "none.yaml")}, "config: "},
		{"unknown flag", []string{"--adr", "127.0.0.1:9002"}, "flag provided but not defined: -adr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bind := func(addr string) (net.Listener, error) {
				t.Errorf("bound %s", addr)
				return nil, errors.New("not in this test")
			}
			err := runListen(context.Background(), tc.args, io.Discard, io.Discard, bind)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v; want one with %q", err, tc.want)
			}
			if err != nil && (strings.Contains(err.Error(), badKey) || strings.Contains(err.Error(), "c2VjcmV0")) {
				t.Errorf("error %q holds the secret", err)
			}
		})
	}
	// run dispatches "listen".
	if err := run([]string{"listen"}, io.Discard, io.Discard); err == nil || err.Error() != listenUsage {
		t.Errorf("run listen: %v; want %q", err, listenUsage)
	}
}

func TestListenRecentIDs(t *testing.T) {
	s := newRecentIDs(2)
	for i, step := range []struct {
		id   string
		seen bool
	}{
		{"a", false}, {"a", true}, {"b", false}, {"a", true},
		{"c", false}, // evicts a, the oldest
		{"b", true}, {"a", false}, {"c", true},
		{"", false}, {"", false}, // no id: never a duplicate
		{strings.Repeat("x", maxIDBytes+1), false}, {strings.Repeat("x", maxIDBytes+1), false},
	} {
		if got := s.add(step.id); got != step.seen {
			t.Errorf("step %d: add(%.10q) = %v; want %v", i, step.id, got, step.seen)
		}
	}
}

func TestListenVerify(t *testing.T) {
	key := func(secret string) *standardwebhooks.Webhook {
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		return wh
	}
	signed := &endpoint{keys: []*standardwebhooks.Webhook{key(botKey), key(helpdeskKey)}}
	mixed := &endpoint{keys: []*standardwebhooks.Webhook{key(botKey)}, unsigned: true}
	open := &endpoint{unsigned: true}
	body := []byte(`{"type":"message"}`)
	headers := func(secret string) http.Header {
		h := http.Header{}
		h.Set(standardwebhooks.HeaderWebhookID, "evt_1")
		now := time.Now()
		h.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(now.Unix(), 10))
		if secret != "" {
			sig, _ := key(secret).Sign("evt_1", now, body)
			h.Set(standardwebhooks.HeaderWebhookSignature, sig)
		}
		return h
	}
	other := whsec("a key of no target of this endpoint")
	for _, tc := range []struct {
		name   string
		ep     *endpoint
		secret string // "" sends no signature
		ok     bool
	}{
		{"signed: the first key", signed, botKey, true},
		{"signed: the second key", signed, helpdeskKey, true},
		{"signed: another key", signed, other, false},
		{"signed: no signature", signed, "", false},
		{"mixed: its key", mixed, botKey, true},
		{"mixed: another key", mixed, other, false},
		// A path shared with a signed target takes no unsigned delivery.
		{"mixed: no signature", mixed, "", false},
		{"unsigned: no signature", open, "", true},
		{"unsigned: any signature", open, other, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.ep.verify(body, headers(tc.secret)); (err == nil) != tc.ok {
				t.Errorf("verify: %v; want ok %v", err, tc.ok)
			}
		})
	}
}

// TestListenE2E runs hookwall serve (on the embedded store) and listen on
// one configuration: what hookwall delivers, listen prints.
func TestListenE2E(t *testing.T) {
	t.Parallel()
	a, b := bindLocal(t), bindLocal(t)
	path := listenConfig(t, freeAddr(t), a.Addr().String(), b.Addr().String())
	l := startListen(t, []string{"--config", path}, 5, a, b)

	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Redis.Embedded() {
		t.Fatal("want the embedded store")
	}
	base := "http://" + cfg.Listen
	client := &http.Client{Timeout: waitLimit}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, cfg, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError})))
	}()
	t.Cleanup(func() {
		client.CloseIdleConnections()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(waitLimit):
			t.Errorf("serve did not return within %s of its context ending", waitLimit)
		}
	})
	waitReady(t, client, base, done)

	const contact, visitor = "Ulisten-e2e", "visitor-e2e"
	body := lineBody(t, lineEvent{Contact: contact, ID: "listen-e2e-1", Text: "hello from \x1b[1mLINE"})
	a1, err := postLineRaw(client, base, body, "")
	if err != nil {
		t.Fatal(err)
	}
	if c := a1.counts(t); c != (counts{Forwarded: 1}) {
		t.Fatalf("webhook answer %+v; want forwarded 1", c)
	}
	l.out.waitLine(t, l.exited, 0, " bot      message line-main contact="+contact+" conversation=conv_",
		` route=bot queue=bot automation=on blocked=no text="hello from \x1b[1mLINE"`+"\n")

	api := func(method, path, body string, want int) {
		t.Helper()
		h := http.Header{"Authorization": {"Bearer " + agentToken}, "Content-Type": {"application/json"}}
		a, err := send(client, method, base+path, h, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		if a.Status != want {
			t.Fatalf("%s %s: %d %s; want %d", method, path, a.Status, a.Body, want)
		}
	}
	api(http.MethodPost, "/admin/v1/channels/line-main/contacts/"+contact+"/block", `{"note": "abusive language"}`, http.StatusOK)
	l.out.waitLine(t, l.exited, 0, " helpdesk conversation.ended line-main contact="+contact, "data: reason=contact.blocked status=blocked\n")
	l.out.waitLine(t, l.exited, 0, " helpdesk contact.blocked line-main contact="+contact, `blocked_by=e2e-agent note="abusive language"`)

	api(http.MethodPost, "/v1/channels/web/contacts/"+visitor+"/messages", `{"text": "hi from an agent"}`, http.StatusAccepted)
	l.out.waitLine(t, l.exited, 0, ` webchat  reply to contact=`+visitor+` text="hi from an agent"`+"\n")

	if strings.Contains(l.log.String(), "refused") {
		t.Errorf("listen refused a delivery of hookwall:\n%s", l.log)
	}
}
