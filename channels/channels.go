// Package channels holds what every platform adapter shares: the normalized
// inbound event, the outbound reply, and the errors the gateway maps to HTTP.
//
// The adapters themselves live in sub-packages (line, whatsapp, webchat). They
// import this package and nothing of the gateway or of Fiber; the gateway
// declares the Channel interface they satisfy.
package channels

import (
	"encoding/json"
	"errors"
	"strconv"
	"time"
)

// Errors an adapter wraps so that the gateway can answer with the right status
// and problem code. Adapters never know HTTP status codes themselves.
var (
	// ErrBadSignature means the request is not authentic: the signature is
	// missing, malformed, stale or made with none of the channel's secrets.
	ErrBadSignature = errors.New("bad signature")
	// ErrMalformed means the body is authentic but as a whole not the
	// platform's envelope (not JSON, no events array, another object). An
	// odd event inside an envelope is never an error: it is a passthrough.
	ErrMalformed = errors.New("malformed payload")
	// ErrHandshake means a subscription handshake (WhatsApp's GET hub.*) was
	// refused.
	ErrHandshake = errors.New("handshake refused")
	// ErrPlatform means the platform refused or failed an outbound message;
	// the wrapping error carries the platform's reason.
	ErrPlatform = errors.New("platform error")
)

// StatusError is the HTTP status a platform answered a refused outbound
// message with. An adapter wraps it together with ErrPlatform, so that the
// gateway can say what the platform answered without repeating its words or
// the URL it was sent to.
type StatusError struct {
	// Code is the platform's HTTP status code.
	Code int
}

func (e *StatusError) Error() string { return "status " + strconv.Itoa(e.Code) }

// UnknownType is the Type of a passthrough event that names no type of its
// own (an array element that is not an object, an event without "type").
const UnknownType = "unknown"

// Event is one normalized inbound event, the unit the decision step consumes.
//
// An event with an empty Contact is a passthrough: one hookwall cannot tie
// to a contact (the platform names none), whose type it does not know, or
// that does not read as its type. The gateway forwards it to the channel's
// helpdesk with Raw as it came, without a blocklist check or a conversation,
// so that nothing a platform sent is dropped.
type Event struct {
	// Channel is the configured channel id ("line-main").
	Channel string `json:"channel"`
	// ChannelType is the platform: "line", "whatsapp" or "webchat".
	ChannelType string `json:"channel_type"`
	// Contact is the sender the blocklist is keyed by; empty for a
	// passthrough.
	Contact string `json:"contact"`
	// ID is the platform's event id used for de-duplication (LINE
	// webhookEventId, WhatsApp message id or status id + ":" + status, web chat
	// webhook-id), or ContentID of the event where the platform gives none.
	ID string `json:"id"`
	// Type is the event type: "message", "follow", "unfollow", "postback",
	// "status", ... in the platform's own words.
	Type string `json:"type"`
	// Message is set for message events.
	Message *Message `json:"message,omitempty"`
	// Timestamp is when the platform says the event happened.
	Timestamp time.Time `json:"timestamp"`
	// Redelivery is true when the platform marks the event as a retry.
	Redelivery bool `json:"redelivery,omitempty"`
	// Raw is the platform's own event, byte for byte as received.
	Raw json.RawMessage `json:"raw"`
}

// Message is the message part of an event.
type Message struct {
	// ID is the platform's message id.
	ID string `json:"id"`
	// Type is the message type in the platform's words ("text", "image", ...).
	Type string `json:"type"`
	// Text is the text of text messages.
	Text string `json:"text,omitempty"`
}

// Header is the read-only view of request headers an adapter verifies. It is
// satisfied by http.Header and by the gateway's adapter over Fiber's headers,
// so adapters need no HTTP framework.
type Header interface {
	// Get returns the first value of the named header (case-insensitive), or "".
	Get(name string) string
}
