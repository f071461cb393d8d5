package testkit

import (
	"context"
	"encoding/json"
	"net/url"
	"sync"

	"github.com/hookwall/hookwall/channels"
)

// Channel is a stand-in platform with the methods of gateway.Channel. Its
// "signature" is the header X-Fake-Signature with the value "good"; its body
// is a JSON array of channels.Event. Send records the messages it sends.
// It has no GET handshake. It is safe for concurrent use.
type Channel struct {
	id string
	// MaxBody is what MaxBodyBytes answers. Change it only before the
	// gateway is built.
	MaxBody int

	mu      sync.Mutex
	sent    []Sent
	sendErr error
}

// Sent is one message Channel.Send sent.
type Sent struct {
	Contact, Text string
}

// NewChannel returns a channel with the id whose webhook bodies may be
// maxBody bytes long.
func NewChannel(id string, maxBody int) *Channel {
	return &Channel{id: id, MaxBody: maxBody}
}

// ID is the channel id given to NewChannel.
func (c *Channel) ID() string { return c.id }

// Type is always "fake".
func (c *Channel) Type() string { return "fake" }

// MaxBodyBytes is c.MaxBody.
func (c *Channel) MaxBodyBytes() int { return c.MaxBody }

// Receive returns channels.ErrBadSignature unless the header
// X-Fake-Signature is "good", and channels.ErrMalformed unless the body is a
// JSON array of channels.Event. Every event it returns has the channel's id
// as its Channel.
func (c *Channel) Receive(h channels.Header, body []byte) ([]channels.Event, error) {
	if h.Get("X-Fake-Signature") != "good" {
		return nil, channels.ErrBadSignature
	}
	var evs []channels.Event
	if err := json.Unmarshal(body, &evs); err != nil {
		return nil, channels.ErrMalformed
	}
	for i := range evs {
		evs[i].Channel = c.id
	}
	return evs, nil
}

// Send records the message and returns the id "msg-1", or, after FailSend,
// returns its error and records nothing.
func (c *Channel) Send(_ context.Context, contact, text string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sendErr != nil {
		return "", c.sendErr
	}
	c.sent = append(c.sent, Sent{Contact: contact, Text: text})
	return "msg-1", nil
}

// FailSend makes every later Send return err; nil makes Send succeed again.
func (c *Channel) FailSend(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sendErr = err
}

// Sent returns the messages sent so far, oldest first. The gateway sends a
// reply before it answers the request, so a test reads Sent right after the
// answer without waiting.
func (c *Channel) Sent() []Sent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Sent(nil), c.sent...)
}

// Reset forgets the messages sent so far, so that a long fuzz run does not
// keep them all.
func (c *Channel) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent = nil
}

// HandshakeChannel is a Channel with WhatsApp's GET handshake: it answers
// the challenge of a subscribe request that carries its verify token.
type HandshakeChannel struct {
	*Channel
	verifyToken string
}

// NewHandshakeChannel returns a channel like NewChannel's whose handshake
// accepts verifyToken.
func NewHandshakeChannel(id string, maxBody int, verifyToken string) *HandshakeChannel {
	return &HandshakeChannel{Channel: NewChannel(id, maxBody), verifyToken: verifyToken}
}

// Handshake returns hub.challenge when hub.mode is subscribe and
// hub.verify_token is the channel's, and channels.ErrHandshake otherwise.
func (c *HandshakeChannel) Handshake(q url.Values) (string, error) {
	if q.Get("hub.mode") != "subscribe" || q.Get("hub.verify_token") != c.verifyToken || q.Get("hub.challenge") == "" {
		return "", channels.ErrHandshake
	}
	return q.Get("hub.challenge"), nil
}
