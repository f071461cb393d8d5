package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/hookwall/hookwall/blocklist/decision"
	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/hookwall/hookwall/channels"
	"go.opentelemetry.io/otel/propagation"
)

// fiberHeader adapts Fiber's request headers to channels.Header.
type fiberHeader struct{ c *fiber.Ctx }

func (h fiberHeader) Get(name string) string { return h.c.Get(name) }

// webhook verifies, parses, decides and stores one platform request, and
// answers 200 with the decision counts only when every event is stored.
func (g *Gateway) webhook(c *fiber.Ctx) error {
	ch, err := g.channel(c)
	if err != nil {
		return err
	}
	body := c.BodyRaw() // within the channel's limit: readBody saw to it
	events, err := ch.Adapter.Receive(fiberHeader{c}, body)
	if err != nil {
		if errors.Is(err, channels.ErrBadSignature) {
			g.log.WarnContext(c.UserContext(), "webhook refused", "channel", ch.Adapter.ID(), "err", err)
		}
		return err
	}
	// Authentic, and the platform's envelope; refused as a whole still if
	// its readers could disagree on what it says.
	if err := channels.Unambiguous(body); err != nil {
		return fmt.Errorf("%s: %w", ch.Adapter.ID(), err)
	}
	if len(events) == 0 {
		return c.JSON(Counts{})
	}
	now := time.Now()
	tp := traceParent(c)
	batch := make([]decision.Event, len(events))
	for i, e := range events {
		var msg json.RawMessage
		var text string
		if e.Message != nil {
			msg, _ = json.Marshal(e.Message)
			text = e.Message.Text
		}
		batch[i] = decision.Event{
			Channel: ch.Adapter.ID(), Contact: e.Contact, ID: e.ID, Type: e.Type, Message: msg,
			Text: text, ReceivedAt: now, Raw: e.Raw, TraceParent: tp,
		}
		keepable(&batch[i])
	}
	ctx, cancel := g.reqCtx(c)
	defer cancel()
	outcomes, err := g.store.Ingest(ctx, batch)
	if err != nil {
		// Nothing is acknowledged: the platform retries, and what was
		// stored already is recognized as a duplicate then.
		return err
	}
	var counts Counts
	for _, o := range outcomes {
		switch o.Decision {
		case decision.Forwarded:
			counts.Forwarded++
		case decision.Recorded:
			counts.Recorded++
		case decision.Queued:
			counts.Queued++
		case decision.Duplicate:
			counts.Duplicates++
		}
	}
	return c.JSON(counts)
}

// keepable makes an authentic event one the store takes, so that no single
// event gets its request refused: a contact id the blocklist cannot key
// (too long, control characters) makes the event a passthrough, and an event
// id the dedupe marker cannot hold is replaced by a hash of itself, as
// stable across the platform's redeliveries as the id. The adapters derive
// an id where the platform gives none (leaving out what changes on
// redelivery); an event without one is hashed whole here only as a guard.
func keepable(e *decision.Event) {
	if e.Contact != "" && store.ValidateContact(e.Contact) != nil {
		e.Contact = ""
	}
	switch {
	case e.ID == "":
		e.ID = channels.ContentID(e.Raw)
	case len(e.ID) > decision.MaxEventIDBytes:
		e.ID = channels.HashID([]byte(e.ID))
	}
}

// handshake answers a platform's GET verification of the webhook URL.
func (g *Gateway) handshake(c *fiber.Ctx) error {
	ch, err := g.channel(c)
	if err != nil {
		return err
	}
	hs, ok := ch.Adapter.(Handshaker)
	if !ok {
		return fiber.ErrMethodNotAllowed
	}
	q, err := url.ParseQuery(string(c.Request().URI().QueryString()))
	if err != nil {
		return fmt.Errorf("%w: %v", channels.ErrHandshake, err)
	}
	challenge, err := hs.Handshake(q)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextPlainCharsetUTF8)
	return c.SendString(challenge)
}

// traceParent is the W3C trace context to pass on to the targets: the
// current span's when tracing runs, else the caller's own header — parsed and
// written again, so that only a valid, normalized header is stored.
func traceParent(c *fiber.Ctx) string {
	tc := propagation.TraceContext{}
	h := propagation.MapCarrier{}
	tc.Inject(c.UserContext(), h)
	if tp := h["traceparent"]; tp != "" {
		return tp
	}
	in := propagation.MapCarrier{"traceparent": c.Get("traceparent")}
	tc.Inject(tc.Extract(context.Background(), in), h)
	return h["traceparent"]
}
