package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookwall/hookwall/blocklist"
	"github.com/hookwall/hookwall/blocklist/blocks"
	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/hookwall/hookwall/gateway"
	"github.com/hookwall/hookwall/internal/redistest"
	"github.com/hookwall/hookwall/internal/testkit"
	"github.com/redis/go-redis/v9"
)

const (
	agentToken      = "agent-token-0123456789"
	supervisorToken = "supervisor-token-0123456789"
	adminToken      = "admin-token-0123456789"
)

type env struct {
	t     testing.TB
	base  string
	rdb   redis.UniversalClient
	redis *redistest.Server
	store *blocklist.Store
	ch    *testkit.Channel
	g     *gateway.Gateway
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, nil)
}

// newEnvWith is newEnv with edit applied to the gateway's configuration.
func newEnvWith(t testing.TB, edit func(*gateway.Config)) *env {
	t.Helper()
	return newEnvOf(t, envSpec{gateway: edit})
}

// envSpec shapes a test gateway on a redis-server of its own: channel
// line-main (queue; a fake channel taking bodies of maxBody, 1024 bytes when
// zero) and the extra channels, a store made of store (its channels filled
// in), and gateway applied to the gateway's configuration.
type envSpec struct {
	maxBody int
	extra   []extraChannel
	store   blocklist.Config
	gateway func(*gateway.Config)
}

// extraChannel is a channel besides line-main.
type extraChannel struct {
	id     string
	action blocks.Action
	bot    bool
}

func newEnvOf(t testing.TB, spec envSpec) *env {
	t.Helper()
	srv := redistest.Start(t)
	rdb := srv.Client()
	if spec.maxBody == 0 {
		spec.maxBody = 1024
	}
	spec.store.DefaultEnabled = true
	spec.store.Channels = map[string]store.ChannelInfo{"line-main": {Type: "fake", DedupeWindow: time.Hour}}
	ch := testkit.NewChannel("line-main", spec.maxBody)
	chans := []gateway.ChannelConfig{{Adapter: ch, BlockedAction: blocks.ActionQueue}}
	for _, x := range spec.extra {
		spec.store.Channels[x.id] = store.ChannelInfo{Type: "fake", Bot: x.bot, DedupeWindow: time.Hour}
		chans = append(chans, gateway.ChannelConfig{Adapter: testkit.NewChannel(x.id, spec.maxBody), BlockedAction: x.action, Bot: x.bot})
	}
	store, err := blocklist.New(spec.store, rdb)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	if err := store.InitSettings(context.Background()); err != nil {
		t.Fatal(err)
	}
	cfg := gateway.Config{
		Tokens: []gateway.Token{
			{Name: "alice", Role: gateway.RoleAgent, Secret: agentToken},
			{Name: "sam", Role: gateway.RoleSupervisor, Secret: supervisorToken},
			{Name: "root", Role: gateway.RoleAdmin, Secret: adminToken},
		},
		Channels:       chans,
		RequestTimeout: 3 * time.Second,
	}
	if spec.gateway != nil {
		spec.gateway(&cfg)
	}
	g, err := gateway.New(cfg, store, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, base: serve(t, g), rdb: rdb, redis: srv, store: store, ch: ch, g: g}
}

// serve serves g on a free loopback port until the test ends and returns
// its base URL.
func serve(t testing.TB, g *gateway.Gateway) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.App().Listener(ln) }()
	t.Cleanup(func() { _ = g.App().Shutdown() })
	return "http://" + ln.Addr().String()
}

// testClient fails a request the server does not answer in time.
var testClient = &http.Client{Timeout: 15 * time.Second}

type resp struct {
	close  bool // the server closes the connection after this answer
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (e *env) do(method, path, token, body string, hdr ...string) resp {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.base+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := testClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	return readResp(res)
}

// readResp reads and closes an answer's body.
func readResp(res *http.Response) resp {
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := resp{status: res.StatusCode, header: res.Header, raw: string(raw), close: res.Close}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

// wantProblem asserts a problem+json answer with the status and code.
func wantProblem(t *testing.T, r resp, status int, code string) {
	t.Helper()
	if r.status != status || r.body["code"] != code {
		t.Fatalf("got %d %s; want %d code %q", r.status, r.raw, status, code)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q, want application/problem+json", ct)
	}
	if r.body["status"] != float64(status) || r.body["title"] == "" {
		t.Fatalf("problem body lacks status/title: %s", r.raw)
	}
}

// snapshot returns every key and its dump, to prove a request changed nothing.
func (e *env) snapshot() map[string]string {
	e.t.Helper()
	ctx := context.Background()
	keys, err := e.rdb.Keys(ctx, "*").Result()
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range keys {
		out[k] = e.rdb.Dump(ctx, k).Val()
	}
	return out
}

func (e *env) assertUnchanged(before map[string]string) {
	e.t.Helper()
	after := e.snapshot()
	if len(after) != len(before) {
		e.t.Fatalf("store changed: %d keys before, %d after", len(before), len(after))
	}
	for k, v := range before {
		if after[k] != v {
			e.t.Fatalf("store changed: key %q", k)
		}
	}
}

// TestStrictRouting: a path answers only as written, so that an ingress
// rule denying the exact path cannot be bypassed by a case variant or a
// trailing slash.
func TestStrictRouting(t *testing.T) {
	redistest.Parallel(t)
	e := newEnv(t)
	for _, path := range []string{"/HEALTHZ", "/healthz/", "/Admin/v1/settings", "/admin/v1/settings/", "/admin/v1/SETTINGS"} {
		if r := e.do("GET", path, adminToken, ""); r.status != http.StatusNotFound {
			t.Errorf("GET %s = %d %s; want 404", path, r.status, r.raw)
		}
	}
	if r := e.do("GET", "/healthz", "", ""); r.status != http.StatusOK {
		t.Errorf("GET /healthz = %d; want 200", r.status)
	}
	if r := e.do("GET", "/admin/v1/settings", adminToken, ""); r.status != http.StatusOK {
		t.Errorf("GET /admin/v1/settings = %d; want 200", r.status)
	}
}
