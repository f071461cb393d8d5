package whatsapp

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/url"

	"github.com/hookwall/hookwall/channels"
)

// Handshake answers Meta's GET subscription check: with hub.mode=subscribe
// and a hub.verify_token equal to one of the configured tokens it returns
// hub.challenge, the plain body to answer with. Anything else wraps
// channels.ErrHandshake.
func (c *Channel) Handshake(query url.Values) (string, error) {
	if query.Get("hub.mode") != "subscribe" {
		return "", fmt.Errorf("whatsapp: handshake: hub.mode is not subscribe: %w", channels.ErrHandshake)
	}
	// Digests have a fixed length, so the comparison time depends neither on
	// the configured tokens nor on the one offered.
	offered := sha256.Sum256([]byte(query.Get("hub.verify_token")))
	match := 0
	for _, t := range c.verifyTokens {
		match |= subtle.ConstantTimeCompare(offered[:], t[:])
	}
	if match != 1 {
		return "", fmt.Errorf("whatsapp: handshake: hub.verify_token does not match: %w", channels.ErrHandshake)
	}
	challenge := query.Get("hub.challenge")
	if challenge == "" {
		return "", fmt.Errorf("whatsapp: handshake: no hub.challenge: %w", channels.ErrHandshake)
	}
	return challenge, nil
}
