package testkit

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Envelope is what hookwall delivers to a bot or a helpdesk (docs/CONTRACT.md,
// "Deliveries to bot and helpdesk"). No field is omitted when it is encoded,
// so a test can also post one.
type Envelope struct {
	ID           string          `json:"id"`
	Type         string          `json:"type"`
	Channel      string          `json:"channel"`
	ChannelType  string          `json:"channel_type"`
	Contact      string          `json:"contact"`
	Conversation string          `json:"conversation"`
	Route        string          `json:"route"`
	Queue        string          `json:"queue"`
	Automation   bool            `json:"automation"`
	Blocked      bool            `json:"blocked"`
	Message      *Message        `json:"message"`
	ReceivedAt   time.Time       `json:"received_at"`
	Raw          json.RawMessage `json:"raw"`
	Data         json.RawMessage `json:"data"`
}

// Message is the message of an envelope.
type Message struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	Text string `json:"text"`
}

// Text is the message text, "" for an envelope without a message.
func (e Envelope) Text() string {
	if e.Message == nil {
		return ""
	}
	return e.Message.Text
}

// Request is one request a Target received.
type Request struct {
	// N is the request's arrival number at the target, from 0.
	N      int
	Header http.Header
	Body   []byte
	// Env is the body decoded; the zero Envelope when Problem is set.
	Env Envelope
	// Status is what the target answered.
	Status int
	// Problem says why the target refused the request with a 400 and will
	// fail the test; "" for a good request.
	Problem string
}

// WebhookID is the request's webhook-id header: the envelope id.
func (r Request) WebhookID() string { return r.Header.Get(standardwebhooks.HeaderWebhookID) }

// TraceParent is the request's traceparent header.
func (r Request) TraceParent() string { return r.Header.Get("traceparent") }

// Delivered reports whether the target took the request: it answered a 2xx.
func (r Request) Delivered() bool { return r.Status >= 200 && r.Status <= 299 }

// Target is a fake bot or helpdesk: an HTTP server on the loopback interface
// that hookwall delivers to.
//
// It takes a POST to URL with Content-Type application/json whose body is an
// Envelope and, with a key, whose Standard Webhooks signature verifies with
// that key. It answers any other request 400 and fails the test when the
// test ends, naming what was wrong. It answers a good request 200, or what
// the function given to SetAnswer says.
//
// It records every request once it has answered it. The accessors return
// copies; the waits poll them each time a request is recorded, until a limit
// that fails the test.
type Target struct {
	name   string
	srv    *httptest.Server
	wh     *standardwebhooks.Webhook // nil: unsigned
	answer atomic.Pointer[func(Request) int]
	count  atomic.Int64
	conns  atomic.Int64 // connections open

	mu      sync.Mutex
	reqs    []Request
	changed chan struct{} // closed and replaced when a request is recorded
}

// NewTarget starts a target whose URL ends in "/"+name; name also labels its
// failure messages. A target with a key verifies every request's Standard
// Webhooks signature with it (a "whsec_" secret). Without a key it verifies
// none and takes signed and unsigned requests alike: a test that sends both
// to one target checks the signatures itself. The target stops when the test
// ends, after the requests it is answering have ended.
func NewTarget(t testing.TB, name, key string) *Target {
	t.Helper()
	f := &Target{name: name, changed: make(chan struct{})}
	if key != "" {
		wh, err := standardwebhooks.NewWebhook(key)
		if err != nil {
			t.Fatalf("target %s: key: %v", name, err)
		}
		f.wh = wh
	}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serveHTTP))
	f.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			f.conns.Add(1)
		case http.StateClosed, http.StateHijacked:
			f.conns.Add(-1)
		}
	}
	f.srv.Start()
	// Cleanups run last first: the server closes, waiting for the requests
	// in progress, before the refused ones are reported.
	t.Cleanup(func() {
		for _, r := range f.Requests() {
			if r.Problem != "" {
				t.Errorf("target %s: refused request %d: %s: %s", f.name, r.N, r.Problem, r.Body)
			}
		}
	})
	t.Cleanup(f.srv.Close)
	return f
}

// URL is where hookwall posts to this target.
func (f *Target) URL() string { return f.srv.URL + "/" + f.name }

// SetAnswer makes the target answer a good request with fn's status; nil
// restores 200. fn may block, holding the request open; it must return by
// the end of the test. It is called on the server's goroutines.
func (f *Target) SetAnswer(fn func(Request) int) {
	if fn == nil {
		f.answer.Store(nil)
		return
	}
	f.answer.Store(&fn)
}

// Conns is how many connections to the target are open: a test counts them
// to find connections its client leaves behind.
func (f *Target) Conns() int { return int(f.conns.Load()) }

// Count is how many requests have arrived, those still being answered
// included.
func (f *Target) Count() int { return int(f.count.Load()) }

func (f *Target) serveHTTP(w http.ResponseWriter, r *http.Request) {
	rec := Request{N: int(f.count.Add(1) - 1), Header: r.Header.Clone()}
	body, err := io.ReadAll(r.Body)
	rec.Body = body
	switch {
	case err != nil:
		rec.Problem = "reading body: " + err.Error()
	case r.Method != http.MethodPost || r.URL.Path != "/"+f.name:
		rec.Problem = fmt.Sprintf("%s %s, want POST /%s", r.Method, r.URL.Path, f.name)
	case r.Header.Get("Content-Type") != "application/json":
		rec.Problem = fmt.Sprintf("content type %q", r.Header.Get("Content-Type"))
	default:
		if f.wh != nil {
			if err := f.wh.Verify(body, r.Header); err != nil {
				rec.Problem = "signature: " + err.Error()
				break
			}
		}
		if err := json.Unmarshal(body, &rec.Env); err != nil {
			rec.Env = Envelope{}
			rec.Problem = "not an envelope: " + err.Error()
		}
	}
	rec.Status = http.StatusOK
	if rec.Problem != "" {
		rec.Status = http.StatusBadRequest
	} else if fn := f.answer.Load(); fn != nil {
		rec.Status = (*fn)(rec)
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, rec)
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
	w.WriteHeader(rec.Status)
}

// Requests returns every request recorded so far, refused and failed ones
// included, in the order the target answered them.
func (f *Target) Requests() []Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Request(nil), f.reqs...)
}

// Delivered returns the requests the target took (answered 2xx), in the
// order it answered them.
func (f *Target) Delivered() []Request {
	return f.filter(func(r Request) bool { return true })
}

// Records returns the delivered requests of a contact ("" for envelopes
// without one), in order.
func (f *Target) Records(contact string) []Request {
	return f.filter(func(r Request) bool { return r.Env.Contact == contact })
}

// filter returns the delivered requests that keep accepts, in order.
func (f *Target) filter(keep func(Request) bool) []Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Request
	for _, r := range f.reqs {
		if r.Delivered() && keep(r) {
			out = append(out, r)
		}
	}
	return out
}

// Envs returns the delivered envelopes of a contact ("" for envelopes
// without one), in order.
func (f *Target) Envs(contact string) []Envelope {
	var out []Envelope
	for _, r := range f.Records(contact) {
		out = append(out, r.Env)
	}
	return out
}

// Changed returns a channel that is closed when the target next records a
// request. A test that waits on it together with something else takes it
// before it checks its condition, so that no request slips in between.
func (f *Target) Changed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
}

// WaitUntil returns once cond holds, checking it now and after each request
// the target records; it fails the test after limit, naming what it waited
// for. cond may call the target's accessors.
func (f *Target) WaitUntil(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for {
		ch := f.Changed()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("target %s: timed out after %s waiting for %s; delivered so far:\n%s", f.name, limit, what, f.summary())
		}
	}
}

// WaitDelivered waits until the target has taken n requests and returns the
// first n, in order.
func (f *Target) WaitDelivered(t testing.TB, n int) []Request {
	t.Helper()
	delivered := func() int {
		f.mu.Lock()
		defer f.mu.Unlock()
		count := 0
		for _, r := range f.reqs {
			if r.Delivered() {
				count++
			}
		}
		return count
	}
	f.WaitUntil(t, WaitLimit, fmt.Sprintf("%d deliveries", n), func() bool { return delivered() >= n })
	return f.Delivered()[:n]
}

// WaitRequest waits for a delivered request that match accepts and returns
// the first such.
func (f *Target) WaitRequest(t testing.TB, what string, match func(Request) bool) Request {
	t.Helper()
	var got Request
	f.WaitUntil(t, WaitLimit, what, func() bool {
		for _, r := range f.Delivered() {
			if match(r) {
				got = r
				return true
			}
		}
		return false
	})
	return got
}

// WaitEnv waits for a delivered envelope of the contact ("" for envelopes
// without one) that match accepts and returns the first such.
func (f *Target) WaitEnv(t testing.TB, contact, what string, match func(Envelope) bool) Envelope {
	t.Helper()
	return f.WaitRequest(t, what, func(r Request) bool { return r.Env.Contact == contact && match(r.Env) }).Env
}

// WaitText waits for the contact's message with that text.
func (f *Target) WaitText(t testing.TB, contact, text string) Envelope {
	t.Helper()
	return f.WaitEnv(t, contact, fmt.Sprintf("message %q of %s", text, contact), func(e Envelope) bool { return e.Text() == text })
}

// WaitType waits for the contact's envelope of that type (a notice).
func (f *Target) WaitType(t testing.TB, contact, typ string) Envelope {
	t.Helper()
	return f.WaitEnv(t, contact, fmt.Sprintf("%s of %s", typ, contact), func(e Envelope) bool { return e.Type == typ })
}

// summary lists what the target took, for failure messages.
func (f *Target) summary() string {
	var b strings.Builder
	got := f.Delivered()
	for i, r := range got {
		if i == 40 {
			fmt.Fprintf(&b, "  ... %d more\n", len(got)-i)
			break
		}
		fmt.Fprintf(&b, "  %s %s contact=%s text=%q\n", r.Env.ID, r.Env.Type, r.Env.Contact, r.Env.Text())
	}
	return b.String()
}
