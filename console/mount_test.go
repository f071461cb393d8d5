package console_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/hookwall/hookwall/blocklist/blocks"
	"github.com/hookwall/hookwall/console"
	"github.com/hookwall/hookwall/gateway"
)

// mountChannel is the least channel gateway.New accepts; the console tests
// never send it a webhook.
type mountChannel struct{ gateway.Channel }

func (mountChannel) ID() string        { return "line-main" }
func (mountChannel) MaxBodyBytes() int { return 1 << 10 }

// mountStore satisfies gateway.Store; serving static files never calls it.
type mountStore struct{ gateway.Store }

func newMountedGateway(t *testing.T, h http.Handler) *gateway.Gateway {
	t.Helper()
	g, err := gateway.New(gateway.Config{
		Channels: []gateway.ChannelConfig{{Adapter: mountChannel{}, BlockedAction: blocks.ActionQueue}},
		Console:  h,
	}, mountStore{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestMountedByTheGateway serves the console through the gateway's Fiber
// app, as hookwall does, and checks that the adaptor keeps the headers.
func TestMountedByTheGateway(t *testing.T) {
	app := newMountedGateway(t, console.Handler()).App()
	tests := []struct {
		path        string
		status      int
		contentType string
		location    string
	}{
		{"/console", http.StatusMovedPermanently, "", "/console/"},
		{"/console/", http.StatusOK, "text/html; charset=utf-8", ""},
		{"/console/app.js", http.StatusOK, "text/javascript; charset=utf-8", ""},
		{"/console/style.css", http.StatusOK, "text/css; charset=utf-8", ""},
		{"/console/missing.js", http.StatusNotFound, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			res, err := app.Test(httptest.NewRequest(http.MethodGet, tc.path, nil), -1)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tc.status)
			}
			checkConsoleHeaders(t, res.Header)
			if tc.contentType != "" && res.Header.Get("Content-Type") != tc.contentType {
				t.Errorf("Content-Type = %q, want %q", res.Header.Get("Content-Type"), tc.contentType)
			}
			if got := res.Header.Get("Location"); got != tc.location {
				t.Errorf("Location = %q, want %q", got, tc.location)
			}
		})
	}
}

// TestDisabled: with console.enabled false cmd mounts nothing, and the
// console's paths are the gateway's 404.
func TestDisabled(t *testing.T) {
	app := newMountedGateway(t, nil).App()
	for _, p := range []string{"/console", "/console/", "/console/app.js"} {
		res, err := app.Test(httptest.NewRequest(http.MethodGet, p, nil), -1)
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", p, res.StatusCode)
		}
		if res.Header.Get("Content-Security-Policy") != "" {
			t.Errorf("%s: a console header without the console", p)
		}
	}
}
