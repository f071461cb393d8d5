package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookwall/hookwall/config"
	"github.com/hookwall/hookwall/internal/redistest"
	"github.com/hookwall/hookwall/internal/testkit"
)

// logSink keeps everything serve logs, for the test to search.
type logSink struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitFor polls the log until it contains s; it fails the test after
// waitLimit.
func (l *logSink) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !strings.Contains(l.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log after %s:\n%s", s, waitLimit, l.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestE2ESecretsRedacted runs serve as hookwall serve does, with a plain
// JSON logger, on a configuration whose bot URL and web chat outbound_url
// carry a password and an API key. The bot fails until its breaker opens
// (the message stays queued);
// an agent's replies fail at the outbound URL, first with a 500, then
// unreachable. The 502 answers say which channel failed and how, and
// neither they nor anything logged holds the password or the key.
func TestE2ESecretsRedacted(t *testing.T) {
	t.Parallel()
	const pass, key = "pw-secret-3141", "tk-secret-2718"
	credentialed := func(u string) string {
		return strings.Replace(u, "http://", "http://hookwall:"+pass+"@", 1) + "?key=" + key
	}
	outbound := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(outbound.Close)

	h := &hw{redis: redistest.Start(t)}
	h.rdb = h.redis.Client()
	h.bot = testkit.NewTarget(t, "bot", botKey)
	h.helpdesk = testkit.NewTarget(t, "helpdesk", helpdeskKey)
	h.conf = configData{
		Listen: freeAddr(t), RedisURL: h.redis.URL(), MaxAttempts: 100,
		BotURL: credentialed(h.bot.URL()), HelpdeskURL: h.helpdesk.URL(),
		WebOutboundURL: credentialed(outbound.URL + "/replies"),
	}
	h.base = "http://" + h.conf.Listen
	h.client = &http.Client{Timeout: 15 * time.Second}
	cfg, err := config.Parse(renderConfig(t, h.conf), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	logs := &logSink{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.NewJSONHandler(logs, nil))) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("serve did not return")
		}
		out := logs.String()
		for _, secret := range []string{pass, key} {
			if strings.Contains(out, secret) {
				t.Errorf("the log holds %q:\n%s", secret, out)
			}
		}
	})
	waitReady(t, h.client, h.base, done)

	t.Run("breaker of a credentialed target", func(t *testing.T) {
		h.bot.SetAnswer(func(testkit.Request) int { return http.StatusServiceUnavailable })
		h.line(t, "Uredact", "hello")
		logs.waitFor(t, `"msg":"target breaker changed","targets":["line-main/bot"],"url":"`+
			strings.Replace(h.bot.URL(), "http://", "http://REDACTED:REDACTED@", 1)+`?key=REDACTED","from":"closed","to":"open"`)
		h.bot.SetAnswer(nil)
	})

	reply := func(t *testing.T, wantDetail string) {
		t.Helper()
		a := h.api(t, http.MethodPost, "/v1/channels/web/contacts/visitor-1/messages", agentToken, map[string]string{"text": "hi"})
		var p struct{ Code, Detail string }
		if err := json.Unmarshal(a.Body, &p); err != nil || a.Status != http.StatusBadGateway || p.Code != "channel_error" {
			t.Fatalf("reply = %d %s; want 502 channel_error", a.Status, a.Body)
		}
		if p.Detail != wantDetail {
			t.Errorf("detail = %q, want %q", p.Detail, wantDetail)
		}
		for _, leak := range []string{pass, key, outbound.URL} {
			if strings.Contains(string(a.Body), leak) {
				t.Errorf("the answer holds %q: %s", leak, a.Body)
			}
		}
	}
	t.Run("outbound answers 500", func(t *testing.T) {
		reply(t, "channel web (webchat): the platform answered 5xx")
		logs.waitFor(t, `platform error: status 500`)
	})
	t.Run("outbound unreachable", func(t *testing.T) {
		outbound.Close()
		reply(t, "channel web (webchat): the platform could not be reached")
		// The log has the whole cause, the URL in it redacted.
		logs.waitFor(t, `Post \"`+strings.Replace(outbound.URL, "http://", "http://REDACTED:REDACTED@", 1)+`/replies?key=REDACTED\": dial tcp`)
	})
}
