package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/hookwall/hookwall/internal/redact"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/valyala/fasthttp"
)

type outcome int

const (
	// delivered: the target took it.
	delivered outcome = iota
	// parked: it is in the dead letters, off the stream.
	parked
	// aborted: ctx ended first; it stays pending.
	aborted
	// leaseLost: the shard's lease is held by another replica now; it
	// stays pending for that one.
	leaseLost
)

// envelopeHead is the envelope's members before the stored payload's.
type envelopeHead struct {
	ID           string `json:"id"`
	Type         string `json:"type"`
	Channel      string `json:"channel"`
	ChannelType  string `json:"channel_type"`
	Contact      string `json:"contact"`
	Conversation string `json:"conversation"`
	Route        string `json:"route"`
	Queue        string `json:"queue"`
	Automation   bool   `json:"automation"`
	Blocked      bool   `json:"blocked"`
}

// envelope is what a bot or helpdesk receives (docs/CONTRACT.md, "Deliveries
// to bot and helpdesk").
type envelope struct {
	envelopeHead
	Message    json.RawMessage `json:"message,omitempty"`
	ReceivedAt time.Time       `json:"received_at"`
	Raw        json.RawMessage `json:"raw,omitempty"`
	Data       json.RawMessage `json:"data,omitempty"`
}

type storedPayload struct {
	Message    json.RawMessage `json:"message"`
	ReceivedAt time.Time       `json:"received_at"`
	Raw        json.RawMessage `json:"raw"`
	Data       json.RawMessage `json:"data"`
}

// buildEnvelope writes the envelope of a delivery. The stored payload's
// members (message, received_at, raw, data) are appended as they are; only a
// payload not in the stored form is decoded and encoded again.
func buildEnvelope(e store.Delivery) ([]byte, error) {
	head := envelopeHead{
		ID: e.ID, Type: e.Type, Channel: e.Channel, ChannelType: e.ChannelType, Contact: e.Contact,
		Conversation: e.Conversation, Route: e.Route, Queue: e.Queue, Automation: e.Automation, Blocked: e.Blocked,
	}
	if rest, ok := store.PayloadMembers(e); ok {
		b, err := json.Marshal(head)
		if err != nil {
			return nil, err
		}
		return append(b[:len(b)-1], rest...), nil
	}
	var p storedPayload
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		return nil, fmt.Errorf("stored payload: %w", err)
	}
	return json.Marshal(envelope{envelopeHead: head, Message: p.Message, ReceivedAt: p.ReceivedAt, Raw: p.Raw, Data: p.Data})
}

// errPermanent marks a failure no retry can mend (no such target, an
// unreadable entry): the delivery is parked at once.
var errPermanent = errors.New("permanent")

// target is a Target made ready for use: its URL checked, its key decoded,
// its host's client made.
type target struct {
	url    string
	wh     *standardwebhooks.Webhook // nil: unsigned
	client *fasthttp.HostClient
}

type channelTargets struct {
	bot      *target
	helpdesk target
}

// resolveTargets makes the targets ready, with one client per target host:
// a bot and a helpdesk on one host share its connections.
func resolveTargets(chs map[string]Targets, timeout time.Duration, proxy proxyFunc) (map[string]channelTargets, []*fasthttp.HostClient, error) {
	out := make(map[string]channelTargets, len(chs))
	clients := map[string]*fasthttp.HostClient{}
	resolve := func(t Target) (target, error) {
		u, err := url.Parse(t.URL)
		// A comma would make fasthttp read the host as a list of hosts.
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Contains(u.Host, ",") {
			return target{}, errors.New("url must be an absolute http or https url")
		}
		rt := target{url: t.URL}
		if t.Secret != "" {
			wh, err := standardwebhooks.NewWebhook(t.Secret)
			if err != nil || len(strings.TrimPrefix(t.Secret, "whsec_")) == 0 {
				return target{}, errors.New("secret must be a standard webhooks key (whsec_ and base64)")
			}
			rt.wh = wh
		}
		host := u.Scheme + "://" + u.Host
		if rt.client = clients[host]; rt.client == nil {
			if rt.client, err = newHostClient(u, timeout, proxy); err != nil {
				return target{}, err
			}
			clients[host] = rt.client
		}
		return rt, nil
	}
	for id, ts := range chs {
		h, err := resolve(ts.Helpdesk)
		if err != nil {
			return nil, nil, fmt.Errorf("delivery: channel %q helpdesk: %w", id, err)
		}
		ct := channelTargets{helpdesk: h}
		if ts.Bot != nil {
			b, err := resolve(*ts.Bot)
			if err != nil {
				return nil, nil, fmt.Errorf("delivery: channel %q bot: %w", id, err)
			}
			ct.bot = &b
		}
		out[id] = ct
	}
	return out, slices.Collect(maps.Values(clients)), nil
}

func (d *Deliverer) target(e store.Delivery) (target, error) {
	ts, ok := d.targets[e.Channel]
	if !ok {
		return target{}, fmt.Errorf("%w: channel %q is not configured", errPermanent, e.Channel)
	}
	switch e.Target {
	case store.TargetHelpdesk:
		return ts.helpdesk, nil
	case store.TargetBot:
		if ts.bot == nil {
			return target{}, fmt.Errorf("%w: channel %q has no enabled bot", errPermanent, e.Channel)
		}
		return *ts.bot, nil
	}
	return target{}, fmt.Errorf("%w: unknown target %q", errPermanent, e.Target)
}

// deliver makes attempts until the target takes the envelope, the retry
// budget is spent (then it parks it), or ctx ends.
// At most cap(attempts) posts run at once; waiting on an open breaker or a
// backoff holds no place.
func (d *Deliverer) deliver(ctx context.Context, e store.Delivery, attempts chan struct{}) outcome {
	t, err := d.target(e)
	var body []byte
	if err == nil {
		body, err = buildEnvelope(e)
		if err != nil {
			err = fmt.Errorf("%w: %v", errPermanent, err)
		}
	}
	if err != nil {
		return d.park(ctx, e, err, 0)
	}
	bo := &backoff.ExponentialBackOff{
		InitialInterval: d.cfg.BackoffMin, RandomizationFactor: 0.5, Multiplier: 2, MaxInterval: d.cfg.BackoffMax,
	}
	bo.Reset()
	cb := d.breakers.get(t.url)
	spent := 0
	for {
		if !d.breakers.waitClosed(ctx, cb) {
			return aborted
		}
		select {
		case attempts <- struct{}{}:
		case <-ctx.Done():
			return aborted
		}
		start := time.Now()
		_, err := cb.Execute(func() (struct{}, error) {
			return struct{}{}, d.post(ctx, t, e, body)
		})
		<-attempts
		if isBreakerRefusal(err) {
			// The breaker refused (open, or its half-open trial is taken by
			// another contact): no attempt was spent.
			if !wait(ctx, d.breakers.poll()) {
				return aborted
			}
			continue
		}
		spent++
		if err == nil {
			d.observe(ctx, e, "delivered", time.Since(start), nil)
			return delivered
		}
		d.observe(ctx, e, "failed", time.Since(start), err)
		d.log.Debug("delivery attempt failed", "channel", e.Channel, "target", e.Target, "envelope", e.ID, "attempt", spent, "err", err)
		if spent >= d.cfg.MaxAttempts {
			return d.park(ctx, e, err, spent)
		}
		if !wait(ctx, min(max(bo.NextBackOff(), d.cfg.BackoffMin), d.cfg.BackoffMax)) {
			return aborted
		}
	}
}

// park moves a delivery to the dead letters. A store error is retried in
// place, with backoff, so that the delivery is neither posted again nor
// overtaken by the contact's next entry.
func (d *Deliverer) park(ctx context.Context, e store.Delivery, cause error, attempts int) outcome {
	bo := &backoff.ExponentialBackOff{
		InitialInterval: 250 * time.Millisecond, RandomizationFactor: 0.5, Multiplier: 2, MaxInterval: 5 * time.Second,
	}
	bo.Reset()
	// The reason is shown to admins (GET /admin/v1/dead-letters): an error
	// that repeats the target's URL must not show its password or API key.
	reason := redact.Error(cause)
	for {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		ok, err := d.q.Park(pctx, d.cfg.Owner, e, reason, attempts)
		cancel()
		if err == nil && !ok {
			d.log.Warn("not parking a delivery: the shard lease is lost; it stays queued", "envelope", e.ID)
			return leaseLost
		}
		if err == nil {
			d.log.Warn("delivery parked in dead letters", "channel", e.Channel, "target", e.Target, "envelope", e.ID, "attempts", attempts, "err", cause)
			d.observe(ctx, e, "parked", 0, cause)
			return parked
		}
		d.log.Warn("parking a delivery failed; retrying", "envelope", e.ID, "err", err)
		if !wait(ctx, bo.NextBackOff()) {
			return aborted
		}
	}
}

func (d *Deliverer) observe(ctx context.Context, e store.Delivery, outcome string, took time.Duration, err error) {
	if d.cfg.Observer != nil {
		d.cfg.Observer.Attempted(ctx, e, outcome, took, err)
	}
}

// post makes one attempt; a 2xx answer is success.
func (d *Deliverer) post(ctx context.Context, t target, e store.Delivery, body []byte) error {
	req, res := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(res)
	req.SetRequestURI(t.url)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType("application/json")
	req.SetBodyRaw(body)
	if err := sign(&req.Header, t.wh, e.ID, body); err != nil {
		return err
	}
	traceparent, end := e.TraceParent, func(int, error) {}
	if d.cfg.Tracer != nil {
		traceparent, end = d.cfg.Tracer.StartAttempt(ctx, e, t.url)
	}
	if traceparent != "" {
		req.Header.Set("traceparent", traceparent)
	}
	err := t.client.DoTimeout(req, res, d.cfg.Timeout)
	if errors.Is(err, fasthttp.ErrBodyTooLarge) {
		// The status line and headers were read; the rest of a long answer
		// is not needed (the connection is closed, not reused).
		err = nil
	}
	if err != nil {
		end(0, err)
		return err
	}
	status := res.StatusCode()
	end(status, nil)
	if status < 200 || status > 299 {
		return fmt.Errorf("target answered %d: %q", status, snippet(res.Body()))
	}
	return nil
}

// snippet is the start of a target's answer, for the failure's reason.
func snippet(b []byte) []byte {
	if len(b) > 512 {
		return b[:512]
	}
	return b
}

// sign sets the Standard Webhooks headers; without a key only webhook-id
// and webhook-timestamp are set.
func sign(h *fasthttp.RequestHeader, wh *standardwebhooks.Webhook, id string, body []byte) error {
	now := time.Now()
	h.Set(standardwebhooks.HeaderWebhookID, id)
	h.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(now.Unix(), 10))
	if wh == nil {
		return nil
	}
	sig, err := wh.Sign(id, now, body)
	if err != nil {
		return fmt.Errorf("signing: %w", err)
	}
	h.Set(standardwebhooks.HeaderWebhookSignature, sig)
	return nil
}

// jitter spreads d by ±25%.
func jitter(d time.Duration) time.Duration {
	return d*3/4 + time.Duration(rand.Int64N(int64(d)/2+1))
}
