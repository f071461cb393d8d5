package telemetry

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/hookwall/hookwall/blocklist"
	"github.com/hookwall/hookwall/gateway"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Instruments are hookwall's metrics.
type Instruments struct {
	t          *Telemetry
	events     metric.Int64Counter
	deliveries metric.Int64Counter
	latency    metric.Float64Histogram
}

// Instruments creates the counters and histograms.
func (t *Telemetry) Instruments() (*Instruments, error) {
	i := &Instruments{t: t}
	var err error
	if i.events, err = t.Meter.Int64Counter("hookwall.events",
		metric.WithDescription("Inbound events by channel and decision (forwarded, recorded, queued, duplicate, rejected, error).")); err != nil {
		return nil, err
	}
	if i.deliveries, err = t.Meter.Int64Counter("hookwall.deliveries",
		metric.WithDescription("Delivery attempts by channel, target and outcome (delivered, failed, parked).")); err != nil {
		return nil, err
	}
	if i.latency, err = t.Meter.Float64Histogram("hookwall.delivery.latency", metric.WithUnit("s"),
		metric.WithDescription("Time from receiving an event to its delivery to the target."),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)); err != nil {
		return nil, err
	}
	return i, nil
}

// Gauges registers the gauges read at each scrape: queue depth per shard,
// blocked contacts and open tickets, and each target's breaker state
// (0 closed, 1 half-open, 2 open).
func (i *Instruments) Gauges(store *blocklist.Store, breakers func() map[string]string) error {
	depth, err := i.t.Meter.Int64ObservableGauge("hookwall.queue.depth", metric.WithDescription("Entries waiting in each delivery queue shard."))
	if err != nil {
		return err
	}
	blocked, err := i.t.Meter.Int64ObservableGauge("hookwall.blocked_contacts", metric.WithDescription("Blocked contacts (expired blocks count until listed or cleaned)."))
	if err != nil {
		return err
	}
	tickets, err := i.t.Meter.Int64ObservableGauge("hookwall.open_tickets", metric.WithDescription("Open blocked tickets."))
	if err != nil {
		return err
	}
	breaker, err := i.t.Meter.Int64ObservableGauge("hookwall.breaker.state", metric.WithDescription("Target circuit breaker state: 0 closed, 1 half-open, 2 open."))
	if err != nil {
		return err
	}
	_, err = i.t.Meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if d, err := store.QueueDepth(ctx); err == nil {
			for shard, n := range d {
				o.ObserveInt64(depth, n, metric.WithAttributes(attribute.String("shard", strconv.Itoa(shard))))
			}
		}
		if b, t, err := store.Counts(ctx); err == nil {
			o.ObserveInt64(blocked, b)
			o.ObserveInt64(tickets, t)
		}
		for target, st := range breakers() {
			v := map[string]int64{"closed": 0, "half-open": 1, "open": 2}[st]
			o.ObserveInt64(breaker, v, metric.WithAttributes(attribute.String("target", target)))
		}
		return nil
	}, depth, blocked, tickets, breaker)
	return err
}

// Store decorates the gateway's store: a span around each decision and the
// events counter by channel and decision.
func (i *Instruments) Store(s gateway.Store) gateway.Store { return &store{Store: s, i: i} }

type store struct {
	gateway.Store
	i *Instruments
}

func (s *store) Ingest(ctx context.Context, events []blocklist.Event) ([]blocklist.Outcome, error) {
	ctx, span := s.i.t.Tracer.Start(ctx, "hookwall.decide", trace.WithAttributes(attribute.Int("hookwall.events", len(events))))
	defer span.End()
	out, err := s.Store.Ingest(ctx, events)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "store")
		return nil, err
	}
	for k, o := range out {
		s.i.events.Add(ctx, 1, metric.WithAttributes(attribute.String("channel", events[k].Channel), attribute.String("decision", string(o.Decision))))
	}
	return out, nil
}

// Webhooks is Fiber middleware for the webhook routes: a server span joined
// to the caller's W3C trace context, and rejected or failed requests counted.
func (i *Instruments) Webhooks() fiber.Handler {
	return func(c *fiber.Ctx) error {
		ctx := i.t.Propagator.Extract(c.UserContext(), fiberCarrier{c})
		ctx, span := i.t.Tracer.Start(ctx, c.Method()+" /webhooks/{channel}", trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("hookwall.channel", c.Params("channel"))))
		defer span.End()
		c.SetUserContext(ctx)
		err := c.Next()
		status := c.Response().StatusCode()
		if err != nil {
			// The error handler has not run yet: it writes the status later.
			status = gateway.StatusOf(err)
		}
		span.SetAttributes(attribute.Int("http.response.status_code", status))
		if c.Method() == fiber.MethodPost && status >= 400 {
			decision := "rejected"
			if status >= 500 {
				decision = "error"
				span.SetStatus(codes.Error, strconv.Itoa(status))
			}
			i.events.Add(ctx, 1, metric.WithAttributes(attribute.String("channel", c.Params("channel")), attribute.String("decision", decision)))
		}
		return err
	}
}

type fiberCarrier struct{ c *fiber.Ctx }

func (f fiberCarrier) Get(key string) string { return f.c.Get(key) }
func (f fiberCarrier) Set(key, value string) { f.c.Request().Header.Set(key, value) }
func (f fiberCarrier) Keys() []string        { return nil }

// Attempted counts a delivery attempt and, for a delivered one, the time from
// receipt to delivery.
func (i *Instruments) Attempted(ctx context.Context, d blocklist.Delivery, outcome string, _ time.Duration, _ error) {
	attrs := metric.WithAttributes(attribute.String("channel", d.Channel), attribute.String("target", d.Target), attribute.String("outcome", outcome))
	i.deliveries.Add(ctx, 1, attrs)
	if outcome == "delivered" {
		if at := receivedAt(d); !at.IsZero() {
			i.latency.Record(ctx, time.Since(at).Seconds(), metric.WithAttributes(attribute.String("target", d.Target)))
		}
	}
}

// BreakerChanged is part of delivery.Observer; the gauge reads the states.
func (i *Instruments) BreakerChanged(string, string, string) {}

// Transport decorates the delivery HTTP client: a client span per attempt,
// child of the trace context the event arrived with, whose own context is
// passed on to the target in the traceparent header.
func (i *Instruments) Transport(base http.RoundTripper) http.RoundTripper {
	return roundTripper{base: base, i: i}
}

type roundTripper struct {
	base http.RoundTripper
	i    *Instruments
}

func (r roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := r.i.t.Propagator.Extract(req.Context(), propagation.HeaderCarrier(req.Header))
	ctx, span := r.i.t.Tracer.Start(ctx, "hookwall.delivery.attempt", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("hookwall.envelope", req.Header.Get("webhook-id")), attribute.String("url.full", req.URL.String())))
	defer span.End()
	req = req.Clone(ctx)
	r.i.t.Propagator.Inject(ctx, propagation.HeaderCarrier(req.Header))
	res, err := r.base.RoundTrip(req)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "transport")
		return nil, err
	}
	span.SetAttributes(attribute.Int("http.response.status_code", res.StatusCode))
	if res.StatusCode >= 300 {
		span.SetStatus(codes.Error, strconv.Itoa(res.StatusCode))
	}
	return res, nil
}

// LogHandler adds the trace and span ids of the record's context to every
// log record.
func LogHandler(h slog.Handler) slog.Handler { return logHandler{h} }

type logHandler struct{ slog.Handler }

func (l logHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return l.Handler.Handle(ctx, r)
}

func (l logHandler) WithAttrs(a []slog.Attr) slog.Handler { return logHandler{l.Handler.WithAttrs(a)} }
func (l logHandler) WithGroup(n string) slog.Handler      { return logHandler{l.Handler.WithGroup(n)} }

// receivedAt reads when hookwall received the delivery's event.
func receivedAt(d blocklist.Delivery) time.Time {
	var p struct {
		ReceivedAt time.Time `json:"received_at"`
	}
	_ = json.Unmarshal(d.Payload, &p)
	return p.ReceivedAt
}
