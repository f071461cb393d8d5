package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/hookwall/hookwall/config"
	"github.com/hookwall/hookwall/internal/redistest"
)

// hiddenPolicyWarning starts the one line serve logs when Redis will not
// say its maxmemory-policy.
const hiddenPolicyWarning = "cannot verify that redis never evicts"

// TestServeRefusesEvictingRedis: hookwall serve, as the command runs it,
// refuses to start on a Redis whose maxmemory-policy is allkeys-lru: the
// error (which main prints before it exits 1) names the policy and what to
// set, and nothing was written to the Redis.
func TestServeRefusesEvictingRedis(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, "--maxmemory-policy", "allkeys-lru")
	path := filepath.Join(t.TempDir(), "hookwall.yaml")
	conf := renderConfig(t, configData{
		Listen: freeAddr(t), RedisURL: srv.URL(),
		BotURL: "http://127.0.0.1:9/bot", HelpdeskURL: "http://127.0.0.1:9/helpdesk",
	})
	if err := os.WriteFile(path, conf, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- run([]string{"serve", "--config", path}, io.Discard, io.Discard) }()
	var err error
	select {
	case err = <-done:
	case <-time.After(waitLimit):
		t.Fatalf("serve still runs after %s on an evicting Redis", waitLimit)
	}
	if !errors.Is(err, store.ErrEvicting) {
		t.Fatalf("serve = %v, want it to refuse with store.ErrEvicting", err)
	}
	for _, want := range []string{"maxmemory-policy allkeys-lru", "set maxmemory-policy noeviction", srv.Addr} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("serve = %q, want it to say %q", err, want)
		}
	}
	if n, err := srv.Client().DBSize(t.Context()).Result(); err != nil || n != 0 {
		t.Errorf("the refused Redis holds %d keys (%v), want none", n, err)
	}
}

// TestServeWarnsWhenPolicyHidden: on a Redis that refuses CONFIG, serve
// starts, logs one warning saying it cannot verify the policy and what an
// evicting Redis would drop, and stays ready probe after probe without
// repeating it. The embedded store, which has no CONFIG either, never
// evicts: no warning there.
func TestServeWarnsWhenPolicyHidden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		redis func(t *testing.T) string // the config's redis section
		warns int
	}{
		{"CONFIG renamed away", func(t *testing.T) string {
			return "redis:\n  url: " + redistest.Start(t, "--rename-command", "CONFIG", "").URL()
		}, 1},
		{"embedded store", func(*testing.T) string { return "# no redis: the embedded store" }, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := configData{
				Listen: freeAddr(t), Redis: tc.redis(t),
				BotURL: "http://127.0.0.1:9/bot", HelpdeskURL: "http://127.0.0.1:9/helpdesk",
			}
			cfg, err := config.Parse(renderConfig(t, d), func(string) (string, bool) { return "", false })
			if err != nil {
				t.Fatal(err)
			}
			logs := &logSink{}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- serve(ctx, cfg, slog.New(slog.NewJSONHandler(logs, nil))) }()
			client := &http.Client{Timeout: waitLimit}
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
			base := "http://" + d.Listen
			waitReady(t, client, base, done)
			for range 3 {
				waitReady(t, client, base, done) // each probe checks the policy again
			}
			var lines []string
			for l := range strings.Lines(logs.String()) {
				if strings.Contains(l, hiddenPolicyWarning) {
					lines = append(lines, l)
				}
			}
			if len(lines) != tc.warns {
				t.Fatalf("%d warnings of a hidden policy, want %d:\n%s", len(lines), tc.warns, logs)
			}
			for _, l := range lines {
				for _, want := range []string{`"level":"WARN"`, "queued messages, tickets and dedupe markers", "noeviction"} {
					if !strings.Contains(l, want) {
						t.Errorf("the warning does not say %q: %s", want, l)
					}
				}
			}
		})
	}
}
