package whatsapp

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hookwall/hookwall/channels"
)

const (
	// signatureHeader carries "sha256=" + hex(HMAC-SHA256(app secret, body)).
	signatureHeader = "X-Hub-Signature-256"
	signaturePrefix = "sha256="
	// object is the only top-level object a Cloud API webhook carries.
	object = "whatsapp_business_account"
	// messagesField is the change field holding messages and statuses; other
	// fields (account_update, message_template_status_update, ...) carry no
	// conversation and produce no events.
	messagesField = "messages"
	// maxUnix is 9999-12-31T23:59:59Z: later times cannot be encoded as
	// RFC 3339 JSON, and an event the gateway cannot store is malformed.
	maxUnix = 253402300799
)

// Receive verifies X-Hub-Signature-256 over the raw body against every app
// secret in constant time, then normalizes each message and each status of
// every "messages" change, in the order of entries and changes (within one
// value, messages before statuses). It wraps channels.ErrBadSignature or
// channels.ErrMalformed; an authentic request with nothing to deliver returns
// an empty slice.
func (c *Channel) Receive(h channels.Header, body []byte) ([]channels.Event, error) {
	if err := c.verify(h, body); err != nil {
		return nil, err
	}
	return c.parse(body)
}

// verify checks the signature before anything reads the body.
func (c *Channel) verify(h channels.Header, body []byte) error {
	var header string
	if h != nil {
		header = h.Get(signatureHeader)
	}
	if header == "" {
		return fmt.Errorf("whatsapp: missing %s header: %w", signatureHeader, channels.ErrBadSignature)
	}
	digest, ok := strings.CutPrefix(header, signaturePrefix)
	if !ok {
		return fmt.Errorf("whatsapp: %s is not %q: %w", signatureHeader, signaturePrefix, channels.ErrBadSignature)
	}
	if len(digest) != 2*sha256.Size {
		return fmt.Errorf("whatsapp: %s is not a hex SHA-256 digest: %w", signatureHeader, channels.ErrBadSignature)
	}
	got := make([]byte, sha256.Size)
	if _, err := hex.Decode(got, []byte(digest)); err != nil {
		return fmt.Errorf("whatsapp: %s is not a hex SHA-256 digest: %w", signatureHeader, channels.ErrBadSignature)
	}
	// Every secret is tried, so the time taken does not tell which one
	// matched.
	match := false
	for _, secret := range c.secrets {
		mac := hmac.New(sha256.New, secret)
		mac.Write(body)
		if hmac.Equal(mac.Sum(nil), got) {
			match = true
		}
	}
	if !match {
		return fmt.Errorf("whatsapp: signature matches none of the app secrets: %w", channels.ErrBadSignature)
	}
	return nil
}

// payload is the envelope. Messages and statuses stay json.RawMessage so
// that each event's Raw is the platform's object byte for byte; they are
// decoded into typed structs afterwards.
type payload struct {
	Object string  `json:"object"`
	Entry  []entry `json:"entry"`
}

type entry struct {
	ID      string   `json:"id"`
	Changes []change `json:"changes"`
}

type change struct {
	Field string          `json:"field"`
	Value json.RawMessage `json:"value"`
}

type value struct {
	Messages []json.RawMessage `json:"messages"`
	Statuses []json.RawMessage `json:"statuses"`
}

// message holds the fields of an inbound message the event needs.
type message struct {
	From      string `json:"from"`
	ID        string `json:"id"`
	Timestamp string `json:"timestamp"`
	Type      string `json:"type"`
	Text      *struct {
		Body string `json:"body"`
	} `json:"text"`
	// Button is a tap on a template's quick-reply button.
	Button *struct {
		Payload string `json:"payload"`
		Text    string `json:"text"`
	} `json:"button"`
	// Interactive is a reply to an interactive button or list message.
	Interactive *struct {
		Type        string `json:"type"`
		ButtonReply *struct {
			ID    string `json:"id"`
			Title string `json:"title"`
		} `json:"button_reply"`
		ListReply *struct {
			ID    string `json:"id"`
			Title string `json:"title"`
		} `json:"list_reply"`
	} `json:"interactive"`
}

// status is the delivery status of a message the business sent.
type status struct {
	ID          string `json:"id"`
	Status      string `json:"status"`
	Timestamp   string `json:"timestamp"`
	RecipientID string `json:"recipient_id"`
}

func (c *Channel) parse(body []byte) ([]channels.Event, error) {
	var p payload
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("whatsapp: decode body: %v: %w", err, channels.ErrMalformed)
	}
	if p.Object != object {
		return nil, fmt.Errorf("whatsapp: object is not %q: %w", object, channels.ErrMalformed)
	}
	if p.Entry == nil {
		return nil, fmt.Errorf("whatsapp: no entry array: %w", channels.ErrMalformed)
	}
	events := make([]channels.Event, 0, 1)
	for i, e := range p.Entry {
		for j, ch := range e.Changes {
			if ch.Field != messagesField {
				continue
			}
			at := fmt.Sprintf("entry[%d].changes[%d].value", i, j)
			var v value
			if len(ch.Value) == 0 || ch.Value[0] != '{' {
				return nil, fmt.Errorf("whatsapp: %s is not an object: %w", at, channels.ErrMalformed)
			}
			if err := json.Unmarshal(ch.Value, &v); err != nil {
				return nil, fmt.Errorf("whatsapp: decode %s: %v: %w", at, err, channels.ErrMalformed)
			}
			for k, raw := range v.Messages {
				ev, err := c.messageEvent(raw)
				if err != nil {
					return nil, fmt.Errorf("whatsapp: %s.messages[%d]: %w", at, k, err)
				}
				events = append(events, ev)
			}
			for k, raw := range v.Statuses {
				ev, err := c.statusEvent(raw)
				if err != nil {
					return nil, fmt.Errorf("whatsapp: %s.statuses[%d]: %w", at, k, err)
				}
				events = append(events, ev)
			}
		}
	}
	return events, nil
}

func (c *Channel) messageEvent(raw json.RawMessage) (channels.Event, error) {
	var m message
	if err := json.Unmarshal(raw, &m); err != nil {
		return channels.Event{}, fmt.Errorf("decode: %v: %w", err, channels.ErrMalformed)
	}
	if m.ID == "" {
		return channels.Event{}, fmt.Errorf("missing id: %w", channels.ErrMalformed)
	}
	if m.From == "" {
		return channels.Event{}, fmt.Errorf("missing from: %w", channels.ErrMalformed)
	}
	ts, err := parseUnix(m.Timestamp)
	if err != nil {
		return channels.Event{}, err
	}
	return channels.Event{
		Channel:     c.id,
		ChannelType: channelType,
		Contact:     m.From,
		ID:          m.ID,
		Type:        "message",
		Message:     &channels.Message{ID: m.ID, Type: m.Type, Text: m.text()},
		Timestamp:   ts,
		Raw:         raw,
	}, nil
}

// text is what a person would read as the message's text: the body of a
// text message, or the label of the button or list row a reply tapped.
// Media captions and other content stay in Raw.
func (m *message) text() string {
	switch m.Type {
	case "text":
		if m.Text != nil {
			return m.Text.Body
		}
	case "button":
		if m.Button != nil {
			return m.Button.Text
		}
	case "interactive":
		if m.Interactive == nil {
			return ""
		}
		if r := m.Interactive.ButtonReply; r != nil {
			return r.Title
		}
		if r := m.Interactive.ListReply; r != nil {
			return r.Title
		}
	}
	return ""
}

func (c *Channel) statusEvent(raw json.RawMessage) (channels.Event, error) {
	var s status
	if err := json.Unmarshal(raw, &s); err != nil {
		return channels.Event{}, fmt.Errorf("decode: %v: %w", err, channels.ErrMalformed)
	}
	if s.ID == "" {
		return channels.Event{}, fmt.Errorf("missing id: %w", channels.ErrMalformed)
	}
	if s.Status == "" {
		return channels.Event{}, fmt.Errorf("missing status: %w", channels.ErrMalformed)
	}
	if s.RecipientID == "" {
		return channels.Event{}, fmt.Errorf("missing recipient_id: %w", channels.ErrMalformed)
	}
	ts, err := parseUnix(s.Timestamp)
	if err != nil {
		return channels.Event{}, err
	}
	return channels.Event{
		Channel:     c.id,
		ChannelType: channelType,
		Contact:     s.RecipientID,
		// One message goes through sent, delivered, read (or failed) under
		// the same id; each transition is its own event for de-duplication.
		ID:        s.ID + ":" + s.Status,
		Type:      "status",
		Timestamp: ts,
		Raw:       raw,
	}, nil
}

// parseUnix reads Meta's timestamps: decimal unix seconds in a string.
func parseUnix(s string) (time.Time, error) {
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil || sec < 0 || sec > maxUnix {
		return time.Time{}, fmt.Errorf("timestamp is not unix seconds: %w", channels.ErrMalformed)
	}
	return time.Unix(sec, 0).UTC(), nil
}
