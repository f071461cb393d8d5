// Package telemetry sets up OpenTelemetry for hookwall — traces exported over
// OTLP when the standard OTEL_* variables ask for it, metrics served in the
// Prometheus text format — and provides the decorators that instrument the
// gateway, the decision and the deliveries without touching their code.
package telemetry

import (
	"context"
	"errors"
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

// Setup builds the providers. Tracing is on when OTEL_EXPORTER_OTLP_ENDPOINT
// or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set (OTLP over HTTP/protobuf; the
// exporter reads the other OTEL_EXPORTER_OTLP_* variables, the SDK reads
// OTEL_TRACES_SAMPLER, OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES), and
// off when they are unset, when OTEL_TRACES_EXPORTER=none or when
// OTEL_SDK_DISABLED=true.
func Setup(ctx context.Context, version string) (*Telemetry, error) {
	// Environment (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES) wins over
	// the defaults.
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName("hookwall"), semconv.ServiceVersion(version)),
		resource.WithFromEnv(), resource.WithTelemetrySDK(), resource.WithHost())
	if err != nil {
		return nil, err
	}
	t := &Telemetry{Propagator: propagation.TraceContext{}, registry: prometheus.NewRegistry()}

	exp, err := otelprom.New(otelprom.WithRegisterer(t.registry), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, err
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp), sdkmetric.WithResource(res))
	t.shutdown = append(t.shutdown, mp.Shutdown)
	t.Meter = mp.Meter(scope)

	if tracingRequested() {
		te, err := otlptracehttp.New(ctx)
		if err != nil {
			return nil, err
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(te), sdktrace.WithResource(res))
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

func tracingRequested() bool {
	if strings.EqualFold(os.Getenv("OTEL_SDK_DISABLED"), "true") || os.Getenv("OTEL_TRACES_EXPORTER") == "none" {
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
