package telemetry_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/hookwall/hookwall/blocklist"
	"github.com/hookwall/hookwall/blocklist/blocks"
	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/hookwall/hookwall/delivery"
	"github.com/hookwall/hookwall/gateway"
	"github.com/hookwall/hookwall/internal/redistest"
	"github.com/hookwall/hookwall/internal/testkit"
	"github.com/hookwall/hookwall/telemetry"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// deadline bounds every wait of a test: reaching it is a failure, never a
// step of the test.
const deadline = 10 * time.Second

const (
	channelID = "line-main"
	// adminToken is the bearer token of the admin "root".
	adminToken = "tok-admin-0123456789abcdef"
	// secretText is the text of the fake channel's messages: it must never
	// reach an info log.
	secretText = "SECRET-TEXT-123"
	// inboundTrace and inboundSpan are the platform's trace context.
	inboundTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	inboundSpan  = "00f067aa0ba902b7"
	traceparent  = "00-" + inboundTrace + "-" + inboundSpan + "-01"
	// ticketBound is how many messages a blocked ticket keeps: few, so
	// that a test fills one.
	ticketBound = 2
)

// message is a webhook body with one text message of contact, carrying
// secretText.
func message(id, contact string) string {
	return `[{"contact":"` + contact + `","id":"` + id + `","type":"message",` +
		`"message":{"id":"m-` + id + `","type":"text","text":"` + secretText + `"},` +
		`"raw":{"type":"message","text":"` + secretText + `"}}]`
}

// syncBuffer is a log sink the gateway's goroutines and the test share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// harness is hookwall wired as cmd/hookwall wires it — telemetry, a
// blocklist.Store on a real redis-server, the gateway on a real socket —
// with spans going to memory and JSON logs to a buffer.
type harness struct {
	t     *testing.T
	tel   *telemetry.Telemetry
	inst  *telemetry.Instruments
	spans *tracetest.InMemoryExporter // nil when tracing is off
	store *blocklist.Store
	redis *redistest.Server
	base  string
	logs  *syncBuffer
	log   *slog.Logger
}

// newHarness builds the harness; tracing says whether spans are recorded.
func newHarness(t *testing.T, tracing bool) *harness {
	t.Helper()
	clearOTELEnv(t)
	h := &harness{t: t, logs: &syncBuffer{}}
	h.log = slog.New(telemetry.LogHandler(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelInfo})))

	var opts []telemetry.Option
	if tracing {
		h.spans = tracetest.NewInMemoryExporter()
		opts = append(opts, telemetry.WithSpanExporter(h.spans))
	}
	tel, err := telemetry.Setup(t.Context(), "test", opts...)
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	if tel.TracingEnabled != tracing {
		t.Fatalf("TracingEnabled = %v, want %v", tel.TracingEnabled, tracing)
	}
	inst, err := tel.Instruments()
	if err != nil {
		t.Fatalf("Instruments: %v", err)
	}
	h.tel, h.inst = tel, inst

	srv := redistest.Start(t)
	// 16 shard loops each hold a connection in a blocking read: leave room
	// for leases, acks, the gateway and the gauges.
	// No retries, so that an outage test fails at once.
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, PoolSize: 64, MaxRetries: -1, DialerRetries: 1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = rdb.Close() })
	bl, err := blocklist.New(blocklist.Config{DefaultEnabled: true, TicketMessages: ticketBound, Channels: map[string]store.ChannelInfo{
		channelID: {Type: "fake", DedupeWindow: time.Hour},
	}}, rdb)
	if err != nil {
		t.Fatalf("blocklist.New: %v", err)
	}
	if err := bl.InitSettings(t.Context()); err != nil {
		t.Fatalf("InitSettings: %v", err)
	}
	if err := bl.EnsureQueues(t.Context()); err != nil {
		t.Fatalf("EnsureQueues: %v", err)
	}
	h.store, h.redis = bl, srv

	g, err := gateway.New(gateway.Config{
		Tokens:            []gateway.Token{{Name: "root", Role: gateway.RoleAdmin, Secret: adminToken}},
		Channels:          []gateway.ChannelConfig{{Adapter: testkit.NewChannel(channelID, 4096), BlockedAction: blocks.ActionQueue}},
		RequestTimeout:    3 * time.Second,
		WebhookMiddleware: []fiber.Handler{inst.Webhooks()},
		Metrics:           tel.MetricsHandler(),
	}, inst.Store(bl), h.log)
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.App().Listener(ln) }()
	t.Cleanup(func() { _ = g.App().Shutdown() })
	h.base = "http://" + ln.Addr().String()
	return h
}

// clearOTELEnv unsets every OTEL_* variable for the test (t.Setenv restores
// them afterwards), so that the machine's environment decides nothing.
func clearOTELEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "OTEL_") {
			t.Setenv(k, "")
			if err := os.Unsetenv(k); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// do sends a request to the gateway; hdr are header name, value pairs.
func (h *harness) do(method, path, body string, hdr ...string) (int, string) {
	h.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(h.t.Context(), method, h.base+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(raw)
}

// webhook posts a webhook body to the channel and checks the answer.
func (h *harness) webhook(body string, wantStatus int, wantBody string, hdr ...string) {
	h.t.Helper()
	status, raw := h.do(http.MethodPost, "/webhooks/"+channelID, body, append([]string{"X-Fake-Signature", "good"}, hdr...)...)
	if status != wantStatus || (wantBody != "" && raw != wantBody) {
		h.t.Fatalf("webhook = %d %s; want %d %s", status, raw, wantStatus, wantBody)
	}
}

// block blocks a contact through the admin API.
func (h *harness) block(contact string) {
	h.t.Helper()
	status, raw := h.do(http.MethodPost, "/admin/v1/channels/"+channelID+"/contacts/"+contact+"/block", `{"note":"abusive"}`,
		"Authorization", "Bearer "+adminToken)
	if status != http.StatusOK {
		h.t.Fatalf("block = %d %s", status, raw)
	}
}

// newTarget is the helpdesk the tests deliver to: unsigned, at the path
// withCredentials gives a URL, answering 204.
func newTarget(t *testing.T) *testkit.Target {
	t.Helper()
	tg := testkit.NewTarget(t, "hook", "")
	tg.SetAnswer(func(testkit.Request) int { return http.StatusNoContent })
	return tg
}

// deliverer delivers the channel's events to url, instrumented as
// cmd/hookwall does it.
func (h *harness) deliverer(url string) *delivery.Deliverer {
	h.t.Helper()
	dl, err := delivery.New(delivery.Config{
		Owner:    "telemetry-test",
		Channels: map[string]delivery.Targets{channelID: {Helpdesk: delivery.Target{URL: url}}},
		Timeout:  5 * time.Second,
		Tracer:   h.inst,
		Observer: h.inst,
	}, h.store, h.log)
	if err != nil {
		h.t.Fatalf("delivery.New: %v", err)
	}
	return dl
}

// deliver runs dl until tg received n deliveries, stops it, and returns
// what tg received. Every attempt has ended when it returns.
func (h *harness) deliver(dl *delivery.Deliverer, tg *testkit.Target, n int) []testkit.Request {
	h.t.Helper()
	ctx, cancel := context.WithCancel(h.t.Context())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = dl.Run(ctx)
	}()
	got := tg.WaitDelivered(h.t, n)
	cancel()
	select {
	case <-done:
	case <-time.After(deadline):
		h.t.Fatal("deliverer did not stop")
	}
	return got
}

// scrape reads the metrics served by handler over a real socket.
func scrape(t *testing.T, handler http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(handler)
	defer srv.Close()
	res, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET metrics = %d", res.StatusCode)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("parsing metrics: %v", err)
	}
	return mfs
}

// sample returns the value of the family's sample whose labels include
// want: a counter's or gauge's value, a histogram's count.
func sample(mfs map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	mf, ok := mfs[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		case m.Untyped != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}
