package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/hookwall/hookwall/blocklist/decision"
	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/hookwall/hookwall/gateway"
	"github.com/hookwall/hookwall/internal/redact"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
)

// Instruments are hookwall's metrics.
type Instruments struct {
	t          *Telemetry
	events     metric.Int64Counter
	dropped    metric.Int64Counter
	deliveries metric.Int64Counter
	latency    metric.Float64Histogram
	// The attribute sets of deliveries and the targets' redacted URLs,
	// worked out once: they are few, and a delivery needs them every time.
	deliverySets sync.Map // deliveryKey → metric.MeasurementOption
	redactedURLs sync.Map // url → redacted url
}

type deliveryKey struct{ channel, target, outcome string }

// Instruments creates the counters and histograms.
func (t *Telemetry) Instruments() (*Instruments, error) {
	i := &Instruments{t: t}
	var err error
	if i.events, err = t.Meter.Int64Counter("hookwall.events",
		metric.WithDescription("Inbound events by channel and decision (forwarded, recorded, queued, duplicate, rejected, error).")); err != nil {
		return nil, err
	}
	if i.dropped, err = t.Meter.Int64Counter("hookwall.ticket.messages.dropped",
		metric.WithDescription("Messages dropped from full blocked tickets (a ticket keeps its newest), by channel.")); err != nil {
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

// Counter is what the gauges read of the store at each scrape.
type Counter interface {
	// QueueDepth is the entries waiting in each delivery queue shard.
	QueueDepth(ctx context.Context) ([store.Buckets]int64, error)
	// Counts is the blocked contacts and the open tickets.
	Counts(ctx context.Context) (blocked, tickets int64, err error)
}

// Gauges registers the gauges read at each scrape: queue depth per shard,
// blocked contacts and open tickets, and each target's breaker state
// (0 closed, 1 half-open, 2 open). Target URLs are labelled without their
// credentials and query values, since /metrics is not behind the admin
// tokens. breakers may be nil.
func (i *Instruments) Gauges(bl Counter, breakers func() map[string]string) error {
	if bl == nil {
		return errors.New("gauges: nil store")
	}
	if breakers == nil {
		breakers = func() map[string]string { return nil }
	}
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
		if d, err := bl.QueueDepth(ctx); err == nil {
			for shard, n := range d {
				o.ObserveInt64(depth, n, metric.WithAttributes(attribute.String("shard", strconv.Itoa(shard))))
			}
		}
		if b, t, err := bl.Counts(ctx); err == nil {
			o.ObserveInt64(blocked, b)
			o.ObserveInt64(tickets, t)
		}
		for target, st := range breakers() {
			v := map[string]int64{"closed": 0, "half-open": 1, "open": 2}[st]
			o.ObserveInt64(breaker, v, metric.WithAttributes(attribute.String("target", i.redacted(target))))
		}
		return nil
	}, depth, blocked, tickets, breaker)
	return err
}

// Store decorates the gateway's store: a span around each decision, the
// events counter by channel and decision, and the messages full tickets
// dropped by channel (never by contact: a label per contact would make a
// series per blocked sender).
func (i *Instruments) Store(s gateway.Store) gateway.Store { return &tracedStore{Store: s, i: i} }

type tracedStore struct {
	gateway.Store
	i *Instruments
}

func (s *tracedStore) Ingest(ctx context.Context, events []decision.Event) ([]decision.Outcome, error) {
	ctx, span := s.i.t.Tracer.Start(ctx, "hookwall.decide", trace.WithAttributes(attribute.Int("hookwall.events", len(events))))
	defer span.End()
	out, err := s.Store.Ingest(ctx, events)
	if err != nil {
		recordError(span, err)
		span.SetStatus(codes.Error, "store")
		return nil, err
	}
	for k, o := range out {
		s.i.events.Add(ctx, 1, metric.WithAttributes(attribute.String("channel", events[k].Channel), attribute.String("decision", string(o.Decision))))
		if o.Dropped > 0 {
			s.i.dropped.Add(ctx, int64(o.Dropped), metric.WithAttributes(attribute.String("channel", events[k].Channel)))
		}
	}
	return out, nil
}

// Webhooks is Fiber middleware for the webhook routes: a server span joined
// to the caller's W3C trace context, and rejected or failed requests counted.
//
// The middleware runs as the group's "use" handler, before the route has
// matched: the {channel} parameter is only known after c.Next. Fiber's
// strings alias buffers it reuses for the next request, so what outlives the
// request (span and metric attributes) is copied. A request for an unknown
// channel (404) is counted with an empty channel label: the label would
// otherwise take any value a caller puts in the path.
func (i *Instruments) Webhooks() fiber.Handler {
	return func(c *fiber.Ctx) error {
		ctx := i.t.Propagator.Extract(c.UserContext(), fiberCarrier{c})
		method := httpMethod(c.Method())
		ctx, span := i.t.Tracer.Start(ctx, method+" /webhooks/{channel}", trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", method), attribute.String("http.route", "/webhooks/{channel}")))
		defer span.End()
		c.SetUserContext(ctx)
		err := c.Next()
		status := c.Response().StatusCode()
		if err != nil {
			// The error handler has not run yet: it writes the status later.
			status = gateway.StatusOf(err)
		}
		channel := ""
		if status != fiber.StatusNotFound {
			channel = strings.Clone(c.Params("channel"))
			span.SetAttributes(attribute.String("hookwall.channel", channel))
		}
		span.SetAttributes(attribute.Int("http.response.status_code", status))
		if status >= 500 {
			span.SetStatus(codes.Error, strconv.Itoa(status))
			if err != nil {
				recordError(span, err)
			}
		}
		if method == fiber.MethodPost && status >= 400 {
			decision := "rejected"
			if status >= 500 {
				decision = "error"
			}
			i.events.Add(ctx, 1, metric.WithAttributes(attribute.String("channel", channel), attribute.String("decision", decision)))
		}
		return err
	}
}

// httpMethod returns the request's method, or "_OTHER" for one outside
// the standard set (the semantic conventions' bound on span names). It
// returns its own constant, never Fiber's string, which aliases a buffer.
func httpMethod(m string) string {
	for _, k := range [...]string{fiber.MethodGet, fiber.MethodHead, fiber.MethodPost, fiber.MethodPut, fiber.MethodPatch,
		fiber.MethodDelete, fiber.MethodConnect, fiber.MethodOptions, fiber.MethodTrace} {
		if m == k {
			return k
		}
	}
	return "_OTHER"
}

// fiberCarrier reads the trace context headers of a Fiber request. Get
// copies: the extracted trace state outlives the request.
type fiberCarrier struct{ c *fiber.Ctx }

func (f fiberCarrier) Get(key string) string { return strings.Clone(f.c.Get(key)) }
func (f fiberCarrier) Set(key, value string) { f.c.Request().Header.Set(key, value) }
func (f fiberCarrier) Keys() []string        { return nil }

// Attempted counts a delivery attempt and, for a delivered one, the time from
// receipt to delivery.
func (i *Instruments) Attempted(ctx context.Context, d store.Delivery, outcome string, _ time.Duration, _ error) {
	i.deliveries.Add(ctx, 1, i.deliveryAttrs(deliveryKey{d.Channel, d.Target, outcome}))
	if outcome == "delivered" {
		if at := receivedAt(d); !at.IsZero() {
			i.latency.Record(ctx, time.Since(at).Seconds(), i.deliveryAttrs(deliveryKey{target: d.Target}))
		}
	}
}

// BreakerChanged is part of delivery.Observer; the gauge reads the states.
func (i *Instruments) BreakerChanged(string, string, string) {}

// StartAttempt starts a client span for one delivery attempt, a child of the
// trace context the event arrived with; the target is sent the span's own
// context in the traceparent header. Part of delivery.AttemptTracer.
// With tracing off there is no span: the inbound traceparent (normalized
// when it was received) goes on as it is.
func (i *Instruments) StartAttempt(ctx context.Context, d store.Delivery, url string) (string, func(int, error)) {
	if !i.t.TracingEnabled {
		return d.TraceParent, func(int, error) {}
	}
	carrier := propagation.MapCarrier{}
	if d.TraceParent != "" {
		carrier["traceparent"] = d.TraceParent
	}
	ctx = i.t.Propagator.Extract(ctx, carrier)
	ctx, span := i.t.Tracer.Start(ctx, "hookwall.delivery.attempt", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("hookwall.envelope", d.ID),
			attribute.String("http.request.method", http.MethodPost), attribute.String("url.full", i.redacted(url))))
	out := propagation.MapCarrier{}
	i.t.Propagator.Inject(ctx, out)
	return out["traceparent"], func(status int, err error) {
		switch {
		case err != nil:
			recordError(span, err)
			span.SetStatus(codes.Error, "transport")
		default:
			span.SetAttributes(attribute.Int("http.response.status_code", status))
			if status >= 300 {
				span.SetStatus(codes.Error, strconv.Itoa(status))
			}
		}
		span.End()
	}
}

// deliveryAttrs returns the attribute set of k's fields that are set.
func (i *Instruments) deliveryAttrs(k deliveryKey) metric.MeasurementOption {
	if v, ok := i.deliverySets.Load(k); ok {
		return v.(metric.MeasurementOption)
	}
	var kv []attribute.KeyValue
	for _, a := range []struct{ key, value string }{{"channel", k.channel}, {"target", k.target}, {"outcome", k.outcome}} {
		if a.value != "" {
			kv = append(kv, attribute.String(a.key, a.value))
		}
	}
	o := metric.WithAttributeSet(attribute.NewSet(kv...))
	i.deliverySets.Store(k, o)
	return o
}

// redacted returns redact.URL(url), worked out once per target.
func (i *Instruments) redacted(url string) string {
	if v, ok := i.redactedURLs.Load(url); ok {
		return v.(string)
	}
	r := redact.URL(url)
	i.redactedURLs.Store(url, r)
	return r
}

// recordError records err on span as the semantic conventions' exception
// event, like span.RecordError, but with its text redacted: spans leave
// hookwall for a collector, and an error may repeat a target's URL whole.
func recordError(span trace.Span, err error) {
	span.AddEvent(semconv.ExceptionEventName, trace.WithAttributes(
		semconv.ExceptionType(fmt.Sprintf("%T", err)), semconv.ExceptionMessage(redact.Error(err))))
}

// LogHandler adds the trace and span ids of the record's context to every
// log record, at the top level even in a logger with groups.
func LogHandler(h slog.Handler) slog.Handler { return logHandler{Handler: h, root: h} }

type logHandler struct {
	// Handler is root with every WithAttrs and WithGroup applied.
	slog.Handler
	root slog.Handler
	// ops are those WithAttrs and WithGroup calls, in order; they are
	// replayed over root and the trace ids when a group is open, since
	// attributes added to the record would land in the group.
	ops     []func(slog.Handler) slog.Handler
	grouped bool
}

func (l logHandler) Handle(ctx context.Context, r slog.Record) error {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return l.Handler.Handle(ctx, r)
	}
	ids := []slog.Attr{slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String())}
	if !l.grouped {
		r.AddAttrs(ids...)
		return l.Handler.Handle(ctx, r)
	}
	h := l.root.WithAttrs(ids)
	for _, op := range l.ops {
		h = op(h)
	}
	return h.Handle(ctx, r)
}

func (l logHandler) WithAttrs(a []slog.Attr) slog.Handler {
	if len(a) == 0 {
		return l
	}
	return l.with(func(h slog.Handler) slog.Handler { return h.WithAttrs(a) }, false)
}

func (l logHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return l
	}
	return l.with(func(h slog.Handler) slog.Handler { return h.WithGroup(name) }, true)
}

func (l logHandler) with(op func(slog.Handler) slog.Handler, group bool) logHandler {
	return logHandler{
		Handler: op(l.Handler), root: l.root,
		ops: append(slices.Clip(l.ops), op), grouped: l.grouped || group,
	}
}

// receivedAt is when the delivery was queued, read off its stream entry id
// (milliseconds since the epoch, then a sequence): within a millisecond or so
// of when hookwall received the event, and no payload to decode.
func receivedAt(d store.Delivery) time.Time {
	msPart, _, _ := strings.Cut(d.StreamID, "-")
	v, err := strconv.ParseInt(msPart, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMilli(v)
}
