package telemetry_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/hookwall/hookwall/blocklist/store"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// findSpan returns the one span named name.
func findSpan(t *testing.T, spans tracetest.SpanStubs, name string) tracetest.SpanStub {
	t.Helper()
	var found []tracetest.SpanStub
	for _, s := range spans {
		if s.Name == name {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		var names []string
		for _, s := range spans {
			names = append(names, s.Name)
		}
		t.Fatalf("%d spans named %q among %v, want 1", len(found), name, names)
	}
	return found[0]
}

func hasAttr(attrs []attribute.KeyValue, key, value string) bool {
	for _, kv := range attrs {
		if string(kv.Key) == key && kv.Value.String() == value {
			return true
		}
	}
	return false
}

// withCredentials puts a user, a password and a token in the URL's query,
// as a target URL may carry them.
func withCredentials(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("hookwall", "pw-secret")
	u.Path = "/hook"
	u.RawQuery = "token=tk-secret"
	return u.String()
}

// TestSpans follows one webhook through the spans: the server span joined
// to the platform's trace, the decision, the delivery attempt, and the
// trace context the target receives.
func TestSpans(t *testing.T) {
	h := newHarness(t, true)
	h.webhook(message("ev-1", "U1"), http.StatusOK, `{"forwarded":1,"recorded":0,"queued":0,"duplicates":0}`,
		"traceparent", traceparent)

	spans := h.spans.GetSpans()
	server := findSpan(t, spans, "POST /webhooks/{channel}")
	if server.SpanKind != trace.SpanKindServer {
		t.Errorf("server span kind = %v", server.SpanKind)
	}
	if got := server.SpanContext.TraceID().String(); got != inboundTrace {
		t.Errorf("server span trace = %s, want the inbound %s", got, inboundTrace)
	}
	if got := server.Parent.SpanID().String(); got != inboundSpan || !server.Parent.IsRemote() {
		t.Errorf("server span parent = %s (remote %v), want the remote %s", got, server.Parent.IsRemote(), inboundSpan)
	}
	for k, v := range map[string]string{"hookwall.channel": channelID, "http.request.method": "POST", "http.response.status_code": "200"} {
		if !hasAttr(server.Attributes, k, v) {
			t.Errorf("server span lacks %s=%s: %v", k, v, server.Attributes)
		}
	}
	if server.Status.Code == codes.Error {
		t.Errorf("server span status = %v", server.Status)
	}
	decide := findSpan(t, spans, "hookwall.decide")
	if decide.SpanContext.TraceID() != server.SpanContext.TraceID() || decide.Parent.SpanID() != server.SpanContext.SpanID() {
		t.Errorf("decide span %s/%s has parent %s, want a child of the server span %s/%s",
			decide.SpanContext.TraceID(), decide.SpanContext.SpanID(), decide.Parent.SpanID(),
			server.SpanContext.TraceID(), server.SpanContext.SpanID())
	}

	tg := newTarget(t)
	got := h.deliver(h.deliverer(withCredentials(t, tg.URL())), tg, 1)
	attempt := findSpan(t, h.spans.GetSpans(), "hookwall.delivery.attempt")
	t.Run("attempt span", func(t *testing.T) {
		if attempt.SpanKind != trace.SpanKindClient {
			t.Errorf("attempt span kind = %v", attempt.SpanKind)
		}
		if !hasAttr(attempt.Attributes, "http.response.status_code", "204") || !hasAttr(attempt.Attributes, "http.request.method", "POST") ||
			attempt.Status.Code == codes.Error {
			t.Errorf("attempt span attributes %v, status %v", attempt.Attributes, attempt.Status)
		}
		wantURL := strings.Replace(tg.URL(), "http://", "http://REDACTED:REDACTED@", 1) + "?token=REDACTED"
		if !hasAttr(attempt.Attributes, "url.full", wantURL) {
			t.Errorf("attempt span url.full is not %s: %v", wantURL, attempt.Attributes)
		}
	})
	t.Run("target receives the attempt's context", func(t *testing.T) {
		want := "00-" + attempt.SpanContext.TraceID().String() + "-" + attempt.SpanContext.SpanID().String() + "-01"
		if tp := got[0].TraceParent(); tp != want {
			t.Errorf("target received traceparent %q, want the attempt span's %q", tp, want)
		}
	})
	// The event carries the server span's context through the queue
	// (decision.Event.TraceParent -> store.Delivery.TraceParent).
	t.Run("attempt joins the inbound trace", func(t *testing.T) {
		if attempt.SpanContext.TraceID().String() != inboundTrace || attempt.Parent.SpanID() != server.SpanContext.SpanID() {
			t.Errorf("attempt span in trace %s has parent %s, want a child of the server span %s in trace %s",
				attempt.SpanContext.TraceID(), attempt.Parent.SpanID(), server.SpanContext.SpanID(), inboundTrace)
		}
	})
}

// TestRejectedSpan checks the server span of a refused webhook: a 4xx is
// the caller's fault, not a failed span.
func TestRejectedSpan(t *testing.T) {
	h := newHarness(t, true)
	status, _ := h.do(http.MethodPost, "/webhooks/"+channelID, message("ev-1", "U1"),
		"X-Fake-Signature", "bad", "traceparent", traceparent)
	if status != http.StatusUnauthorized {
		t.Fatalf("webhook with a bad signature = %d", status)
	}
	server := findSpan(t, h.spans.GetSpans(), "POST /webhooks/{channel}")
	if !hasAttr(server.Attributes, "http.response.status_code", "401") || server.Status.Code == codes.Error {
		t.Fatalf("server span attributes %v, status %v", server.Attributes, server.Status)
	}
	if server.SpanContext.TraceID().String() != inboundTrace {
		t.Fatalf("server span trace = %s", server.SpanContext.TraceID())
	}
}

// TestTraceStateSurvivesTheRequest sends two webhooks on one connection:
// the first one's span must keep its own tracestate, although Fiber reuses
// the connection's header buffer for the second request.
func TestTraceStateSurvivesTheRequest(t *testing.T) {
	h := newHarness(t, true)
	states := []string{"vendor=aaaaaaaa", "vendor=bbbbbbbb"}
	for i, ts := range states {
		h.webhook(message("ev-"+string(rune('1'+i)), "U1"), http.StatusOK, "", "traceparent", traceparent, "tracestate", ts)
	}
	var got []string
	for _, s := range h.spans.GetSpans() {
		if s.Name == "POST /webhooks/{channel}" {
			got = append(got, s.SpanContext.TraceState().String())
		}
	}
	if strings.Join(got, " ") != strings.Join(states, " ") {
		t.Fatalf("server spans' tracestate = %q, want %q", got, states)
	}
}

// TestTraceContextWithTracingOff checks that with tracing off the
// platform's traceparent still reaches the target, unchanged.
func TestTraceContextWithTracingOff(t *testing.T) {
	h := newHarness(t, false)
	h.webhook(message("ev-1", "U1"), http.StatusOK, "", "traceparent", traceparent)
	tg := newTarget(t)
	got := h.deliver(h.deliverer(tg.URL()), tg, 1)
	if tp := got[0].TraceParent(); tp != traceparent {
		t.Fatalf("target received traceparent %q, want the platform's %q", tp, traceparent)
	}
}

// TestAttemptSpanRedacted ends a delivery attempt's span with a transport
// error that repeats the target's URL whole, as net/http's *url.Error does:
// neither url.full nor the exception event keeps the URL's password or
// query value, and the event still says what failed.
func TestAttemptSpanRedacted(t *testing.T) {
	h := newHarness(t, true)
	target := withCredentials(t, "http://127.0.0.1:9")
	_, end := h.inst.StartAttempt(t.Context(), store.Delivery{ID: "evt_redacted"}, target)
	end(0, fmt.Errorf("deliver: %w", &url.Error{Op: "Post", URL: target, Err: errors.New("connection refused")}))

	attempt := findSpan(t, h.spans.GetSpans(), "hookwall.delivery.attempt")
	wantURL := "http://REDACTED:REDACTED@127.0.0.1:9/hook?token=REDACTED"
	if !hasAttr(attempt.Attributes, "url.full", wantURL) {
		t.Errorf("url.full is not %s: %v", wantURL, attempt.Attributes)
	}
	all := append([]attribute.KeyValue(nil), attempt.Attributes...)
	var message string
	for _, e := range attempt.Events {
		all = append(all, e.Attributes...)
		for _, kv := range e.Attributes {
			if kv.Key == "exception.message" {
				message = kv.Value.String()
			}
		}
	}
	if want := `deliver: Post "` + wantURL + `": connection refused`; message != want {
		t.Errorf("exception.message = %q, want %q", message, want)
	}
	for _, kv := range all {
		for _, secret := range []string{"pw-secret", "tk-secret"} {
			if strings.Contains(kv.Value.String(), secret) {
				t.Errorf("span attribute %s keeps %q: %s", kv.Key, secret, kv.Value.String())
			}
		}
	}
	if strings.Contains(attempt.Status.Description, "secret") {
		t.Errorf("span status keeps a secret: %q", attempt.Status.Description)
	}
}
