package gateway

import (
	"context"
	"net/url"

	"github.com/hookwall/hookwall/channels"
)

// Channel is one configured platform channel as the gateway uses it. Adapters
// in channels/* implement it; cmd lists them explicitly.
type Channel interface {
	// ID is the configured channel id, the {channel} of the routes.
	ID() string
	// Type is the platform: "line", "whatsapp" or "webchat".
	Type() string
	// MaxBodyBytes bounds an inbound webhook body; larger ones get 413.
	MaxBodyBytes() int
	// Receive verifies the raw body against the headers in constant time,
	// then parses it into events. It wraps channels.ErrBadSignature or
	// channels.ErrMalformed on failure. An authentic request with no events
	// (LINE's verification call) returns an empty slice.
	Receive(h channels.Header, body []byte) ([]channels.Event, error)
	// Send sends a text reply to the contact through the platform's API and
	// returns the id it was sent under. It wraps channels.ErrPlatform when the
	// platform refuses or cannot be reached in time.
	Send(ctx context.Context, contact, text string) (string, error)
}

// Handshaker is implemented by channels whose platform verifies the webhook
// URL with a GET request (WhatsApp's hub.* subscription check).
type Handshaker interface {
	// Handshake answers the GET query with the body to return, or wraps
	// channels.ErrHandshake.
	Handshake(query url.Values) (string, error)
}
