package whatsapp_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hookwall/hookwall/channels"
	"github.com/hookwall/hookwall/channels/whatsapp"
)

const sentMessageID = "wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"

// graphRequest is what the fake Graph API saw.
type graphRequest struct {
	method, path, query string
	header              http.Header
	body                []byte
}

// fakeGraph serves one canned answer and reports each request it got.
func fakeGraph(t *testing.T, status int, answer string) (*httptest.Server, <-chan graphRequest) {
	t.Helper()
	seen := make(chan graphRequest, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		seen <- graphRequest{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), body}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv, seen
}

func TestSend(t *testing.T) {
	srv, seen := fakeGraph(t, http.StatusOK,
		`{"messaging_product":"whatsapp","contacts":[{"input":"16505551234","wa_id":"16505551234"}],"messages":[{"id":"`+sentMessageID+`","message_status":"accepted"}]}`)
	ch := newChannel(t, func(c *whatsapp.Config) { c.APIBase = srv.URL + "/v21.0/" })

	const text = "Hello <Sheena> & \"friends\"\nline two \u00e9"
	id, err := ch.Send(context.Background(), sheena, text)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if id != sentMessageID {
		t.Errorf("Send = %q, want %q", id, sentMessageID)
	}
	req := <-seen
	if req.method != http.MethodPost {
		t.Errorf("method = %s, want POST", req.method)
	}
	if want := "/v21.0/" + phoneNumberID + "/messages"; req.path != want || req.query != "" {
		t.Errorf("path = %s?%s, want %s", req.path, req.query, want)
	}
	for name, want := range map[string]string{
		"Authorization": "Bearer " + accessToken,
		"Content-Type":  "application/json",
		"Accept":        "application/json",
	} {
		if got := req.header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	var body map[string]any
	if err := json.Unmarshal(req.body, &body); err != nil {
		t.Fatalf("body %s: %v", req.body, err)
	}
	want := map[string]any{
		"messaging_product": "whatsapp",
		"recipient_type":    "individual",
		"to":                sheena,
		"type":              "text",
		"text":              map[string]any{"body": text},
	}
	if !reflect.DeepEqual(body, want) {
		t.Errorf("body = %s\nwant %v", req.body, want)
	}
}

func TestSendErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		answer string
		want   []string // in the error text
	}{
		{
			name:   "recipient not allowed",
			status: http.StatusBadRequest,
			answer: `{"error":{"message":"(#131030) Recipient phone number not in allowed list","type":"OAuthException","code":131030,"error_data":{"messaging_product":"whatsapp","details":"Recipient phone number not in allowed list: Add recipient phone number to recipient list and try again."},"error_subcode":2655007,"fbtrace_id":"AI5Ob2z72R0JAUB5zOF-nao"}}`,
			want:   []string{"status 400", "(#131030) Recipient phone number not in allowed list", "Add recipient phone number", "OAuthException", "code 131030", "subcode 2655007", "AI5Ob2z72R0JAUB5zOF-nao"},
		},
		{
			name:   "bad token echoed by the platform is redacted",
			status: http.StatusUnauthorized,
			answer: `{"error":{"message":"Malformed access token ` + accessToken + `","type":"OAuthException","code":190,"fbtrace_id":"A3x6xgpqZ9k"}}`,
			want:   []string{"status 401", "Malformed access token [redacted]", "code 190"},
		},
		{
			name:   "rate limited",
			status: http.StatusTooManyRequests,
			answer: `{"error":{"message":"(#130429) Rate limit hit","type":"OAuthException","code":130429,"error_data":{"messaging_product":"whatsapp","details":"Cloud API message throughput has been reached."},"fbtrace_id":"Az8or2yhqkZfEZ-_4Qn_Bam"}}`,
			want:   []string{"status 429", "Rate limit hit", "code 130429"},
		},
		{
			name:   "not json",
			status: http.StatusBadGateway,
			answer: `<html><body>Bad Gateway</body></html>`,
			want:   []string{"status 502"},
		},
		{
			name:   "2xx without messages",
			status: http.StatusOK,
			answer: `{"messaging_product":"whatsapp","contacts":[{"input":"16505551234","wa_id":"16505551234"}],"messages":[]}`,
			want:   []string{"without a message id"},
		},
		{
			name:   "2xx not json",
			status: http.StatusOK,
			answer: `ok`,
			want:   []string{"without a message id"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, seen := fakeGraph(t, tc.status, tc.answer)
			ch := newChannel(t, func(c *whatsapp.Config) { c.APIBase = srv.URL + "/v21.0" })
			id, err := ch.Send(context.Background(), sheena, "hi")
			<-seen
			if !errors.Is(err, channels.ErrPlatform) {
				t.Fatalf("Send = %q, %v; want %v", id, err, channels.ErrPlatform)
			}
			if id != "" {
				t.Errorf("Send returned id %q with an error", id)
			}
			// The status the gateway's 502 names; a 2xx without an id is no refusal.
			var se *channels.StatusError
			if got := errors.As(err, &se); got != (tc.status/100 != 2) || (got && se.Code != tc.status) {
				t.Errorf("StatusError in %v: %v %+v; want one with %d unless 2xx", err, got, se, tc.status)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			noToken(t, err)
		})
	}
}

func TestSendUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close()
	ch := newChannel(t, func(c *whatsapp.Config) { c.APIBase = base })
	_, err := ch.Send(context.Background(), sheena, "hi")
	if !errors.Is(err, channels.ErrPlatform) {
		t.Fatalf("Send error = %v, want %v", err, channels.ErrPlatform)
	}
	noToken(t, err)
}

// A Graph API that never answers is cut off by Config.Timeout.
func TestSendTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs before srv.Close
	ch := newChannel(t, func(c *whatsapp.Config) {
		c.APIBase = srv.URL
		c.Timeout = 50 * time.Millisecond
	})
	_, err := ch.Send(context.Background(), sheena, "hi")
	if !errors.Is(err, channels.ErrPlatform) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send error = %v, want %v and %v", err, channels.ErrPlatform, context.DeadlineExceeded)
	}
	noToken(t, err)
}

func TestSendCanceled(t *testing.T) {
	srv, _ := fakeGraph(t, http.StatusOK, `{"messages":[{"id":"`+sentMessageID+`"}]}`)
	ch := newChannel(t, func(c *whatsapp.Config) { c.APIBase = srv.URL })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := ch.Send(ctx, sheena, "hi")
	if !errors.Is(err, channels.ErrPlatform) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Send error = %v, want %v and %v", err, channels.ErrPlatform, context.Canceled)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Without APIBase, Send goes to the Graph API of the documented version,
// through the configured HTTPClient.
func TestSendDefaultAPIBase(t *testing.T) {
	var got string
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		got = r.URL.String()
		return &http.Response{
			StatusCode: http.StatusOK,
			Header:     http.Header{"Content-Type": {"application/json"}},
			Body:       io.NopCloser(strings.NewReader(`{"messages":[{"id":"` + sentMessageID + `"}]}`)),
			Request:    r,
		}, nil
	})}
	ch := newChannel(t, func(c *whatsapp.Config) { c.HTTPClient = client })
	if _, err := ch.Send(context.Background(), sheena, "hi"); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if want := "https://graph.facebook.com/v21.0/" + phoneNumberID + "/messages"; got != want {
		t.Errorf("URL = %s, want %s", got, want)
	}
}

func noToken(t *testing.T, err error) {
	t.Helper()
	if strings.Contains(err.Error(), accessToken) {
		t.Errorf("error %q contains the access token", err)
	}
}
