package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"github.com/hookwall/hookwall/internal/redistest"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookwall/hookwall/channels"
	"github.com/hookwall/hookwall/internal/testkit"
)

func TestWebhookErrors(t *testing.T) {
	redistest.Parallel(t)
	e := newEnv(t)
	ok := `[{"contact":"U1","id":"e1","type":"message"}]`
	for _, tc := range []struct {
		name, path, body, sig string
		status                int
		code                  string
	}{
		{"unknown channel", "/webhooks/nope", ok, "good", 404, "unknown_channel"},
		{"bad signature", "/webhooks/line-main", ok, "bad", 401, "bad_signature"},
		{"malformed", "/webhooks/line-main", `{"x"`, "good", 400, "malformed_payload"},
		{"over the channel's limit", "/webhooks/line-main", `[` + strings.Repeat(" ", 2000) + `]`, "good", 413, "payload_too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantProblem(t, e.do("POST", tc.path, "", tc.body, "X-Fake-Signature", tc.sig), tc.status, tc.code)
		})
	}
	// Over the route's limit the server answers on the announced length
	// alone and closes the connection; a client still sending the body may
	// then get a reset instead of the answer, so only the head and the
	// body's first byte are sent.
	wantProblem(t, e.announce("/webhooks/line-main", 70<<10, "X-Fake-Signature", "good"), 413, "payload_too_large")
	r := e.do("POST", "/webhooks/line-main", "", ok, "X-Fake-Signature", "good")
	if r.status != 200 || r.raw != `{"forwarded":1,"recorded":0,"queued":0,"duplicates":0}` {
		t.Fatalf("webhook = %d %s", r.status, r.raw)
	}
	// The fake channel has no handshake.
	wantProblem(t, e.do("GET", "/webhooks/line-main?hub.mode=subscribe", "", ""), 405, "method_not_allowed")
}

func TestReplies(t *testing.T) {
	redistest.Parallel(t)
	e := newEnv(t)
	const path = "/v1/channels/line-main/contacts/U1/messages"
	r := e.do("POST", path, agentToken, `{"text":"hello"}`)
	if r.status != http.StatusAccepted || r.body["id"] != "msg-1" {
		t.Fatalf("reply = %d %s", r.status, r.raw)
	}
	if got, want := e.ch.Sent(), []testkit.Sent{{Contact: "U1", Text: "hello"}}; !slices.Equal(got, want) {
		t.Fatalf("sent %v, want %v", got, want)
	}
	if r := e.do("POST", blockPath, agentToken, ""); r.status != 200 {
		t.Fatal(r.raw)
	}
	wantProblem(t, e.do("POST", path, agentToken, `{"text":"hello again"}`), 403, "contact_blocked")
	if len(e.ch.Sent()) != 1 {
		t.Fatal("a reply to a blocked contact left")
	}
	for _, body := range []string{`{}`, `{"text":""}`, `{"text":1}`, `{"text":"` + strings.Repeat("x", 5001) + `"}`} {
		wantProblem(t, e.do("POST", "/v1/channels/line-main/contacts/U2/messages", agentToken, body), 400, "invalid_request")
	}
	wantProblem(t, e.do("POST", "/v1/channels/nope/contacts/U2/messages", agentToken, `{"text":"x"}`), 404, "unknown_channel")
	e.ch.FailSend(fmt.Errorf("line push: %w: invalid to: %w", &channels.StatusError{Code: 400}, channels.ErrPlatform))
	r = e.do("POST", "/v1/channels/line-main/contacts/U2/messages", agentToken, `{"text":"x"}`)
	wantProblem(t, r, 502, "channel_error")
	if want := "channel line-main (fake): the platform answered 4xx"; r.body["detail"] != want {
		t.Fatalf("channel_error detail = %q, want %q", r.body["detail"], want)
	}
}

// announce sends the head of a POST announcing a body of n bytes, and only
// the first byte of the body, and returns the answer.
func (e *env) announce(path string, n int, hdr ...string) resp {
	e.t.Helper()
	u, err := url.Parse(e.base)
	if err != nil {
		e.t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		e.t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second)) // a server that waits for the body fails the test
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", path, u.Host, n)
	for i := 0; i+1 < len(hdr); i += 2 {
		head += hdr[i] + ": " + hdr[i+1] + "\r\n"
	}
	if _, err := io.WriteString(conn, head+"\r\n{"); err != nil {
		e.t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return readResp(res)
}

// TestWebhookKeepsEveryEvent: an authentic request is never refused because
// of one event. A contact the blocklist cannot key makes its event a
// passthrough to the helpdesk; an event id too long for the dedupe marker,
// or none at all, is replaced by a hash that is the same on redelivery.
func TestWebhookKeepsEveryEvent(t *testing.T) {
	redistest.Parallel(t)
	e := newEnv(t)
	long := strings.Repeat("E", 300)
	body := `[` +
		`{"contact":"U1","id":"e1","type":"message","raw":{"n":1}},` +
		`{"contact":"` + strings.Repeat("U", 300) + `","id":"e2","type":"message","raw":{"n":2}},` +
		`{"contact":"U\u0007bell","id":"e3","type":"follow","raw":{"n":3}},` +
		`{"contact":"U4","id":"` + long + `","type":"message","raw":{"n":4}},` +
		`{"contact":"U5","id":"","type":"message","raw":{"n":5}}` +
		`]`
	r := e.do("POST", "/webhooks/line-main", "", body, "X-Fake-Signature", "good")
	if r.status != 200 || r.raw != `{"forwarded":5,"recorded":0,"queued":0,"duplicates":0}` {
		t.Fatalf("webhook = %d %s", r.status, r.raw)
	}
	// The platform's retry of the same request: every event a duplicate.
	r = e.do("POST", "/webhooks/line-main", "", body, "X-Fake-Signature", "good")
	if r.status != 200 || r.raw != `{"forwarded":0,"recorded":0,"queued":0,"duplicates":5}` {
		t.Fatalf("redelivery = %d %s", r.status, r.raw)
	}

	got := map[string]queued{}
	for _, q := range e.queued() {
		got[string(q.raw)] = q
	}
	for _, w := range []struct {
		raw, contact string
		conversation bool
	}{
		{`{"n":1}`, "U1", true},
		{`{"n":2}`, "", false},
		{`{"n":3}`, "", false},
		{`{"n":4}`, "U4", true},
		{`{"n":5}`, "U5", true},
	} {
		q, ok := got[w.raw]
		if !ok {
			t.Errorf("event %s was not queued for delivery", w.raw)
			continue
		}
		if q.contact != w.contact || q.target != "helpdesk" || (q.conversation != "") != w.conversation {
			t.Errorf("event %s queued as %+v, want contact %q to the helpdesk", w.raw, q, w.contact)
		}
	}
	if len(got) != 5 {
		t.Errorf("%d deliveries queued, want 5", len(got))
	}
}

// queued is a delivery as the decision wrote it to a queue shard.
type queued struct {
	contact, target, conversation string
	raw                           json.RawMessage
}

// queued reads every delivery queue shard.
func (e *env) queued() []queued {
	e.t.Helper()
	ctx := context.Background()
	var out []queued
	iter := e.rdb.Scan(ctx, 0, "hw:*:queue", 100).Iterator()
	for iter.Next(ctx) {
		msgs, err := e.rdb.XRange(ctx, iter.Val(), "-", "+").Result()
		if err != nil {
			e.t.Fatal(err)
		}
		for _, m := range msgs {
			var p struct {
				Raw json.RawMessage `json:"raw"`
			}
			if err := json.Unmarshal([]byte(m.Values["ev"].(string)), &p); err != nil {
				e.t.Fatal(err)
			}
			out = append(out, queued{contact: m.Values["co"].(string), target: m.Values["tgt"].(string),
				conversation: m.Values["conv"].(string), raw: p.Raw})
		}
	}
	if err := iter.Err(); err != nil {
		e.t.Fatal(err)
	}
	return out
}
