package delivery_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookwall/hookwall/delivery"
	"github.com/hookwall/hookwall/internal/testkit"
)

// lockedBuffer is a log sink the deliverer's goroutines and the test share.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestBreakerLogRedacted has a target whose URL carries a password and an
// API key fail until its breaker opens and the delivery is parked. The
// deliverer's own log lines (a plain handler: no redacting wrapper) name the
// targets that use the breaker and never the password or the key; neither
// does the dead letter's reason.
func TestBreakerLogRedacted(t *testing.T) {
	s := newSetup(t)
	bot := testkit.NewTarget(t, "bot", "")
	bot.SetAnswer(func(testkit.Request) int { return http.StatusBadGateway })
	url := strings.Replace(bot.URL(), "http://", "http://hookwall:pw-secret@", 1) + "?key=tk-secret"
	s.ingest(t, msg{channel: lineMain, contact: "Uredact", text: "hello"})

	obs := newObserver()
	cfg := testConfig("a", oneTarget(url))
	cfg.BreakerFailures = 2
	cfg.BreakerOpen = 50 * time.Millisecond
	cfg.MaxAttempts = 3
	cfg.Observer = obs
	var logs lockedBuffer
	d, err := delivery.New(cfg, s.store, slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatalf("delivery.New: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = d.Run(ctx)
	}()
	obs.waitChange(t, "closed->open")
	obs.waitAttempts(t, "parked", 1)
	cancel()
	<-done

	out := logs.String()
	if !strings.Contains(out, `"msg":"target breaker changed","targets":["line-main/bot","line-main/helpdesk"]`) {
		t.Errorf("the breaker change does not name the targets that use it:\n%s", out)
	}
	for _, secret := range []string{"pw-secret", "tk-secret"} {
		if strings.Contains(out, secret) {
			t.Errorf("log keeps %q:\n%s", secret, out)
		}
	}
	dls := s.deadLetters(t)
	if len(dls) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dls))
	}
	if strings.Contains(dls[0].Reason, "secret") {
		t.Errorf("dead letter reason keeps a secret: %q", dls[0].Reason)
	}
}
