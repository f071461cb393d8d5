package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"

	"github.com/gofiber/fiber/v2"
)

// Defaults of the limits on what clients can make hookwall hold.
const (
	// DefaultAdminBodyBytes bounds the body of every route but the
	// webhooks: the admin API and replies carry a note or a message.
	DefaultAdminBodyBytes = 64 << 10
	// DefaultBodyBytesInFlight bounds the request body bytes held at once
	// over every connection.
	DefaultBodyBytesInFlight = 64 << 20
	// DefaultMaxConnections bounds the connections served at once.
	DefaultMaxConnections = 2048
	// DefaultMaxConnectionsPerIP bounds the connections of one client
	// address.
	DefaultMaxConnectionsPerIP = 256
)

// errBusy is a request refused because the bodies being read already hold
// the server's budget; the client is to retry.
var errBusy = errors.New("too many request bodies are being read; retry shortly")

// budget is the count of request body bytes the server may still hold.
type budget struct{ left atomic.Int64 }

// take reserves n bytes, or reports false when fewer are left.
func (b *budget) take(n int64) bool {
	for {
		left := b.left.Load()
		if left < n {
			return false
		}
		if b.left.CompareAndSwap(left, left-n) {
			return true
		}
	}
}

func (b *budget) give(n int64) { b.left.Add(n) }

// bodyLimit returns the largest body the request's route accepts: a
// configured channel's own limit for its webhook, the admin limit for
// everything else.
func (g *Gateway) bodyLimit(c *fiber.Ctx) int {
	if id, ok := strings.CutPrefix(c.Path(), "/webhooks/"); ok && c.Method() == fiber.MethodPost {
		if ch, ok := g.channels[id]; ok {
			return ch.Adapter.MaxBodyBytes()
		}
	}
	return g.adminBody
}

// readBody reads the request's body, which the server streams rather than
// buffers, within the route's limit and the server's budget, before any
// routing, token or signature check. A declared length over the limit is
// refused from the header alone; a chunked body is cut off at the limit. The
// budget is held until the answer is written, so that the bytes held at
// once stay under it however many clients send at the same time.
func (g *Gateway) readBody(c *fiber.Ctx) error {
	req := c.Request()
	limit := g.bodyLimit(c)
	declared := req.Header.ContentLength() // -1 chunked, -2 none
	if declared > limit {
		return fmt.Errorf("%w: %d bytes declared, limit %d for this route", errTooLarge, declared, limit)
	}
	stream := req.BodyStream()
	if declared == 0 || declared == -2 || stream == nil {
		req.SetBodyRaw(nil)
		return c.Next()
	}
	hold := int64(declared)
	if declared < 0 {
		hold = int64(limit)
	}
	if !g.budget.take(hold) {
		c.Set(fiber.HeaderRetryAfter, "1")
		return errBusy
	}
	defer g.budget.give(hold)
	// Room for the declared body and the read that finds its end; a
	// chunked body grows as it comes.
	var body bytes.Buffer
	if declared > 0 {
		body.Grow(declared + bytes.MinRead)
	}
	if _, err := body.ReadFrom(io.LimitReader(stream, int64(limit)+1)); err != nil {
		return fmt.Errorf("%w: the body could not be read: %v", errBadRequest, err)
	}
	if body.Len() > limit {
		return fmt.Errorf("%w: chunked body over the limit of %d bytes for this route", errTooLarge, limit)
	}
	req.SetBodyRaw(body.Bytes())
	return c.Next()
}
