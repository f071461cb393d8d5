package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/hookwall/hookwall/telemetry"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// logLines decodes JSON log lines.
func logLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for l := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		lines = append(lines, m)
	}
	return lines
}

func TestLogHandler(t *testing.T) {
	tid, _ := trace.TraceIDFromHex(inboundTrace)
	sid, _ := trace.SpanIDFromHex(inboundSpan)
	withSpan := trace.ContextWithSpanContext(context.Background(),
		trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))
	for _, tc := range []struct {
		name   string
		ctx    context.Context
		logger func(*slog.Logger) *slog.Logger
		ids    bool
		// inGroup is where "k" lands: "" top level, else that group.
		inGroup string
	}{
		{"span", withSpan, func(l *slog.Logger) *slog.Logger { return l.With("k", "v") }, true, ""},
		{"span, with attributes twice", withSpan, func(l *slog.Logger) *slog.Logger { return l.With("a", 1).With("k", "v") }, true, ""},
		{"span, in a group", withSpan, func(l *slog.Logger) *slog.Logger { return l.With("a", 1).WithGroup("g").With("k", "v") }, true, "g"},
		{"span, in an empty group", withSpan, func(l *slog.Logger) *slog.Logger { return l.WithGroup("").With("k", "v") }, true, ""},
		{"no span", context.Background(), func(l *slog.Logger) *slog.Logger { return l.With("k", "v") }, false, ""},
		{"no span, in a group", context.Background(), func(l *slog.Logger) *slog.Logger { return l.WithGroup("g").With("k", "v") }, false, "g"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := tc.logger(slog.New(telemetry.LogHandler(slog.NewJSONHandler(&buf, nil))))
			log.InfoContext(tc.ctx, "hello", "n", 1)
			lines := logLines(t, buf.String())
			if len(lines) != 1 {
				t.Fatalf("%d lines: %s", len(lines), buf.String())
			}
			m := lines[0]
			if tc.ids {
				if m["trace_id"] != inboundTrace || m["span_id"] != inboundSpan {
					t.Fatalf("line %s lacks the top-level trace_id %s and span_id %s", buf.String(), inboundTrace, inboundSpan)
				}
			} else if _, ok := m["trace_id"]; ok {
				t.Fatalf("line %s has a trace_id without a span", buf.String())
			}
			where := m
			if tc.inGroup != "" {
				where, _ = m[tc.inGroup].(map[string]any)
			}
			if where["k"] != "v" || where["n"] != float64(1) {
				t.Fatalf("line %s: attributes not in group %q", buf.String(), tc.inGroup)
			}
		})
	}
}

// TestGatewayLogsNoSecrets runs webhooks, a block, a refused reply and an
// unblock through the gateway and checks that neither the message text nor
// the admin token reaches the info log.
func TestGatewayLogsNoSecrets(t *testing.T) {
	h := newHarness(t, true)
	auth := []string{"Authorization", "Bearer " + adminToken}
	h.webhook(message("ev-1", "U1"), http.StatusOK, "", "traceparent", traceparent)
	if status, _ := h.do(http.MethodPost, "/webhooks/"+channelID, message("ev-2", "U1"), "X-Fake-Signature", "bad"); status != http.StatusUnauthorized {
		t.Fatalf("bad signature = %d", status)
	}
	h.block("U1")
	h.webhook(message("ev-3", "U1"), http.StatusOK, `{"forwarded":0,"recorded":0,"queued":1,"duplicates":0}`)
	reply := `{"text":"` + secretText + `"}`
	if status, raw := h.do(http.MethodPost, "/v1/channels/"+channelID+"/contacts/U1/messages", reply, auth...); status != http.StatusForbidden {
		t.Fatalf("reply to a blocked contact = %d %s", status, raw)
	}
	if status, raw := h.do(http.MethodPost, "/admin/v1/channels/"+channelID+"/contacts/U1/unblock", `{"tickets":"delete"}`, auth...); status != http.StatusOK {
		t.Fatalf("unblock = %d %s", status, raw)
	}
	if status, raw := h.do(http.MethodPost, "/v1/channels/"+channelID+"/contacts/U1/messages", reply, auth...); status != http.StatusAccepted {
		t.Fatalf("reply = %d %s", status, raw)
	}

	out := h.logs.String()
	for _, msg := range []string{"webhook refused", "contact blocked", "reply refused: contact blocked", "contact unblocked"} {
		if !strings.Contains(out, `"msg":"`+msg+`"`) {
			t.Errorf("no %q line in the log:\n%s", msg, out)
		}
	}
	for _, secret := range []string{secretText, adminToken} {
		if strings.Contains(out, secret) {
			t.Errorf("the log carries %q:\n%s", secret, out)
		}
	}
}

// TestStoreOutage checks a webhook failing on the store: a 5xx counted as
// "error", a failed server span, and the gateway's error line carrying the
// span's trace_id and span_id.
func TestStoreOutage(t *testing.T) {
	h := newHarness(t, true)
	h.redis.Stop()
	status, _ := h.do(http.MethodPost, "/webhooks/"+channelID, message("ev-1", "U1"), "X-Fake-Signature", "good", "traceparent", traceparent)
	if status != http.StatusServiceUnavailable {
		t.Fatalf("webhook with the store down = %d", status)
	}
	server := findSpan(t, h.spans.GetSpans(), "POST /webhooks/{channel}")
	if !hasAttr(server.Attributes, "http.response.status_code", "503") || server.Status.Code != codes.Error {
		t.Errorf("server span attributes %v, status %v", server.Attributes, server.Status)
	}
	decide := findSpan(t, h.spans.GetSpans(), "hookwall.decide")
	if decide.Status.Code != codes.Error {
		t.Errorf("decide span status %v", decide.Status)
	}

	var failed map[string]any
	for _, m := range logLines(t, h.logs.String()) {
		if m["msg"] == "request failed" {
			failed = m
		}
	}
	if failed == nil {
		t.Fatalf("no request failed line:\n%s", h.logs.String())
	}
	if failed["trace_id"] != inboundTrace || failed["span_id"] != server.SpanContext.SpanID().String() {
		t.Errorf("request failed line %v: want trace_id %s span_id %s", failed, inboundTrace, server.SpanContext.SpanID())
	}
	if strings.Contains(h.logs.String(), secretText) {
		t.Errorf("the log carries the message text:\n%s", h.logs.String())
	}

	mfs := scrape(t, h.tel.MetricsHandler())
	checkSamples(t, mfs, []wantSample{
		{"hookwall_events_total", map[string]string{"channel": channelID, "decision": "error"}, 1},
	})
}
