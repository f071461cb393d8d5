package telemetry_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/hookwall/hookwall/telemetry"
)

// collector is a fake OTLP/HTTP collector: it records what it is sent.
type collector struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []collected
}

type collected struct {
	method, path, contentType string
	size                      int
}

func newCollector(t *testing.T) *collector {
	t.Helper()
	c := &collector{}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.reqs = append(c.reqs, collected{r.Method, r.URL.Path, r.Header.Get("Content-Type"), len(body)})
		c.mu.Unlock()
		// An empty ExportTraceServiceResponse: everything accepted.
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *collector) requests() []collected {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]collected(nil), c.reqs...)
}

// TestSetupFromEnvironment checks that the OTEL_* variables alone decide
// whether spans are exported, with the real OTLP/HTTP exporter talking to a
// local collector.
func TestSetupFromEnvironment(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string // "{collector}" is replaced by its URL
		tracing bool
	}{
		{"no variables", nil, false},
		{"endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "{collector}"}, true},
		{"traces endpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "{collector}/v1/traces"}, true},
		{"sdk disabled", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "{collector}", "OTEL_SDK_DISABLED": "true"}, false},
		{"sdk disabled, upper case", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "{collector}", "OTEL_SDK_DISABLED": "TRUE"}, false},
		{"sdk not disabled", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "{collector}", "OTEL_SDK_DISABLED": "false"}, true},
		{"exporter none", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "{collector}", "OTEL_TRACES_EXPORTER": "none"}, false},
		{"exporter none, upper case", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "{collector}", "OTEL_TRACES_EXPORTER": "NONE"}, false},
		{"exporter otlp", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "{collector}", "OTEL_TRACES_EXPORTER": "otlp"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clearOTELEnv(t)
			col := newCollector(t)
			for k, v := range tc.env {
				t.Setenv(k, strings.ReplaceAll(v, "{collector}", col.srv.URL))
			}
			tel, err := telemetry.Setup(t.Context(), "test")
			if err != nil {
				t.Fatalf("Setup: %v", err)
			}
			if tel.TracingEnabled != tc.tracing {
				t.Fatalf("TracingEnabled = %v, want %v", tel.TracingEnabled, tc.tracing)
			}
			_, span := tel.Tracer.Start(t.Context(), "test span")
			if got := span.SpanContext().IsValid(); got != tc.tracing {
				t.Errorf("span context valid = %v, want %v", got, tc.tracing)
			}
			span.End()
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			if err := tel.Shutdown(ctx); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}

			reqs := col.requests()
			if !tc.tracing {
				if len(reqs) != 0 {
					t.Fatalf("collector got %+v with tracing off", reqs)
				}
				return
			}
			if len(reqs) == 0 {
				t.Fatal("the collector got nothing")
			}
			for _, r := range reqs {
				if r.method != http.MethodPost || r.path != "/v1/traces" || r.contentType != "application/x-protobuf" || r.size == 0 {
					t.Fatalf("collector got %+v, want a protobuf POST to /v1/traces", r)
				}
			}
		})
	}
}

// TestSetupRefusesProtocol: tracing asked for over a protocol hookwall does
// not speak is a start-up error naming the variable, not spans lost.
func TestSetupRefusesProtocol(t *testing.T) {
	for _, tc := range []struct {
		env     map[string]string
		wantErr string // "" for none
	}{
		{map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "OTEL_EXPORTER_OTLP_PROTOCOL=grpc"},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"}, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/json"},
		{map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, ""},
		{map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"}, ""},
	} {
		clearOTELEnv(t)
		col := newCollector(t)
		t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", col.srv.URL)
		for k, v := range tc.env {
			t.Setenv(k, v)
		}
		tel, err := telemetry.Setup(t.Context(), "test")
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%v: Setup: %v", tc.env, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%v: Setup error %v, want one naming %s", tc.env, err, tc.wantErr)
		}
		if err == nil {
			_ = tel.Shutdown(t.Context())
		}
	}
}

// TestSetupWithSpanExporter checks that an injected exporter turns tracing
// on whatever the environment says, and gets each span as it ends.
func TestSetupWithSpanExporter(t *testing.T) {
	h := newHarness(t, true) // fails unless TracingEnabled
	_, span := h.tel.Tracer.Start(t.Context(), "test span")
	span.End()
	if spans := h.spans.GetSpans(); len(spans) != 1 || spans[0].Name != "test span" {
		t.Fatalf("exported %v, want the one span at once", spans)
	}
	if got := h.spans.GetSpans()[0].Resource.Attributes(); !hasAttr(got, "service.name", "hookwall") || !hasAttr(got, "service.version", "test") {
		t.Fatalf("resource = %v, want service.name hookwall and service.version test", got)
	}
}
