package webchat_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hookwall/hookwall/channels"
	"github.com/hookwall/hookwall/channels/webchat"
)

// received is one request as the outbound server saw it.
type received struct {
	method, path string
	header       http.Header
	body         []byte
}

// recorder starts a server that records every request and answers status
// with respBody.
func recorder(t *testing.T, status int, respBody string) (*httptest.Server, <-chan received) {
	t.Helper()
	got := make(chan received, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("read request body: %v", err)
		}
		got <- received{method: r.Method, path: r.URL.Path, header: r.Header.Clone(), body: b}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, respBody)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func TestSend(t *testing.T) {
	tests := []struct {
		name     string
		text     string
		wantText string // as JSON-encoded in the body
	}{
		{name: "plain text", text: "Thanks, an agent is here.", wantText: `"Thanks, an agent is here."`},
		{name: "unicode and escapes", text: "ขอบคุณค่ะ 🙏 \"ok\"\n<b>", wantText: `"ขอบคุณค่ะ 🙏 \"ok\"\n\u003cb\u003e"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, got := recorder(t, http.StatusAccepted, `{"ok":true}`)
			c := newChannel(t, func(c *webchat.Config) { c.OutboundURL = srv.URL + "/replies" })

			id, err := c.Send(context.Background(), "visitor_7f3a9c", tc.text)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if !strings.HasPrefix(id, "msg_") || len(id) <= len("msg_") {
				t.Errorf("id %q is not msg_<random>", id)
			}
			r := <-got

			if r.method != http.MethodPost || r.path != "/replies" {
				t.Errorf("got %s %s, want POST /replies", r.method, r.path)
			}
			wantHeaders := map[string]string{
				"Content-Type":      "application/json",
				"Webhook-Id":        id,
				"Webhook-Timestamp": "1795600800",
			}
			for k, v := range wantHeaders {
				if r.header.Get(k) != v {
					t.Errorf("header %s = %q, want %q", k, r.header.Get(k), v)
				}
			}
			wantBody := `{"id":"` + id + `","type":"message","contact":{"id":"visitor_7f3a9c"},` +
				`"message":{"text":` + tc.wantText + `},"timestamp":"2026-11-25T10:00:00Z"}`
			if string(r.body) != wantBody {
				t.Errorf("body\n got %s\nwant %s", r.body, wantBody)
			}

			// The library's Verify would compare with the real clock; the
			// timestamp header is asserted above instead.
			first, err := standardwebhooks.NewWebhook(secretA)
			if err != nil {
				t.Fatal(err)
			}
			if err := first.VerifyIgnoringTimestamp(r.body, r.header); err != nil {
				t.Errorf("signature does not verify with the first secret: %v", err)
			}
			second, err := standardwebhooks.NewWebhook(secretB)
			if err != nil {
				t.Fatal(err)
			}
			if second.VerifyIgnoringTimestamp(r.body, r.header) == nil {
				t.Error("signature verifies with the second secret; the first must sign")
			}
		})
	}
}

// TestSendRoundTrip sends through one channel into another's Receive: both
// ends of the same contract agree.
func TestSendRoundTrip(t *testing.T) {
	srv, got := recorder(t, http.StatusOK, "")
	c := newChannel(t, func(c *webchat.Config) { c.OutboundURL = srv.URL })
	id, err := c.Send(context.Background(), "visitor_7f3a9c", "hi")
	if err != nil {
		t.Fatal(err)
	}
	r := <-got
	events, err := newChannel(t, nil).Receive(r.header, r.body)
	if err != nil {
		t.Fatalf("Receive of a sent reply: %v", err)
	}
	if events[0].ID != id || events[0].Contact != "visitor_7f3a9c" || events[0].Message.Text != "hi" {
		t.Errorf("round trip event %+v message %+v", events[0], events[0].Message)
	}
}

func TestSendUniqueIDs(t *testing.T) {
	srv, _ := recorder(t, http.StatusNoContent, "")
	c := newChannel(t, func(c *webchat.Config) { c.OutboundURL = srv.URL })
	a, errA := c.Send(context.Background(), "c1", "one")
	b, errB := c.Send(context.Background(), "c1", "two")
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	if a == b {
		t.Errorf("two sends share id %q", a)
	}
}

func TestSendErrors(t *testing.T) {
	long := strings.Repeat("x", 10_000)
	tests := []struct {
		name     string
		status   int
		body     string
		wantErr  error  // nil: success
		contains string // in the error message
	}{
		{name: "200", status: http.StatusOK, body: `{"ok":true}`},
		{name: "204", status: http.StatusNoContent},
		{name: "400 with reason", status: http.StatusBadRequest, body: `{"error":"unknown contact"}`, wantErr: channels.ErrPlatform, contains: `status 400: "{\"error\":\"unknown contact\"}"`},
		{name: "500 with huge body", status: http.StatusInternalServerError, body: long, wantErr: channels.ErrPlatform, contains: "status 500"},
		{name: "redirect is not followed", status: http.StatusTemporaryRedirect, wantErr: channels.ErrPlatform, contains: "status 307"},
		{name: "empty 503", status: http.StatusServiceUnavailable, wantErr: channels.ErrPlatform, contains: `status 503: ""`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/elsewhere" {
					t.Error("redirect was followed")
				}
				if tc.status/100 == 3 {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			t.Cleanup(srv.Close)
			c := newChannel(t, func(c *webchat.Config) { c.OutboundURL = srv.URL })

			id, err := c.Send(context.Background(), "c1", "hi")
			if tc.wantErr == nil {
				if err != nil || id == "" {
					t.Fatalf("Send = %q, %v", id, err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if se := (*channels.StatusError)(nil); !errors.As(err, &se) || se.Code != tc.status {
				t.Errorf("err %v carries no StatusError %d", err, tc.status)
			}
			if id != "" {
				t.Errorf("id %q returned with an error", id)
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("err %q does not contain %q", err, tc.contains)
			}
			if len(err.Error()) > 1024 {
				t.Errorf("error message is %d bytes, want the body snippet bounded", len(err.Error()))
			}
		})
	}
}

func TestSendTransportErrors(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	live, _ := recorder(t, http.StatusOK, "")

	canceled, cancel := context.WithCancel(context.Background())
	cancel()

	tests := []struct {
		name    string
		url     string
		ctx     context.Context
		contact string
		wantErr error
	}{
		{name: "connection refused", url: closed.URL, ctx: context.Background(), contact: "c1", wantErr: channels.ErrPlatform},
		{name: "caller canceled", url: live.URL, ctx: canceled, contact: "c1", wantErr: context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newChannel(t, func(c *webchat.Config) { c.OutboundURL = tc.url })
			_, err := c.Send(tc.ctx, tc.contact, "hi")
			if !errors.Is(err, channels.ErrPlatform) || !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want ErrPlatform and %v", err, tc.wantErr)
			}
		})
	}
}

func TestSendEmptyContact(t *testing.T) {
	srv, got := recorder(t, http.StatusOK, "")
	c := newChannel(t, func(c *webchat.Config) { c.OutboundURL = srv.URL })
	if _, err := c.Send(context.Background(), "", "hi"); err == nil {
		t.Fatal("Send accepted an empty contact")
	}
	select {
	case r := <-got:
		t.Errorf("request sent for an empty contact: %s", r.body)
	default:
	}
}

// TestSendTimeout checks that Timeout bounds a send to a server that never
// answers; the handler is released on cleanup so the server can close.
func TestSendTimeout(t *testing.T) {
	unblock := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-unblock:
		case <-r.Context().Done():
		}
	}))
	// Cleanups run last-in first-out: unblock first, then close.
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(unblock) })

	c := newChannel(t, func(c *webchat.Config) {
		c.OutboundURL = srv.URL
		c.Timeout = 50 * time.Millisecond
	})
	_, err := c.Send(context.Background(), "c1", "hi")
	if !errors.Is(err, channels.ErrPlatform) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrPlatform and context.DeadlineExceeded", err)
	}
}
