// Package webchat is the adapter for hookwall's own web chat widget backend.
//
// Both directions are signed the Standard Webhooks way
// (https://www.standardwebhooks.com): inbound messages from the widget
// backend carry webhook-id, webhook-timestamp and webhook-signature headers
// that are checked against every configured key, and agent replies are POSTed
// to the configured outbound URL signed with the first key.
package webchat

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hookwall/hookwall/channels"
)

// Type is the channel type this adapter implements.
const Type = "webchat"

const (
	// DefaultMaxBodyBytes bounds an inbound body. A web chat message is one
	// short text plus a few ids, well under a kilobyte; 256 KiB leaves ample
	// room for long pasted texts while keeping an abusive sender's cost low.
	DefaultMaxBodyBytes = 256 << 10
	// DefaultTimeout bounds one outbound POST, connection to last byte.
	DefaultTimeout = 10 * time.Second
	// Tolerance is how far webhook-timestamp may lie from the clock, either
	// way, as Standard Webhooks recommends against replays.
	Tolerance = 5 * time.Minute
)

const (
	secretPrefix = "whsec_"
	// snippetBytes bounds how much of a refusing response body is quoted in
	// the error, enough for a JSON reason without flooding logs.
	snippetBytes = 512
)

// Config is the configuration of one web chat channel.
type Config struct {
	// ID is the channel id, the {channel} of the routes ("web").
	ID string
	// Secrets are the Standard Webhooks keys, each "whsec_" + base64. An
	// inbound request signed with any of them is authentic, so a key can be
	// rotated without downtime; the first one signs outbound replies.
	Secrets []string
	// OutboundURL is the absolute http(s) URL agent replies are POSTed to.
	OutboundURL string
	// MaxBodyBytes bounds an inbound body; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int
	// Timeout bounds one outbound POST; 0 means DefaultTimeout.
	Timeout time.Duration
	// HTTPClient sends outbound replies; nil means a client of its own that
	// does not follow redirects (a redirect is reported as a refusal rather
	// than replaying a signed message elsewhere).
	HTTPClient *http.Client
	// Now is the clock the timestamp window and outbound timestamps use;
	// nil means time.Now. Tests inject a fixed clock.
	Now func() time.Time
}

// Channel is a configured web chat channel. It is safe for concurrent use.
type Channel struct {
	id       string
	keys     []*standardwebhooks.Webhook
	outbound string
	maxBody  int
	timeout  time.Duration
	client   *http.Client
	now      func() time.Time
}

// New validates cfg, applies defaults and returns the channel. It rejects a
// secret that is not "whsec_" followed by non-empty standard base64.
func New(cfg Config) (*Channel, error) {
	if cfg.ID == "" {
		return nil, errors.New("webchat: id is required")
	}
	if len(cfg.Secrets) == 0 {
		return nil, fmt.Errorf("webchat %s: at least one secret is required", cfg.ID)
	}
	keys := make([]*standardwebhooks.Webhook, 0, len(cfg.Secrets))
	for i, s := range cfg.Secrets {
		// The library trims the prefix only if present and would accept a
		// bare base64 string; the config contract is the whsec_ form.
		enc, ok := strings.CutPrefix(s, secretPrefix)
		if !ok {
			return nil, fmt.Errorf("webchat %s: secret %d: missing %q prefix", cfg.ID, i, secretPrefix)
		}
		key, err := base64.StdEncoding.DecodeString(enc)
		if err != nil || len(key) == 0 {
			// The decode error is not wrapped: it quotes the secret's bytes.
			return nil, fmt.Errorf("webchat %s: secret %d: not valid base64 after %q", cfg.ID, i, secretPrefix)
		}
		wh, err := standardwebhooks.NewWebhookRaw(key)
		if err != nil {
			return nil, fmt.Errorf("webchat %s: secret %d: %w", cfg.ID, i, err)
		}
		keys = append(keys, wh)
	}
	u, err := url.Parse(cfg.OutboundURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("webchat %s: outbound url %q is not an absolute http(s) url", cfg.ID, cfg.OutboundURL)
	}
	if cfg.MaxBodyBytes < 0 {
		return nil, fmt.Errorf("webchat %s: max body bytes %d is negative", cfg.ID, cfg.MaxBodyBytes)
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("webchat %s: timeout %s is negative", cfg.ID, cfg.Timeout)
	}

	c := &Channel{
		id:       cfg.ID,
		keys:     keys,
		outbound: cfg.OutboundURL,
		maxBody:  cfg.MaxBodyBytes,
		timeout:  cfg.Timeout,
		client:   cfg.HTTPClient,
		now:      cfg.Now,
	}
	if c.maxBody == 0 {
		c.maxBody = DefaultMaxBodyBytes
	}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	if c.client == nil {
		c.client = &http.Client{
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

// ID returns the configured channel id.
func (c *Channel) ID() string { return c.id }

// Type returns "webchat".
func (c *Channel) Type() string { return Type }

// MaxBodyBytes returns the inbound body bound.
func (c *Channel) MaxBodyBytes() int { return c.maxBody }

// Receive verifies the Standard Webhooks headers over the raw body, then
// parses it into exactly one event whose ID is the webhook-id header, the id
// the sender keeps across its retries. Authentication failures wrap
// channels.ErrBadSignature; only a body that is not a JSON object wraps
// channels.ErrMalformed. A message from a contact is a message event even
// when its optional parts (message id, text, timestamp) are missing or of
// another type; a body of another type, or one that names no contact, is
// a passthrough event (empty Contact) that the gateway forwards to the
// helpdesk as it is.
func (c *Channel) Receive(h channels.Header, body []byte) ([]channels.Event, error) {
	id, sent, err := c.verify(h, body)
	if err != nil {
		return nil, err
	}
	top, err := object(body)
	if err != nil {
		return nil, fmt.Errorf("webchat: %w: body: %w", channels.ErrMalformed, err)
	}
	p := parse(top)
	ev := channels.Event{
		Channel:     c.id,
		ChannelType: Type,
		Contact:     p.contact,
		ID:          id,
		Type:        p.typ,
		Timestamp:   p.timestamp,
		// The caller's buffer may be reused (Fiber), the event outlives it.
		Raw: bytes.Clone(body),
	}
	if ev.Timestamp.IsZero() {
		ev.Timestamp = sent
	}
	if p.contact != "" {
		ev.Message = &channels.Message{ID: p.messageID, Type: "text", Text: p.text}
	}
	return []channels.Event{ev}, nil
}

// verify checks the three headers and the signature, and returns the
// webhook-id and the signed send time.
func (c *Channel) verify(h channels.Header, body []byte) (string, time.Time, error) {
	id := h.Get(standardwebhooks.HeaderWebhookID)
	tsHeader := h.Get(standardwebhooks.HeaderWebhookTimestamp)
	sig := h.Get(standardwebhooks.HeaderWebhookSignature)
	if id == "" || tsHeader == "" || sig == "" {
		return "", time.Time{}, fmt.Errorf("webchat: %w: missing webhook-id, webhook-timestamp or webhook-signature", channels.ErrBadSignature)
	}
	// The library signs its own decimal rendering of the parsed value and
	// strconv accepts "+17..." or "017..."; demanding the canonical form
	// makes the signed text exactly the header the sender sent.
	secs, err := strconv.ParseInt(tsHeader, 10, 64)
	if err != nil || strconv.FormatInt(secs, 10) != tsHeader {
		return "", time.Time{}, fmt.Errorf("webchat: %w: webhook-timestamp is not unix seconds", channels.ErrBadSignature)
	}
	sent := time.Unix(secs, 0).UTC()
	// The library's Verify reads time.Now itself, so the window is checked
	// here against the injectable clock, with the library's bounds: exactly
	// Tolerance away still passes.
	now := c.now()
	if now.Sub(sent) > Tolerance {
		return "", time.Time{}, fmt.Errorf("webchat: %w: webhook-timestamp too old", channels.ErrBadSignature)
	}
	if sent.Sub(now) > Tolerance {
		return "", time.Time{}, fmt.Errorf("webchat: %w: webhook-timestamp too new", channels.ErrBadSignature)
	}

	hdr := http.Header{}
	hdr.Set(standardwebhooks.HeaderWebhookID, id)
	hdr.Set(standardwebhooks.HeaderWebhookTimestamp, tsHeader)
	hdr.Set(standardwebhooks.HeaderWebhookSignature, sig)
	for _, k := range c.keys {
		// VerifyIgnoringTimestamp compares every v1 entry of the list with
		// hmac.Equal, so the comparison is constant time.
		if k.VerifyIgnoringTimestamp(body, hdr) == nil {
			return id, sent, nil
		}
	}
	return "", time.Time{}, fmt.Errorf("webchat: %w: no signature matches any secret", channels.ErrBadSignature)
}

// payload is the part of an inbound body the event is made of.
type payload struct {
	typ       string
	contact   string // empty: a passthrough
	messageID string
	text      string
	timestamp time.Time // zero when the body has none
}

// parse reads an inbound body. Keys are matched exactly, as the widget's
// JavaScript and the helpdesk reading Raw see them; encoding/json's struct
// decoding would also take "Contact" or "TYPE" for the contact or type.
// Unknown keys are ignored so the widget may add fields, and a part of the
// wrong type counts as absent. Only a "message" with a contact id ties the
// event to a contact.
func parse(top map[string]json.RawMessage) payload {
	p := payload{typ: channels.StringMember(top, "type")}
	if p.typ == "" {
		p.typ = channels.UnknownType
	}
	if ts, err := time.Parse(time.RFC3339, channels.StringMember(top, "timestamp")); err == nil {
		// An RFC 3339 string; a number is not guessed at (seconds or
		// milliseconds): Receive falls back to the signed webhook-timestamp.
		p.timestamp = ts.UTC()
	}
	if p.typ != "message" {
		return p
	}
	contact, _ := object(top["contact"])
	p.contact = channels.StringMember(contact, "id")
	msg, _ := object(top["message"])
	p.messageID, p.text = channels.StringMember(msg, "id"), channels.StringMember(msg, "text")
	return p
}

// object decodes raw as a JSON object. A missing value or null is an error.
func object(raw json.RawMessage) (map[string]json.RawMessage, error) {
	if len(raw) == 0 {
		return nil, errors.New("missing")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, errors.New("not a JSON object")
	}
	if m == nil {
		return nil, errors.New("not a JSON object")
	}
	return m, nil
}

// outMessage is the body of an outbound reply.
type outMessage struct {
	ID        string     `json:"id"`
	Type      string     `json:"type"`
	Contact   outContact `json:"contact"`
	Message   outText    `json:"message"`
	Timestamp string     `json:"timestamp"`
}

type outContact struct {
	ID string `json:"id"`
}

type outText struct {
	Text string `json:"text"`
}

// Send POSTs text to the contact through the outbound URL, signed with the
// first secret, and returns the message id, which is also the webhook-id the
// receiver can de-duplicate on. A non-2xx answer, a transport error or the
// Timeout wraps channels.ErrPlatform.
func (c *Channel) Send(ctx context.Context, contact, text string) (string, error) {
	if contact == "" {
		return "", errors.New("webchat: send: empty contact")
	}
	id := "msg_" + rand.Text()
	now := c.now().UTC()
	body, err := json.Marshal(outMessage{
		ID:        id,
		Type:      "message",
		Contact:   outContact{ID: contact},
		Message:   outText{Text: text},
		Timestamp: now.Format(time.RFC3339),
	})
	if err != nil {
		return "", fmt.Errorf("webchat: encode reply: %w", err)
	}
	sig, err := c.keys[0].Sign(id, now, body)
	if err != nil {
		return "", fmt.Errorf("webchat: sign reply: %w", err)
	}

	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.outbound, bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("webchat: build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(standardwebhooks.HeaderWebhookID, id)
	req.Header.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(standardwebhooks.HeaderWebhookSignature, sig)

	resp, err := c.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("webchat: post reply: %w: %w", channels.ErrPlatform, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, snippetBytes))
		return "", fmt.Errorf("webchat: post reply: %w: %w: %q", channels.ErrPlatform, &channels.StatusError{Code: resp.StatusCode}, snippet)
	}
	// Drain a little so the connection can be reused; a huge 2xx body is
	// not worth reading.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return id, nil
}
