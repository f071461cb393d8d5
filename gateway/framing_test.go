package gateway_test

import (
	"bufio"
	"github.com/hookwall/hookwall/internal/redistest"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestAmbiguousFraming: a request whose length is ambiguous cannot smuggle
// a second request behind it past a proxy that reads the other length. Two
// Content-Length headers are refused with 400; Content-Length beside
// Transfer-Encoding is read by the chunked framing alone and its connection
// closed after the answer, as RFC 9112 §6.1 and §6.3 require. Either way
// the request hidden in the body is never answered.
func TestAmbiguousFraming(t *testing.T) {
	redistest.Parallel(t)
	e := newEnv(t)
	addr := strings.TrimPrefix(e.base, "http://")
	smuggled := "GET /admin/v1/settings HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + adminToken + "\r\n\r\n"
	for _, tc := range []struct {
		name, head, body string
		status           int // 0: any answer, as long as the connection then closes
	}{{
		name:   "two content lengths",
		head:   "Content-Length: 2\r\nContent-Length: " + strconv.Itoa(2+len(smuggled)) + "\r\n",
		body:   "{}" + smuggled,
		status: http.StatusBadRequest,
	}, {
		name: "content length and chunked",
		head: "Content-Length: " + strconv.Itoa(len("0\r\n\r\n")+len(smuggled)) + "\r\nTransfer-Encoding: chunked\r\n",
		body: "0\r\n\r\n" + smuggled,
	}, {
		name: "chunked and content length",
		head: "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
		body: "0\r\n\r\n" + smuggled,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			req := "POST /webhooks/line-main HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + tc.head + "\r\n" + tc.body
			if _, err := io.WriteString(conn, req); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(conn)
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if tc.status != 0 && res.StatusCode != tc.status {
				t.Errorf("status %d; want %d", res.StatusCode, tc.status)
			}
			// Nothing more may come: the connection is closed, and the
			// request hidden in the body is never answered.
			if next, err := http.ReadResponse(br, nil); err == nil {
				t.Errorf("a second answer came on the same connection: %d", next.StatusCode)
			}
		})
	}
}
