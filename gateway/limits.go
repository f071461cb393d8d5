package gateway

import (
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

// BodyBytesHeld is how many bytes of request bodies the server holds now,
// of its budget.
func (g *Gateway) BodyBytesHeld() int64 { return g.budgetSize - g.budget.left.Load() }

// bodyLimit returns the largest body a request accepts: a configured
// channel's own limit for a POST to its webhook, the admin limit for
// everything else.
func (g *Gateway) bodyLimit(method, path string) int {
	if id, ok := strings.CutPrefix(path, "/webhooks/"); ok && method == fiber.MethodPost {
		if ch, ok := g.channels[id]; ok {
			return ch.Adapter.MaxBodyBytes()
		}
	}
	return g.adminBody
}

// firstRead is the buffer a body starts in, and so what a connection that
// announces a body and sends nothing holds of the budget.
const firstRead = 4 << 10

// readBody reads the request's body, which the server streams rather than
// buffers, within the route's limit and the server's budget, before any
// routing, token or signature check. A declared length over the limit is
// refused from the header alone; a chunked body is cut off at the limit.
//
// The budget is taken as the body arrives, for the buffer it fills, and
// held until the answer is written: the bytes held at once stay under it
// however many clients send, and a client that announces a body and sends
// nothing holds only the first small buffer. What is left of a refused
// request's body is read and thrown away by the server when it is small
// (up to 256 KiB), so that the client reads the answer; past that the
// connection is closed.
func (g *Gateway) readBody(c *fiber.Ctx) error {
	req := c.Request()
	limit := g.bodyLimit(c.Method(), c.Path())
	declared := req.Header.ContentLength() // -1 chunked, -2 none
	stream := req.BodyStream()
	if declared <= limit && (declared == 0 || declared == -2 || stream == nil) {
		req.SetBodyRaw(nil)
		return c.Next()
	}
	r := bodyReader{budget: &g.budget, limit: limit, declared: declared}
	defer r.release()
	body, err := r.read(stream)
	if err != nil {
		if errors.Is(err, errBusy) {
			c.Set(fiber.HeaderRetryAfter, "1")
		}
		return err
	}
	req.SetBodyRaw(body)
	return c.Next()
}

// bodyReader reads one body into a buffer that grows as the body arrives,
// taking budget for each growth.
type bodyReader struct {
	budget   *budget
	limit    int
	declared int   // -1: chunked
	held     int64 // budget taken
}

func (r *bodyReader) release() { r.budget.give(r.held) }

// grow makes room in buf for more of the body, or fails with errBusy when
// the budget cannot pay for it. It grows fourfold: few copies, so little
// garbage, while what a client holds stays within four times what it sent.
// The buffer never grows past the declared length, or past the limit for a
// chunked body.
func (r *bodyReader) grow(buf []byte) ([]byte, error) {
	size := min(max(4*cap(buf), firstRead), r.most())
	if !r.budget.take(int64(size - cap(buf))) {
		return nil, errBusy
	}
	r.held += int64(size - cap(buf))
	grown := make([]byte, len(buf), size)
	copy(grown, buf)
	return grown, nil
}

// most is the largest buffer the body may need.
func (r *bodyReader) most() int {
	if r.declared > 0 {
		return r.declared
	}
	return r.limit
}

func (r *bodyReader) read(stream io.Reader) ([]byte, error) {
	if r.declared > r.limit {
		return nil, fmt.Errorf("%w: %d bytes declared, limit %d for this route", errTooLarge, r.declared, r.limit)
	}
	var buf []byte
	for len(buf) != r.declared {
		if len(buf) == r.limit {
			// A chunked body at the limit: it may end here, or be over.
			if over, err := more(stream); over || err != nil {
				return nil, errors.Join(fmt.Errorf("%w: chunked body over the limit of %d bytes for this route", errTooLarge, r.limit), err)
			}
			return buf, nil
		}
		if len(buf) == cap(buf) {
			var err error
			if buf, err = r.grow(buf); err != nil {
				return nil, err
			}
		}
		n, err := stream.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		switch {
		case errors.Is(err, io.EOF) && r.declared > 0 && len(buf) != r.declared:
			return nil, fmt.Errorf("%w: the body ended after %d of its %d declared bytes", errBadRequest, len(buf), r.declared)
		case errors.Is(err, io.EOF):
			return buf, nil
		case err != nil:
			return nil, fmt.Errorf("%w: the body could not be read: %v", errBadRequest, err)
		}
	}
	return buf, nil
}

// more reports whether stream has a byte left; it reads it.
func more(stream io.Reader) (bool, error) {
	var b [1]byte
	for {
		n, err := stream.Read(b[:])
		if n > 0 {
			return true, nil
		}
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
}
