package delivery

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/hookwall/hookwall/internal/redact"
	"github.com/valyala/fasthttp"
	"golang.org/x/net/http/httpproxy"
)

// maxResponseBody is how much of a target's answer body is read. Only its
// status and, on failure, the start of its body are used; a longer body is
// not an error (see post).
const maxResponseBody = 64 << 10

// maxResponseHead bounds a target's status line and headers, as generous as
// the web servers and frameworks that answer webhooks send (long CSP and
// Set-Cookie headers); fasthttp's default (4 KiB) would fail a 2xx that
// carries them, and the envelope would be posted again and again.
const maxResponseHead = 64 << 10

// proxyFunc says which proxy, if any, a target URL is reached through.
type proxyFunc func(*url.URL) (*url.URL, error)

// proxyFromEnvironment reads HTTP_PROXY, HTTPS_PROXY and NO_PROXY as
// net/http does.
func proxyFromEnvironment() proxyFunc { return httpproxy.FromEnvironment().ProxyFunc() }

// newHostClient returns the client that posts to one target host (scheme,
// host and port of u). It is fasthttp's, the library the gateway already
// serves with: a delivery costs about half the CPU it costs through
// net/http, which matters when a target takes thousands of envelopes a
// second.
//
//   - timeout bounds every step of a post: the wait for a free connection,
//     the dial, the TLS handshake, the request and the answer. Redirects
//     are not followed, and the URL's path is sent as written.
//   - Up to 512 connections; idle ones are closed after 4s, before the 5s
//     keep-alive of common servers (Node.js) closes them under a post.
//     When a connection ends before the answer's first byte (a reused one
//     the target had closed, say), fasthttp sends the post once more within
//     the attempt: at least once, the same webhook-id.
//   - Dialled as net/http dials: IPv4 and IPv6, falling back from one
//     address to the next. A target the proxy settings send through a proxy
//     is reached through an HTTP CONNECT tunnel (the proxy must allow
//     CONNECT to the target's port); https proxies are not supported.
func newHostClient(u *url.URL, timeout time.Duration, proxy proxyFunc) (*fasthttp.HostClient, error) {
	isTLS := u.Scheme == "https"
	hc := &fasthttp.HostClient{
		Addr:     fasthttp.AddMissingPort(u.Host, isTLS),
		IsTLS:    isTLS,
		Name:     "hookwall",
		Dial:     directDialer(timeout),
		MaxConns: 512,
		// One send and, when the connection ended before the answer, one
		// more: fasthttp's default would post up to five times.
		MaxIdemponentCallAttempts: 2,
		MaxConnWaitTimeout:        timeout,
		MaxIdleConnDuration:       4 * time.Second,
		ReadTimeout:               timeout,
		WriteTimeout:              timeout, // also the TLS handshake's
		ReadBufferSize:            maxResponseHead,
		MaxResponseBodySize:       maxResponseBody,
		DisablePathNormalizing:    true,
	}
	p, err := proxy(u)
	if err != nil {
		return nil, fmt.Errorf("proxy for %s: %w", redact.URL(u.String()), err)
	}
	if p != nil {
		if p.Scheme != "http" {
			return nil, fmt.Errorf("proxy %s for %s: only http:// proxies are supported", redact.URL(p.String()), redact.URL(u.String()))
		}
		hc.Dial = connectDialer(p, timeout)
	}
	return hc, nil
}

// directDialer dials with net.Dialer: both address families, and the next
// address when one does not answer (fasthttp's own dialer spends the whole
// timeout on the first and stops).
func directDialer(timeout time.Duration) fasthttp.DialFunc {
	return func(addr string) (net.Conn, error) {
		return (&net.Dialer{Timeout: timeout}).Dial("tcp", addr)
	}
}

// connectDialer dials addr through an HTTP CONNECT tunnel of proxy; timeout
// bounds the dial and the proxy's answer together.
func connectDialer(proxy *url.URL, timeout time.Duration) fasthttp.DialFunc {
	proxyAddr := fasthttp.AddMissingPort(proxy.Host, false)
	var auth string
	if proxy.User != nil {
		pass, _ := proxy.User.Password()
		auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(proxy.User.Username()+":"+pass))
	}
	return func(addr string) (net.Conn, error) {
		deadline := time.Now().Add(timeout)
		conn, err := (&net.Dialer{Deadline: deadline}).Dial("tcp", proxyAddr)
		if err != nil {
			return nil, err
		}
		fail := func(err error) (net.Conn, error) {
			_ = conn.Close()
			return nil, fmt.Errorf("proxy %s: %w", redact.URL(proxy.String()), err)
		}
		if err := conn.SetDeadline(deadline); err != nil {
			return fail(err)
		}
		req := &http.Request{
			Method: http.MethodConnect, URL: &url.URL{Opaque: addr}, Host: addr, Header: http.Header{},
		}
		if auth != "" {
			req.Header.Set("Proxy-Authorization", auth)
		}
		if err := req.Write(conn); err != nil {
			return fail(err)
		}
		// The proxy sends nothing after its answer until the tunnel is
		// used, so the reader holds no byte of the target's.
		res, err := http.ReadResponse(bufio.NewReader(conn), req)
		if err != nil {
			return fail(err)
		}
		_ = res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fail(errors.New("CONNECT " + addr + ": " + res.Status))
		}
		if err := conn.SetDeadline(time.Time{}); err != nil {
			return fail(err)
		}
		return conn, nil
	}
}
