package gateway_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookwall/hookwall/blocklist"
	"github.com/hookwall/hookwall/blocklist/blocks"
	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/hookwall/hookwall/channels"
	"github.com/hookwall/hookwall/gateway"
	"github.com/hookwall/hookwall/internal/redact"
	"github.com/hookwall/hookwall/internal/redistest"
	"github.com/hookwall/hookwall/internal/testkit"
	"github.com/redis/go-redis/v9"
)

// logBuffer is a log sink the gateway's goroutines and the test share.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// loggedEnv is a gateway on rdb whose log, redacted as cmd/hookwall's is,
// goes to a buffer. The store's settings are not initialized: rdb may be a
// replica, which takes no write.
func loggedEnv(t *testing.T, rdb redis.UniversalClient) (*env, *logBuffer) {
	t.Helper()
	bl, err := blocklist.New(blocklist.Config{DefaultEnabled: true, Channels: map[string]store.ChannelInfo{
		"line-main": {Type: "fake", DedupeWindow: time.Hour},
	}}, rdb)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bl.Close)
	logs := &logBuffer{}
	ch := testkit.NewChannel("line-main", 1024)
	g, err := gateway.New(gateway.Config{
		Tokens:         []gateway.Token{{Name: "alice", Role: gateway.RoleAgent, Secret: agentToken}},
		Channels:       []gateway.ChannelConfig{{Adapter: ch, BlockedAction: blocks.ActionQueue}},
		RequestTimeout: 3 * time.Second,
	}, bl, slog.New(redact.Handler(slog.NewJSONHandler(logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, base: serve(t, g), rdb: rdb, store: bl, ch: ch}, logs
}

// scriptHash matches a Lua script's SHA-1 as Redis names it in errors.
var scriptHash = regexp.MustCompile(`\b[0-9a-f]{40}\b`)

// TestStoreUnavailableDetail posts a webhook — a route without a token —
// to a gateway whose Redis is a real replica: every write it tries answers
// READONLY. The 503 says that the store is unavailable, not where it is nor
// what it answered; the log keeps the whole cause for the operators. The
// same holds for /readyz once the Redis is stopped.
func TestStoreUnavailableDetail(t *testing.T) {
	redistest.Parallel(t)
	master := redistest.Start(t)
	_, port, _ := net.SplitHostPort(master.Addr)
	replica := redistest.Start(t, "--replicaof", "127.0.0.1", port)
	e, logs := loggedEnv(t, replica.Client())

	r := e.do("POST", "/webhooks/line-main", "", `[{"contact":"U1","id":"ev-ro","type":"message"}]`, "X-Fake-Signature", "good")
	wantProblem(t, r, http.StatusServiceUnavailable, "store_unavailable")
	if got := r.body["detail"]; got != "the store is unavailable" {
		t.Errorf("detail = %q, want %q", got, "the store is unavailable")
	}
	for _, leak := range []string{replica.Addr, port, "READONLY", "replica", "script"} {
		if strings.Contains(r.raw, leak) {
			t.Errorf("answer names %q: %s", leak, r.raw)
		}
	}
	if h := scriptHash.FindString(r.raw); h != "" {
		t.Errorf("answer names a script hash %s: %s", h, r.raw)
	}
	if !strings.Contains(logs.String(), "READONLY") {
		t.Errorf("the log lacks the cause (READONLY):\n%s", logs.String())
	}

	replica.Stop()
	r = e.do("GET", "/readyz", "", "")
	wantProblem(t, r, http.StatusServiceUnavailable, "store_unavailable")
	if got := r.body["detail"]; got != "the store is unavailable" || strings.Contains(r.raw, replica.Addr) {
		t.Errorf("readyz answer names more than what failed: %s", r.raw)
	}
	if !strings.Contains(logs.String(), replica.Addr) {
		t.Errorf("the log lacks the unreachable address %s:\n%s", replica.Addr, logs.String())
	}
}

// TestChannelErrorDetail has the platform fail a reply in the ways the
// adapters report: the 502 names the channel, its platform and the status
// class the platform answered, never the outbound URL or its API key; the
// log keeps the cause, redacted.
func TestChannelErrorDetail(t *testing.T) {
	redistest.Parallel(t)
	e, logs := loggedEnv(t, redistest.Start(t).Client())
	const outbound = "http://bot:pw-secret@127.0.0.1:9/replies?key=tk-secret"
	refused := &url.Error{Op: "Post", URL: outbound, Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}}
	for _, tc := range []struct {
		name, want string
		err        error
	}{
		{"refusal", "channel line-main (fake): the platform answered 4xx",
			fmt.Errorf("webchat: post reply: %w: %w: %q", channels.ErrPlatform, &channels.StatusError{Code: 403}, "bad key for "+outbound)},
		{"server error", "channel line-main (fake): the platform answered 5xx",
			fmt.Errorf("line push: %w: upstream down: %w", &channels.StatusError{Code: 503}, channels.ErrPlatform)},
		{"unreachable", "channel line-main (fake): the platform could not be reached",
			fmt.Errorf("webchat: post reply: %w: %w", channels.ErrPlatform, refused)},
		{"timeout", "channel line-main (fake): the platform did not answer in time",
			fmt.Errorf("webchat: post reply: %w: %w", channels.ErrPlatform, context.DeadlineExceeded)},
		{"no usable answer", "channel line-main (fake): the platform gave no usable answer",
			fmt.Errorf("whatsapp: send: graph api status 200 without a message id: %w", channels.ErrPlatform)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.ch.FailSend(tc.err)
			before := len(logs.String())
			r := e.do("POST", "/v1/channels/line-main/contacts/U1/messages", agentToken, `{"text":"hi"}`)
			wantProblem(t, r, http.StatusBadGateway, "channel_error")
			if got := r.body["detail"]; got != tc.want {
				t.Errorf("detail = %q, want %q", got, tc.want)
			}
			logged := logs.String()[before:]
			for _, leak := range []string{"pw-secret", "tk-secret"} {
				if strings.Contains(r.raw, leak) || strings.Contains(logged, leak) {
					t.Errorf("%q in the answer %s or the log %s", leak, r.raw, logged)
				}
			}
			if !strings.Contains(logged, `"status":502`) || !strings.Contains(logged, "channel line-main") {
				t.Errorf("the log lacks the failure:\n%s", logged)
			}
		})
	}
	if !strings.Contains(logs.String(), "http://REDACTED:REDACTED@127.0.0.1:9/replies?key=REDACTED") {
		t.Errorf("the log lacks the redacted outbound URL:\n%s", logs.String())
	}
}
