// Package telemetry sets up OpenTelemetry for hookwall — traces exported over
// OTLP when the standard OTEL_* variables ask for it, metrics served in the
// Prometheus text format — and provides the decorators that instrument the
// gateway, the decision and the deliveries without touching their code.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

const scope = "github.com/hookwall/hookwall"

// Telemetry holds the providers of one process.
type Telemetry struct {
	// Tracer makes hookwall's spans; a no-op tracer when tracing is off.
	Tracer trace.Tracer
	// Meter makes hookwall's instruments.
	Meter metric.Meter
	// Propagator reads and writes W3C trace context.
	Propagator propagation.TextMapPropagator
	// TracingEnabled says whether spans are exported.
	TracingEnabled bool

	registry *prometheus.Registry
	shutdown []func(context.Context) error
}

// Option changes what Setup builds.
type Option func(*options)

type options struct {
	spanExporter sdktrace.SpanExporter
}

// WithSpanExporter makes Setup export spans to exp, each one as it ends (a
// synchronous span processor), instead of what the OTEL_* variables ask for:
// tracing is on whatever they say. It is meant for tests, with
// go.opentelemetry.io/otel/sdk/trace/tracetest's InMemoryExporter.
func WithSpanExporter(exp sdktrace.SpanExporter) Option {
	return func(o *options) { o.spanExporter = exp }
}

// Setup builds the providers. Tracing is on when OTEL_EXPORTER_OTLP_ENDPOINT
// or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set (OTLP over HTTP/protobuf; the
// exporter reads the other OTEL_EXPORTER_OTLP_* variables, the SDK reads
// OTEL_TRACES_SAMPLER, OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES), and
// off when they are unset, when OTEL_TRACES_EXPORTER=none or when
// OTEL_SDK_DISABLED=true. WithSpanExporter overrides the variables.
func Setup(ctx context.Context, version string, opts ...Option) (*Telemetry, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	// Environment (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES) wins over
	// the defaults. A resource that could only be partly detected (a
	// malformed OTEL_RESOURCE_ATTRIBUTES, no hostname) is still used: it only
	// labels the telemetry, and is no reason not to start.
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName("hookwall"), semconv.ServiceVersion(version)),
		resource.WithFromEnv(), resource.WithTelemetrySDK(), resource.WithHost())
	if err != nil {
		otel.Handle(fmt.Errorf("telemetry resource: %w", err))
	}
	t := &Telemetry{Propagator: propagation.TraceContext{}, registry: prometheus.NewRegistry()}

	exp, err := otelprom.New(otelprom.WithRegisterer(t.registry), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp), sdkmetric.WithResource(res))
	t.shutdown = append(t.shutdown, mp.Shutdown)
	t.Meter = mp.Meter(scope)

	var sp sdktrace.TracerProviderOption
	switch {
	case o.spanExporter != nil:
		sp = sdktrace.WithSyncer(o.spanExporter)
	case tracingRequested():
		if err := checkProtocol(); err != nil {
			_ = mp.Shutdown(ctx)
			return nil, err
		}
		te, err := otlptracehttp.New(ctx)
		if err != nil {
			_ = mp.Shutdown(ctx)
			return nil, fmt.Errorf("otlp trace exporter: %w", err)
		}
		sp = sdktrace.WithBatcher(te)
	}
	if sp != nil {
		tp := sdktrace.NewTracerProvider(sp, sdktrace.WithResource(res))
		t.shutdown = append(t.shutdown, tp.Shutdown)
		t.Tracer = tp.Tracer(scope)
		t.TracingEnabled = true
		otel.SetTracerProvider(tp)
	} else {
		t.Tracer = noop.NewTracerProvider().Tracer(scope)
	}
	otel.SetTextMapPropagator(t.Propagator)
	return t, nil
}

// checkProtocol refuses an OTLP protocol other than http/protobuf, the only
// one hookwall's exporter speaks: spans sent as HTTP to a gRPC port would be
// lost without a word.
func checkProtocol() error {
	for _, k := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		v := strings.TrimSpace(os.Getenv(k))
		if v == "" {
			continue
		}
		if v != "http/protobuf" {
			return fmt.Errorf("%s=%s: hookwall exports traces over OTLP http/protobuf only; set it to http/protobuf or unset it", k, v)
		}
		return nil // the traces variable, when set, overrides the general one
	}
	return nil
}

// tracingRequested reads the variables; their values are case-insensitive,
// as the OpenTelemetry specification has it.
func tracingRequested() bool {
	if strings.EqualFold(strings.TrimSpace(os.Getenv("OTEL_SDK_DISABLED")), "true") ||
		strings.EqualFold(strings.TrimSpace(os.Getenv("OTEL_TRACES_EXPORTER")), "none") {
		return false
	}
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// MetricsHandler serves the metrics in the Prometheus text format.
func (t *Telemetry) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(t.registry, promhttp.HandlerOpts{})
}

// Shutdown flushes spans and stops the providers.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	for _, f := range t.shutdown {
		errs = append(errs, f(ctx))
	}
	return errors.Join(errs...)
}
