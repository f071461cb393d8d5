package gateway_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookwall/hookwall/gateway"
)

// TestRouteBodyLimits: each route bounds its body before reading it, and
// before any token or signature check: a webhook route by its channel's
// limit, every other route by the admin limit. A body over the limit is
// refused from its declared length alone, a chunked one once it passes it.
func TestRouteBodyLimits(t *testing.T) {
	e := newEnvWith(t, func(c *gateway.Config) {
		c.Channels[0].Adapter.(*fakeChannel).maxBody = 1 << 20
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
// under the budget. Past it a request is answered 503 server_busy with
// Retry-After before its body is read; requests without a body still pass;
// and the budget comes back when the held bodies end.
func TestBodyBudget(t *testing.T) {
	e := newEnvWith(t, func(c *gateway.Config) {
		c.Limits = gateway.Limits{AdminBodyBytes: 1024, BodyBytesInFlight: 2048}
	})
	addr := strings.TrimPrefix(e.base, "http://")
	// Two clients each announce a body of the channel's whole limit (1024
	// bytes) and send only part of it: together they hold the budget.
	var held []net.Conn
	for range 2 {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		head := "POST /webhooks/line-main HTTP/1.1\r\nHost: x\r\nX-Fake-Signature: good\r\nContent-Length: 1024\r\n\r\n"
		if _, err := io.WriteString(conn, head+"[  "); err != nil {
			t.Fatal(err)
		}
		held = append(held, conn)
	}
	small := `[{"contact":"U1","id":"e1","type":"message"}]`
	r := waitFor(t, "a body past the budget to be refused", func() (resp, bool) {
		r := e.do("POST", "/webhooks/line-main", "", small, "X-Fake-Signature", "good")
		return r, r.status == http.StatusServiceUnavailable
	})
	wantProblem(t, r, http.StatusServiceUnavailable, "server_busy")
	if got := r.header.Get("Retry-After"); got != "1" {
		t.Fatalf("Retry-After %q; want 1", got)
	}
	if r := e.do("GET", "/healthz", "", ""); r.status != http.StatusOK {
		t.Fatalf("a request without a body while the budget is spent = %d %s", r.status, r.raw)
	}
	for _, c := range held {
		c.Close()
	}
	r = waitFor(t, "the budget to come back", func() (resp, bool) {
		r := e.do("POST", "/webhooks/line-main", "", small, "X-Fake-Signature", "good")
		return r, r.status != http.StatusServiceUnavailable
	})
	if r.status != http.StatusOK {
		t.Fatalf("webhook after the held bodies ended = %d %s", r.status, r.raw)
	}
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
