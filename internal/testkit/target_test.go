package testkit_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookwall/hookwall/internal/testkit"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

var (
	botKey   = "whsec_" + base64.StdEncoding.EncodeToString([]byte("testkit bot signing key 000001"))
	otherKey = "whsec_" + base64.StdEncoding.EncodeToString([]byte("testkit other signing key 0002"))
)

const envelopeBody = `{"id":"evt_1","type":"message","channel":"line-main","channel_type":"line","contact":"U1",` +
	`"conversation":"conv_1","route":"bot","queue":"bot","automation":true,"blocked":false,` +
	`"message":{"id":"m1","type":"text","text":"hello"},"received_at":"2026-11-25T10:00:00Z","raw":{"type":"message"}}`

// recorder is a testing.TB that keeps what a target reports instead of
// failing the test, and runs the cleanups when finish is called.
type recorder struct {
	testing.TB
	mu       sync.Mutex
	errs     []string
	cleanups []func()
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Cleanup(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, f)
}

// finish runs the cleanups, last first, and returns what was reported.
func (r *recorder) finish() []string {
	r.mu.Lock()
	cs := r.cleanups
	r.cleanups = nil
	r.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i]()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.errs
}

// signed returns the headers of a Standard Webhooks request signed with key.
func signed(t *testing.T, key, id string, body []byte) http.Header {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(key)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	sig, err := wh.Sign(id, now, body)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(standardwebhooks.HeaderWebhookID, id)
	h.Set(standardwebhooks.HeaderWebhookTimestamp, fmt.Sprint(now.Unix()))
	h.Set(standardwebhooks.HeaderWebhookSignature, sig)
	return h
}

// post sends a request and returns the status of the answer.
func post(t *testing.T, method, url string, h http.Header, body []byte) int {
	t.Helper()
	status, err := send(method, url, h, body)
	if err != nil {
		t.Fatal(err)
	}
	return status
}

// send is post without t, for other goroutines.
func send(method, url string, h http.Header, body []byte) (int, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header = h
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	res.Body.Close()
	return res.StatusCode, nil
}

func TestTargetTakesSignedEnvelope(t *testing.T) {
	tg := testkit.NewTarget(t, "bot", botKey)
	h := signed(t, botKey, "evt_1", []byte(envelopeBody))
	h.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	if status := post(t, http.MethodPost, tg.URL(), h, []byte(envelopeBody)); status != http.StatusOK {
		t.Fatalf("answer %d, want 200", status)
	}
	reqs := tg.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests recorded, want 1", len(reqs))
	}
	r := reqs[0]
	if r.N != 0 || r.Status != http.StatusOK || r.Problem != "" || !r.Delivered() || string(r.Body) != envelopeBody {
		t.Errorf("request = n %d, status %d, problem %q, body %s", r.N, r.Status, r.Problem, r.Body)
	}
	if r.WebhookID() != "evt_1" || r.TraceParent() != h.Get("traceparent") {
		t.Errorf("webhook-id %q, traceparent %q", r.WebhookID(), r.TraceParent())
	}
	e := r.Env
	if e.ID != "evt_1" || e.Type != "message" || e.Contact != "U1" || e.Route != "bot" || !e.Automation || e.Blocked ||
		e.Text() != "hello" || e.Message.ID != "m1" || !e.ReceivedAt.Equal(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)) ||
		string(e.Raw) != `{"type":"message"}` || e.Data != nil {
		t.Errorf("envelope = %+v", e)
	}
	if got := tg.Envs("U1"); len(got) != 1 || got[0].ID != "evt_1" {
		t.Errorf("Envs(U1) = %+v", got)
	}
	if got := tg.Records("U2"); len(got) != 0 {
		t.Errorf("Records(U2) = %+v, want none", got)
	}
	if tg.Count() != 1 || len(tg.Delivered()) != 1 {
		t.Errorf("Count %d, %d delivered; want 1, 1", tg.Count(), len(tg.Delivered()))
	}
}

// TestTargetRefuses: a request the target cannot take is answered 400, is
// not delivered, and fails the test when it ends.
func TestTargetRefuses(t *testing.T) {
	body := []byte(envelopeBody)
	tests := []struct {
		name        string
		method      string
		path        string // instead of the target's
		header      func(t *testing.T) http.Header
		body        []byte
		wantProblem string
	}{
		{name: "signed with another key", header: func(t *testing.T) http.Header { return signed(t, otherKey, "evt_1", body) }, wantProblem: "signature"},
		{name: "signature of another body", header: func(t *testing.T) http.Header {
			return signed(t, botKey, "evt_1", bytes.Replace(body, []byte("hello"), []byte("HELLO"), 1))
		}, wantProblem: "signature"},
		{name: "unsigned", header: func(*testing.T) http.Header { return http.Header{"Content-Type": {"application/json"}} }, wantProblem: "signature"},
		{name: "wrong path", path: "/helpdesk", header: func(t *testing.T) http.Header { return signed(t, botKey, "evt_1", body) }, wantProblem: "POST /helpdesk"},
		{name: "GET", method: http.MethodGet, header: func(t *testing.T) http.Header { return signed(t, botKey, "evt_1", body) }, wantProblem: "GET /bot"},
		{name: "not JSON", header: func(t *testing.T) http.Header {
			h := signed(t, botKey, "evt_1", body)
			h.Set("Content-Type", "text/plain")
			return h
		}, wantProblem: "content type"},
		{name: "signed body that is not an envelope", body: []byte(`[1,2]`), header: func(t *testing.T) http.Header { return signed(t, botKey, "evt_1", []byte(`[1,2]`)) }, wantProblem: "not an envelope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{TB: t}
			tg := testkit.NewTarget(rec, "bot", botKey)
			tg.SetAnswer(func(testkit.Request) int { return http.StatusNoContent }) // not asked for a refused request
			method, url, b := http.MethodPost, tg.URL(), body
			if tc.method != "" {
				method = tc.method
			}
			if tc.path != "" {
				url = strings.TrimSuffix(url, "/bot") + tc.path
			}
			if tc.body != nil {
				b = tc.body
			}
			if status := post(t, method, url, tc.header(t), b); status != http.StatusBadRequest {
				t.Errorf("answer %d, want 400", status)
			}
			reqs := tg.Requests()
			if len(reqs) != 1 || reqs[0].Status != http.StatusBadRequest || !strings.Contains(reqs[0].Problem, tc.wantProblem) {
				t.Fatalf("requests = %+v, want one refused for %q", reqs, tc.wantProblem)
			}
			if got := tg.Delivered(); len(got) != 0 {
				t.Errorf("%d delivered, want none", len(got))
			}
			errs := rec.finish()
			if len(errs) != 1 || !strings.Contains(errs[0], tc.wantProblem) {
				t.Errorf("reported at the end of the test: %q; want one error naming %q", errs, tc.wantProblem)
			}
		})
	}
}

// TestUnsignedTarget: a target without a key takes signed and unsigned
// envelopes alike, and still refuses what is not one.
func TestUnsignedTarget(t *testing.T) {
	rec := &recorder{TB: t}
	tg := testkit.NewTarget(rec, "helpdesk", "")
	body := []byte(envelopeBody)
	for _, h := range []http.Header{{"Content-Type": {"application/json"}}, signed(t, otherKey, "evt_1", body)} {
		if status := post(t, http.MethodPost, tg.URL(), h, body); status != http.StatusOK {
			t.Errorf("answer %d, want 200", status)
		}
	}
	if status := post(t, http.MethodPost, tg.URL(), http.Header{"Content-Type": {"application/json"}}, []byte(`"x"`)); status != http.StatusBadRequest {
		t.Errorf("answer to a body that is not an envelope %d, want 400", status)
	}
	if n := len(tg.Delivered()); n != 2 {
		t.Errorf("%d delivered, want 2", n)
	}
	if errs := rec.finish(); len(errs) != 1 {
		t.Errorf("reported %q, want the one refused request", errs)
	}
}

// TestTargetAnswer: SetAnswer decides the status of each good request, from
// its arrival number or its envelope; only 2xx ones are delivered.
func TestTargetAnswer(t *testing.T) {
	tg := testkit.NewTarget(t, "bot", "")
	tg.SetAnswer(func(r testkit.Request) int {
		if r.N < 2 || r.Env.Text() != "hello" {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	})
	h := http.Header{"Content-Type": {"application/json"}}
	for _, want := range []int{503, 503, 204} {
		if status := post(t, http.MethodPost, tg.URL(), h, []byte(envelopeBody)); status != want {
			t.Errorf("answer %d, want %d", status, want)
		}
	}
	tg.SetAnswer(nil)
	if status := post(t, http.MethodPost, tg.URL(), h, []byte(envelopeBody)); status != http.StatusOK {
		t.Errorf("answer after SetAnswer(nil) %d, want 200", status)
	}
	got := tg.WaitDelivered(t, 2)
	if got[0].N != 2 || got[0].Status != http.StatusNoContent || got[1].N != 3 || got[1].Status != http.StatusOK {
		t.Errorf("delivered n %d status %d, n %d status %d; want 2 204, 3 200", got[0].N, got[0].Status, got[1].N, got[1].Status)
	}
	if n, c := len(tg.Requests()), tg.Count(); n != 4 || c != 4 {
		t.Errorf("%d requests recorded, count %d; want 4", n, c)
	}
}

// TestTargetWaits: a wait ends when a request it waits for is recorded, and
// fails the test, naming what it waited for, when none comes in time.
func TestTargetWaits(t *testing.T) {
	tg := testkit.NewTarget(t, "bot", "")
	changed := tg.Changed()
	sent := make(chan error, 1)
	go func() {
		status, err := send(http.MethodPost, tg.URL(), http.Header{"Content-Type": {"application/json"}}, []byte(envelopeBody))
		if err == nil && status != http.StatusOK {
			err = fmt.Errorf("answer %d", status)
		}
		sent <- err
	}()
	if e := tg.WaitText(t, "U1", "hello"); e.ID != "evt_1" {
		t.Errorf("WaitText = %+v", e)
	}
	select {
	case <-changed:
	default:
		t.Error("Changed's channel is open after a request was recorded")
	}
	if e := tg.WaitType(t, "U1", "message"); e.ID != "evt_1" {
		t.Errorf("WaitType = %+v", e)
	}
	if err := <-sent; err != nil {
		t.Error(err)
	}

	rec := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		tg.WaitUntil(rec, 20*time.Millisecond, "a second message", func() bool { return len(tg.Delivered()) >= 2 })
		rec.Errorf("WaitUntil returned")
	}()
	<-done
	errs := rec.finish()
	if len(errs) != 1 || !strings.Contains(errs[0], "a second message") || !strings.Contains(errs[0], "evt_1 message contact=U1") {
		t.Errorf("reported %q; want one failure naming what it waited for and what was delivered", errs)
	}
}

// TestTargetConns: the target counts the connections open to it, from the
// client's dial to its close.
func TestTargetConns(t *testing.T) {
	f := testkit.NewTarget(t, "bot", "")
	c := &http.Client{Transport: &http.Transport{}}
	res, err := c.Post(f.URL(), "application/json", strings.NewReader(envelopeBody))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if n := f.Conns(); n != 1 {
		t.Errorf("%d connections open with the client's keep-alive; want 1", n)
	}
	c.CloseIdleConnections()
	deadline := time.Now().Add(testkit.WaitLimit)
	for f.Conns() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections open after the client closed its own", f.Conns())
		}
		time.Sleep(time.Millisecond) // polling, bounded by the deadline
	}
}
