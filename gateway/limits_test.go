package gateway_test

import (
	"bufio"
	"fmt"
	"github.com/hookwall/hookwall/internal/redistest"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookwall/hookwall/gateway"
	"github.com/hookwall/hookwall/internal/testkit"
)

// TestRouteBodyLimits: each route bounds its body before reading it, and
// before any token or signature check: a webhook route by its channel's
// limit, every other route by the admin limit. A body over the limit is
// refused from its declared length alone, a chunked one once it passes it.
func TestRouteBodyLimits(t *testing.T) {
	redistest.Parallel(t)
	e := newEnvWith(t, func(c *gateway.Config) {
		c.Channels[0].Adapter.(*testkit.Channel).MaxBody = 1 << 20
	})
	const over = gateway.DefaultAdminBodyBytes + 1
	for _, path := range []string{"/healthz", "/metrics", "/admin/v1/settings", "/no/such/route", "/webhooks/nope"} {
		wantProblem(t, e.announce(path, over), http.StatusRequestEntityTooLarge, "payload_too_large")
	}
	// The webhook route takes its channel's limit, and no more.
	if r := e.do("POST", "/webhooks/line-main", "", `[`+strings.Repeat(" ", over)+`]`, "X-Fake-Signature", "good"); r.status != http.StatusOK {
		t.Fatalf("a webhook body under its channel's limit = %d %s", r.status, r.raw)
	}
	wantProblem(t, e.announce("/webhooks/line-main", 1<<20+1, "X-Fake-Signature", "good"), http.StatusRequestEntityTooLarge, "payload_too_large")

	// A multipart form is not parsed ahead of the limit either.
	r := e.raw("POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XX\r\nContent-Length: 104857600\r\n\r\n--XX\r\n")
	wantProblem(t, r, http.StatusRequestEntityTooLarge, "payload_too_large")
	if !r.close {
		t.Errorf("a refused body's connection stays open")
	}
	// A client that asks first is told not to send a body over the limit.
	if r := e.raw("POST /admin/v1/settings HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: " + strconv.Itoa(over) + "\r\n\r\n"); r.status != http.StatusExpectationFailed {
		t.Errorf("Expect: 100-continue over the limit = %d %s; want 417", r.status, r.raw)
	}
	// A body that ends before its declared length is not taken as whole.
	r = e.raw("PUT /admin/v1/settings HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+adminToken+"\r\nContent-Length: 100\r\n\r\n{\"block_contact_enabled\":false}", "half-close")
	wantProblem(t, r, http.StatusBadRequest, "invalid_request")

	// A chunked body has no declared length: it is cut off at the limit.
	// (net/http sends a body of unknown length chunked.)
	req, err := http.NewRequest("PUT", e.base+"/admin/v1/settings", io.MultiReader(strings.NewReader(`{"block_contact_enabled":true`), strings.NewReader(strings.Repeat(" ", over)+"}")))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	wantProblem(t, readResp(res), http.StatusRequestEntityTooLarge, "payload_too_large")
}

// TestBodyBudget: the body bytes held at once over every connection stay
// under the budget, and are taken as bodies arrive. Clients that announce
// large bodies and send nothing hold a few KiB each, so another client's
// body still fits; a body that would take the budget past its size is
// answered 503 server_busy with Retry-After and its connection closed;
// requests without a body always pass; and the budget comes back when the
// bodies end.
func TestBodyBudget(t *testing.T) {
	redistest.Parallel(t)
	const mib = 1 << 20
	e := newEnvWith(t, func(c *gateway.Config) {
		c.Channels[0].Adapter.(*testkit.Channel).MaxBody = mib
		c.Limits = gateway.Limits{BodyBytesInFlight: mib}
	})
	addr := strings.TrimPrefix(e.base, "http://")
	// hold announces a body of n bytes to the webhook, sends sent of them
	// and keeps the connection open.
	hold := func(n, sent int) net.Conn {
		t.Helper()
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		head := fmt.Sprintf("POST /webhooks/line-main HTTP/1.1\r\nHost: x\r\nX-Fake-Signature: good\r\nContent-Length: %d\r\n\r\n", n)
		if _, err := io.WriteString(conn, head+"["+strings.Repeat(" ", sent-1)); err != nil {
			t.Fatal(err)
		}
		return conn
	}
	held := func(what string, cond func(int64) bool) {
		t.Helper()
		waitFor(t, what, func() (resp, bool) {
			n := e.g.BodyBytesHeld()
			return resp{raw: fmt.Sprintf("%d bytes held", n)}, cond(n)
		})
	}
	padded := func(n int) string { // a webhook body of the fake channel, n bytes
		ev := `{"contact":"U1","id":"budget","type":"message"}]`
		return "[" + strings.Repeat(" ", n-1-len(ev)) + ev
	}

	// 16 clients announce the channel's whole limit and send one byte.
	var idle []net.Conn
	for range 16 {
		idle = append(idle, hold(mib, 1))
	}
	held("the idle clients to hold their first buffers", func(n int64) bool { return n == 16*4<<10 })
	if r := e.do("POST", "/webhooks/line-main", "", padded(800<<10), "X-Fake-Signature", "good"); r.status != http.StatusOK {
		t.Fatalf("an 800 KiB body beside 16 idle announcements of 1 MiB = %d %s", r.status, r.raw)
	}
	for _, c := range idle {
		c.Close()
	}
	held("the idle clients' buffers to come back", func(n int64) bool { return n == 0 })

	// One client sends most of a 1 MiB body: its buffer has grown to the
	// whole MiB, the budget. Another body cannot grow past its first
	// buffers.
	busy := hold(mib, 600<<10)
	held("the sender to hold the budget", func(n int64) bool { return n == mib })
	r := e.do("POST", "/webhooks/line-main", "", padded(64<<10), "X-Fake-Signature", "good")
	wantProblem(t, r, http.StatusServiceUnavailable, "server_busy")
	if got := r.header.Get("Retry-After"); got != "1" {
		t.Fatalf("Retry-After %q; want 1", got)
	}
	if r := e.do("GET", "/healthz", "", ""); r.status != http.StatusOK {
		t.Fatalf("a request without a body while the budget is spent = %d %s", r.status, r.raw)
	}
	busy.Close()
	held("the budget to come back", func(n int64) bool { return n == 0 })
	if r := e.do("POST", "/webhooks/line-main", "", padded(64<<10), "X-Fake-Signature", "good"); r.status != http.StatusOK {
		t.Fatalf("webhook after the held bodies ended = %d %s", r.status, r.raw)
	}
}

// raw writes request to a new connection (and, with "half-close", closes
// its writing side) and returns the answer.
func (e *env) raw(request string, opts ...string) resp {
	e.t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.base, "http://"))
	if err != nil {
		e.t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, request); err != nil {
		e.t.Fatal(err)
	}
	if len(opts) > 0 && opts[0] == "half-close" {
		_ = conn.(*net.TCPConn).CloseWrite()
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return readResp(res)
}

// waitFor calls try until it reports done, for at most 5 seconds.
func waitFor(t *testing.T, what string, try func() (resp, bool)) resp {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, done := try()
		if done {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited 5s for %s; last answer %d %s", what, r.status, r.raw)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestConnectionCaps: the server serves at most MaxConnections connections
// at once and MaxConnectionsPerIP from one address; a connection past either
// is answered (429 per address, 503 in all) and closed at once.
func TestConnectionCaps(t *testing.T) {
	redistest.Parallel(t)
	e := newEnvWith(t, func(c *gateway.Config) {
		c.Limits = gateway.Limits{MaxConnections: 3, MaxConnectionsPerIP: 2}
	})
	addr := strings.TrimPrefix(e.base, "http://")
	// open dials from the loopback address from and, if ok, sees a request
	// answered on the connection, which the server then keeps open.
	open := func(from string) (net.Conn, *http.Response) {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		conn, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return conn, res
	}
	for range 2 {
		if _, res := open("127.0.0.1"); res.StatusCode != http.StatusOK {
			t.Fatalf("connection under the caps answered %d", res.StatusCode)
		}
	}
	if _, res := open("127.0.0.1"); res.StatusCode != http.StatusTooManyRequests || !res.Close {
		t.Fatalf("third connection from one address answered %d (close %v); want 429 and closed", res.StatusCode, res.Close)
	}
	if _, res := open("127.0.0.2"); res.StatusCode != http.StatusOK {
		t.Fatalf("connection from another address answered %d", res.StatusCode)
	}
	if _, res := open("127.0.0.2"); res.StatusCode != http.StatusServiceUnavailable || !res.Close {
		t.Fatalf("fourth connection in all answered %d (close %v); want 503 and closed", res.StatusCode, res.Close)
	}
}
