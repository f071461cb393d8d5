package delivery

import (
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpproxy"
)

// maxResponseBody is how much of a target's answer is read. Only its status
// and, on failure, the start of its body are used; a longer body is not an
// error (see post).
const maxResponseBody = 64 << 10

// NewClient returns the client envelopes are posted with. It is fasthttp's,
// the library the gateway already serves with: a delivery costs about half
// the CPU it costs through net/http, which matters when the bot or helpdesk
// takes thousands of envelopes a second.
//
//   - Every post runs with the attempt timeout (delivery.timeout); redirects
//     are not followed.
//   - Up to 512 connections per target; a post that finds them all busy waits
//     for one, within its timeout.
//   - Idle connections are closed after 4s, before the 5s keep-alive of
//     common servers (Node.js) can close them under a post; fasthttp sends a
//     post again on a new connection when the target closed a reused one
//     before answering (at least once, with the same webhook-id).
//   - HTTP_PROXY, HTTPS_PROXY and NO_PROXY are honoured, as net/http does.
func NewClient() *fasthttp.Client {
	return &fasthttp.Client{
		Name:                "hookwall",
		MaxConnsPerHost:     512,
		MaxConnWaitTimeout:  time.Minute, // within each post's own timeout
		MaxIdleConnDuration: 4 * time.Second,
		MaxResponseBodySize: maxResponseBody,
		Dial:                fasthttpproxy.FasthttpProxyHTTPDialerTimeout(10 * time.Second),
	}
}
