package line

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/line/line-bot-sdk-go/v8/linebot/webhook"

	"github.com/hookwall/hookwall/channels"
)

// SignatureHeader carries base64(HMAC-SHA256(channel secret, raw body)).
const SignatureHeader = "X-Line-Signature"

// Receive verifies the X-Line-Signature of body against every configured
// secret, then parses LINE's {destination, events[]} into one event per
// webhook event, in the order LINE sent them.
//
// A missing or wrong signature wraps channels.ErrBadSignature and nothing of
// the body is parsed. Only a body that as a whole is not LINE's envelope —
// not a JSON object, or no events array — wraps channels.ErrMalformed. Inside
// the envelope every event is kept: LINE sends the same body again on
// redelivery, so refusing it for one odd event would lose the others for
// good. LINE's verification call (events: []) returns an empty slice.
//
// Contact is source.userId for user, group and room sources alike, also
// when other members of the event are of the wrong kind. An event with no
// userId (the bot joining or leaving a group, a member joining a group, a
// message from a user who has not consented to share profile information)
// and an event of a type the SDK does not know have an empty Contact: the
// gateway forwards them to the helpdesk as they are, without consulting the
// blocklist.
//
// ID is the webhookEventId; an event without one (older payloads and the
// SDK's own samples) gets channels.ContentID of the event without its
// deliveryContext, which is all LINE changes when it redelivers.
//
// Raw is the event exactly as LINE sent it and does not alias body, so it
// stays valid after the caller reuses its request buffer.
func (c *Channel) Receive(h channels.Header, body []byte) ([]channels.Event, error) {
	if err := c.verify(h, body); err != nil {
		return nil, err
	}

	// One pass splits the body into its events (kept byte for byte as Raw);
	// each is then decoded by the SDK's own event decoder, as
	// CallbackRequest.UnmarshalJSON does, without parsing the body twice.
	raws, err := rawEvents(body)
	if err != nil {
		return nil, err
	}
	events := make([]channels.Event, len(raws))
	for i, raw := range raws {
		events[i] = c.event(raw)
	}
	return events, nil
}

// event normalizes one element of the events array. One the SDK cannot
// decode is read leniently instead.
func (c *Channel) event(raw json.RawMessage) channels.Event {
	e, err := webhook.UnmarshalEvent(raw)
	if err == nil {
		var ev channels.Event
		if ev, err = c.normalize(e, raw); err == nil {
			return ev
		}
	}
	return c.lenient(raw)
}

// lenient reads an event that does not decode as its type, member by
// member: each one of the wrong kind counts as absent. An event of a type
// the SDK knows from a readable source.userId stays that user's, so that a
// blocked user's event is still decided by the blocklist however odd its
// other members; anything else is a passthrough (empty Contact). Type is the
// event's own "type" (UnknownType when it has none), ID its webhookEventId or
// one derived from its content.
func (c *Channel) lenient(raw json.RawMessage) channels.Event {
	var m map[string]json.RawMessage
	_ = json.Unmarshal(raw, &m) // an element that is not an object: no members
	var (
		f struct {
			typ, id string
			ts      int64
			source  map[string]json.RawMessage
			message map[string]json.RawMessage
		}
		contact string
	)
	_ = optional(m, "type", &f.typ)
	_ = optional(m, "webhookEventId", &f.id)
	_ = optional(m, "timestamp", &f.ts)
	_ = optional(m, "source", &f.source)
	if known(f.typ) {
		_ = optional(f.source, "userId", &contact)
	}
	ev := channels.Event{
		Channel:     c.id,
		ChannelType: ChannelType,
		Contact:     contact,
		ID:          f.id,
		Type:        f.typ,
		Raw:         raw,
	}
	if ev.Type == "" {
		ev.Type = channels.UnknownType
	}
	if ev.ID == "" {
		ev.ID = contentID(raw)
	}
	if f.ts != 0 {
		ev.Timestamp = time.UnixMilli(f.ts).UTC()
	}
	if contact != "" && f.typ == "message" {
		_ = optional(m, "message", &f.message)
		var msg channels.Message
		_ = optional(f.message, "id", &msg.ID)
		_ = optional(f.message, "type", &msg.Type)
		_ = optional(f.message, "text", &msg.Text)
		if msg.Type != "" {
			ev.Message = &msg
		}
	}
	return ev
}

// known reports whether typ is an event type the SDK models.
func known(typ string) bool {
	if typ == "" {
		return false
	}
	head, _ := json.Marshal(map[string]string{"type": typ})
	e, err := webhook.UnmarshalEvent(head)
	if err != nil {
		return false
	}
	_, unknown := e.(webhook.UnknownEvent)
	return !unknown
}

// contentID is the id of an event LINE sent without webhookEventId.
func contentID(raw json.RawMessage) string {
	return channels.ContentID(raw, "deliveryContext")
}

// verify checks the signature in constant time against every secret. The
// SDK's ValidateSignature compares with hmac.Equal; the loop does not stop
// at the first match so that the time taken does not tell which secret (old
// or new) signed.
func (c *Channel) verify(h channels.Header, body []byte) error {
	var sig string
	if h != nil {
		sig = h.Get(SignatureHeader)
	}
	if sig == "" {
		return fmt.Errorf("line: missing %s header: %w", SignatureHeader, channels.ErrBadSignature)
	}
	ok := false
	for _, secret := range c.secrets {
		if webhook.ValidateSignature(secret, sig, body) {
			ok = true
		}
	}
	if !ok {
		return fmt.Errorf("line: %s matches no channel secret: %w", SignatureHeader, channels.ErrBadSignature)
	}
	return nil
}

// rawEvents returns each element of the body's "events" array byte for byte.
// It reads the top level into a map, exactly as webhook.CallbackRequest does,
// rather than into struct{Events []json.RawMessage}: encoding/json matches
// struct fields case-insensitively, so a body holding both "events" and
// "Events" would give the SDK one array and the struct the other, and Raw
// would not be the event that was normalized.
func rawEvents(body []byte) ([]json.RawMessage, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, fmt.Errorf("line: parse body: %w: %w", channels.ErrMalformed, err)
	}
	var events []json.RawMessage
	if err := json.Unmarshal(top["events"], &events); err != nil || events == nil {
		// Absent, null or not an array: LINE always sends an array, empty
		// for its verification call.
		return nil, fmt.Errorf("line: body has no events array: %w", channels.ErrMalformed)
	}
	return events, nil
}

// common is what every LINE event carries, whatever its type.
type common struct {
	source   webhook.SourceInterface
	id       string
	ts       int64
	delivery *webhook.DeliveryContext
}

// normalize turns one SDK event into a channels.Event. Every event type the
// SDK knows is listed, and any type a later SDK adds reads the same common
// fields from the raw event. An UnknownEvent (a type newer than the SDK) or
// an event that does not read as its type is an error, which makes the
// event a passthrough.
func (c *Channel) normalize(e webhook.EventInterface, raw json.RawMessage) (channels.Event, error) {
	var (
		f   common
		msg *channels.Message
		err error
	)
	switch e := e.(type) {
	case webhook.MessageEvent:
		f = common{e.Source, e.WebhookEventId, e.Timestamp, e.DeliveryContext}
		if msg, err = message(e.Message); err != nil {
			return channels.Event{}, err
		}
		if msg.Type == "" {
			return channels.Event{}, fmt.Errorf("message has no type: %w", channels.ErrMalformed)
		}
	case webhook.FollowEvent:
		f = common{e.Source, e.WebhookEventId, e.Timestamp, e.DeliveryContext}
	case webhook.UnfollowEvent:
		f = common{e.Source, e.WebhookEventId, e.Timestamp, e.DeliveryContext}
	case webhook.PostbackEvent:
		f = common{e.Source, e.WebhookEventId, e.Timestamp, e.DeliveryContext}
	case webhook.JoinEvent:
		f = common{e.Source, e.WebhookEventId, e.Timestamp, e.DeliveryContext}
	case webhook.LeaveEvent:
		f = common{e.Source, e.WebhookEventId, e.Timestamp, e.DeliveryContext}
	case webhook.MemberJoinedEvent:
		f = common{e.Source, e.WebhookEventId, e.Timestamp, e.DeliveryContext}
	case webhook.MemberLeftEvent:
		f = common{e.Source, e.WebhookEventId, e.Timestamp, e.DeliveryContext}
	case webhook.UnsendEvent:
		f = common{e.Source, e.WebhookEventId, e.Timestamp, e.DeliveryContext}
	case webhook.VideoPlayCompleteEvent:
		f = common{e.Source, e.WebhookEventId, e.Timestamp, e.DeliveryContext}
	case webhook.BeaconEvent:
		f = common{e.Source, e.WebhookEventId, e.Timestamp, e.DeliveryContext}
	case webhook.AccountLinkEvent:
		f = common{e.Source, e.WebhookEventId, e.Timestamp, e.DeliveryContext}
	case webhook.ThingsEvent:
		f = common{e.Source, e.WebhookEventId, e.Timestamp, e.DeliveryContext}
	case webhook.MembershipEvent:
		f = common{e.Source, e.WebhookEventId, e.Timestamp, e.DeliveryContext}
	case webhook.ModuleEvent:
		f = common{e.Source, e.WebhookEventId, e.Timestamp, e.DeliveryContext}
	case webhook.ActivatedEvent:
		f = common{e.Source, e.WebhookEventId, e.Timestamp, e.DeliveryContext}
	case webhook.DeactivatedEvent:
		f = common{e.Source, e.WebhookEventId, e.Timestamp, e.DeliveryContext}
	case webhook.BotSuspendedEvent:
		f = common{e.Source, e.WebhookEventId, e.Timestamp, e.DeliveryContext}
	case webhook.BotResumedEvent:
		f = common{e.Source, e.WebhookEventId, e.Timestamp, e.DeliveryContext}
	case webhook.PnpDeliveryCompletionEvent:
		f = common{e.Source, e.WebhookEventId, e.Timestamp, e.DeliveryContext}
	case webhook.UnknownEvent:
		return channels.Event{}, fmt.Errorf("event type %q is unknown", e.GetType())
	default:
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return channels.Event{}, fmt.Errorf("%w: %w", channels.ErrMalformed, err)
		}
		if f, err = commonFromRaw(m); err != nil {
			return channels.Event{}, err
		}
	}

	typ := e.GetType()
	if typ == "" {
		return channels.Event{}, fmt.Errorf("event has no type: %w", channels.ErrMalformed)
	}
	if f.id == "" {
		f.id = contentID(raw)
	}
	contact, err := userID(f.source)
	if err != nil {
		return channels.Event{}, err
	}
	ev := channels.Event{
		Channel:     c.id,
		ChannelType: ChannelType,
		Contact:     contact,
		ID:          f.id,
		Type:        typ,
		Message:     msg,
		Redelivery:  f.delivery != nil && f.delivery.IsRedelivery,
		Raw:         raw,
	}
	if f.ts != 0 {
		ev.Timestamp = time.UnixMilli(f.ts).UTC()
	}
	return ev, nil
}

// commonFromRaw reads the common fields of an event whose type the SDK does
// not model, with the SDK's own Source and DeliveryContext types.
func commonFromRaw(m map[string]json.RawMessage) (common, error) {
	var f common
	if s, ok := m["source"]; ok {
		src, err := webhook.UnmarshalSource(s)
		if err != nil {
			return f, fmt.Errorf("source: %w: %w", channels.ErrMalformed, err)
		}
		f.source = src
	}
	if err := optional(m, "webhookEventId", &f.id); err != nil {
		return f, err
	}
	if err := optional(m, "timestamp", &f.ts); err != nil {
		return f, err
	}
	if err := optional(m, "deliveryContext", &f.delivery); err != nil {
		return f, err
	}
	return f, nil
}

// optional decodes m[key] into v when the key is present.
func optional(m map[string]json.RawMessage, key string, v any) error {
	data, ok := m[key]
	if !ok {
		return nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w: %w", key, channels.ErrMalformed, err)
	}
	return nil
}

// userID returns the source's userId, "" when the source has none (a group
// or room event not caused by one user, or no source at all).
func userID(src webhook.SourceInterface) (string, error) {
	switch s := src.(type) {
	case webhook.UserSource:
		return s.UserId, nil
	case webhook.GroupSource:
		return s.UserId, nil
	case webhook.RoomSource:
		return s.UserId, nil
	case webhook.UnknownSource:
		var id string
		if err := optional(s.Raw, "userId", &id); err != nil {
			return "", fmt.Errorf("source: %w", err)
		}
		return id, nil
	default:
		return "", nil
	}
}

// message normalizes the message of a message event. Only text messages
// carry Text; the content of other types stays in Raw.
func message(m webhook.MessageContentInterface) (*channels.Message, error) {
	switch m := m.(type) {
	case nil:
		return nil, fmt.Errorf("message event has no message: %w", channels.ErrMalformed)
	case webhook.TextMessageContent:
		return &channels.Message{ID: m.Id, Type: m.GetType(), Text: m.Text}, nil
	case webhook.ImageMessageContent:
		return &channels.Message{ID: m.Id, Type: m.GetType()}, nil
	case webhook.VideoMessageContent:
		return &channels.Message{ID: m.Id, Type: m.GetType()}, nil
	case webhook.AudioMessageContent:
		return &channels.Message{ID: m.Id, Type: m.GetType()}, nil
	case webhook.FileMessageContent:
		return &channels.Message{ID: m.Id, Type: m.GetType()}, nil
	case webhook.LocationMessageContent:
		return &channels.Message{ID: m.Id, Type: m.GetType()}, nil
	case webhook.StickerMessageContent:
		return &channels.Message{ID: m.Id, Type: m.GetType()}, nil
	case webhook.UnknownMessageContent:
		msg := &channels.Message{Type: m.GetType()}
		if err := optional(m.Raw, "id", &msg.ID); err != nil {
			return nil, fmt.Errorf("message: %w", err)
		}
		return msg, nil
	default:
		return &channels.Message{Type: m.GetType()}, nil
	}
}
