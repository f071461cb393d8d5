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
	// conversation and are forwarded whole as passthrough events.
	messagesField = "messages"
	// maxUnix is 9999-12-31T23:59:59Z: a later time cannot be encoded as
	// RFC 3339 JSON, so an event that claims one keeps a zero Timestamp.
	maxUnix = 253402300799
)

// Receive verifies X-Hub-Signature-256 over the raw body against every app
// secret in constant time, then normalizes each message and each status of
// every "messages" change, and every other change as one passthrough event,
// in the order of entries and changes (within one value, messages before
// statuses). It wraps channels.ErrBadSignature, or channels.ErrMalformed
// only when the body as a whole is not a Cloud API envelope (not a JSON
// object, another object, no entry array): inside one, nothing is dropped.
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

// parse reads the envelope by its exact keys (encoding/json's struct
// decoding would also take "OBJECT" or "Entry"); entries stay
// json.RawMessage so that an odd one is kept whole rather than refusing the
// request.
func (c *Channel) parse(body []byte) ([]channels.Event, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, fmt.Errorf("whatsapp: decode body: %v: %w", err, channels.ErrMalformed)
	}
	var obj string
	if json.Unmarshal(top["object"], &obj) != nil || obj != object {
		return nil, fmt.Errorf("whatsapp: object is not %q: %w", object, channels.ErrMalformed)
	}
	var entries []json.RawMessage
	if json.Unmarshal(top["entry"], &entries) != nil || entries == nil {
		return nil, fmt.Errorf("whatsapp: no entry array: %w", channels.ErrMalformed)
	}
	events := make([]channels.Event, 0, 1)
	for _, raw := range entries {
		events = c.entry(events, raw)
	}
	return events, nil
}

// entry appends the events of one entry: those of each change, in order.
// An entry without a changes array is forwarded whole.
func (c *Channel) entry(events []channels.Event, raw json.RawMessage) []channels.Event {
	m, ok := members(raw)
	var changes []json.RawMessage
	if ok {
		ok = json.Unmarshal(m["changes"], &changes) == nil && changes != nil
	}
	if !ok {
		return append(events, c.passthrough(channels.UnknownType, "", raw, channels.ContentID(raw)))
	}
	sc := scope{entry: channels.StringMember(m, "id")}
	for _, ch := range changes {
		events = c.change(events, sc, ch)
	}
	return events
}

// change appends the events of one change of the entry with the given id.
// Each message and status of a "messages" change is an event; any other
// change — another field (account_update, message_template_status_update,
// ...), Meta's errors webhook (a "messages" change with neither messages
// nor statuses), or one that does not read — is one passthrough event whose
// Raw is the change, so the helpdesk hears of it.
func (c *Channel) change(events []channels.Event, sc scope, raw json.RawMessage) []channels.Event {
	id := sc.id("change", raw)
	m, ok := members(raw)
	var field string
	if !ok || json.Unmarshal(m["field"], &field) != nil || field == "" {
		return append(events, c.passthrough(channels.UnknownType, "", raw, id))
	}
	if field != messagesField {
		return append(events, c.passthrough(field, "", raw, id))
	}
	v, ok := members(m["value"])
	var messages, statuses []json.RawMessage
	if ok {
		ok = optionalArray(v, "messages", &messages) && optionalArray(v, "statuses", &statuses)
	}
	if !ok {
		return append(events, c.passthrough(field, "", raw, id))
	}
	if len(messages) == 0 && len(statuses) == 0 {
		if _, errs := v["errors"]; errs {
			field = "errors"
		}
		return append(events, c.passthrough(field, "", raw, id))
	}
	var meta map[string]json.RawMessage
	_ = json.Unmarshal(v["metadata"], &meta)
	sc.phone = channels.StringMember(meta, "phone_number_id")
	for _, raw := range messages {
		events = append(events, c.messageEvent(sc, raw))
	}
	for _, raw := range statuses {
		events = append(events, c.statusEvent(sc, raw))
	}
	return events
}

// passthrough is an event hookwall does not tie to a contact.
func (c *Channel) passthrough(typ, id string, raw json.RawMessage, derived string) channels.Event {
	if id == "" {
		id = derived
	}
	return channels.Event{Channel: c.id, ChannelType: channelType, ID: id, Type: typ, Raw: raw}
}

// members decodes raw as a JSON object; ok is false for anything else.
func members(raw json.RawMessage) (map[string]json.RawMessage, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil || m == nil {
		return nil, false
	}
	return m, true
}

// optionalArray decodes m[key] into a when present; ok is false when it is
// present but not an array or null.
func optionalArray(m map[string]json.RawMessage, key string, a *[]json.RawMessage) bool {
	raw, found := m[key]
	return !found || json.Unmarshal(raw, a) == nil
}

// messageEvent normalizes one element of messages[]. Its members are read
// by their exact keys, each one of the wrong kind counting as absent, so
// that a message from a readable sender stays that sender's (the blocklist
// decides it) however odd its other members. One that names no sender is a
// passthrough; one without an id gets one derived from its content.
func (c *Channel) messageEvent(sc scope, raw json.RawMessage) channels.Event {
	m, _ := members(raw)
	from, id, typ := channels.StringMember(m, "from"), channels.StringMember(m, "id"), channels.StringMember(m, "type")
	if from == "" {
		return c.passthrough("message", id, raw, sc.id("message", raw))
	}
	ev := channels.Event{
		Channel:     c.id,
		ChannelType: channelType,
		Contact:     from,
		ID:          id,
		Type:        "message",
		Message:     &channels.Message{ID: id, Type: typ, Text: text(typ, m)},
		Timestamp:   parseUnix(channels.StringMember(m, "timestamp")),
		Raw:         raw,
	}
	if id == "" {
		ev.ID = sc.id("message", raw)
	}
	return ev
}

// text is what a person would read as the message's text: the body of a
// text message, or the label of the button or list row a reply tapped.
// Media captions and other content stay in Raw.
func text(typ string, m map[string]json.RawMessage) string {
	var v struct {
		Body  string    `json:"body"` // text
		Text  string    `json:"text"` // button: a tap on a template's quick reply
		Reply *struct { // interactive: a reply to a button or list message
			Title string `json:"title"`
		} `json:"button_reply"`
		Row *struct {
			Title string `json:"title"`
		} `json:"list_reply"`
	}
	switch typ {
	case "text":
		_ = json.Unmarshal(m["text"], &v)
		return v.Body
	case "button":
		_ = json.Unmarshal(m["button"], &v)
		return v.Text
	case "interactive":
		_ = json.Unmarshal(m["interactive"], &v)
		if v.Reply != nil {
			return v.Reply.Title
		}
		if v.Row != nil {
			return v.Row.Title
		}
	}
	return ""
}

// statusEvent normalizes one element of statuses[], read like a message.
// One that names no recipient is a passthrough; one without an id or a
// status gets an id derived from its content.
func (c *Channel) statusEvent(sc scope, raw json.RawMessage) channels.Event {
	m, _ := members(raw)
	id, st, to := channels.StringMember(m, "id"), channels.StringMember(m, "status"), channels.StringMember(m, "recipient_id")
	if to == "" {
		return c.passthrough("status", "", raw, sc.id("status", raw))
	}
	ev := channels.Event{
		Channel:     c.id,
		ChannelType: channelType,
		Contact:     to,
		// One message goes through sent, delivered, read (or failed) under
		// the same id; each transition is its own event for de-duplication.
		ID:        id + ":" + st,
		Type:      "status",
		Timestamp: parseUnix(channels.StringMember(m, "timestamp")),
		Raw:       raw,
	}
	if id == "" || st == "" {
		ev.ID = sc.id("status", raw)
	}
	return ev
}

// scope is where an event stands: its entry (the business account) and,
// for messages and statuses, the business phone number. It is part of a
// derived id, since two accounts or numbers of one app may send the same
// content.
type scope struct {
	entry, phone string
}

// id derives the id of a part of kind "change", "message" or "status".
func (sc scope) id(kind string, raw json.RawMessage) string {
	in := map[string]any{"entry": sc.entry, kind: raw}
	if sc.phone != "" {
		in["phone_number_id"] = sc.phone
	}
	b, _ := json.Marshal(in)
	return channels.ContentID(b)
}

// parseUnix reads Meta's timestamps, decimal unix seconds in a string; the
// zero time when it is not one (the event is kept all the same).
func parseUnix(s string) time.Time {
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil || sec < 0 || sec > maxUnix {
		return time.Time{}
	}
	return time.Unix(sec, 0).UTC()
}
