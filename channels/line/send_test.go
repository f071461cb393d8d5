package line_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hookwall/hookwall/channels"
	"github.com/hookwall/hookwall/channels/line"
)

const accessToken = "W1n8YtXp+Qz3ccessT0ken/abc="

// pushRequest is what the fake LINE API saw of one request.
type pushRequest struct {
	method, path, auth, retryKey, contentType string
	body                                      map[string]json.RawMessage
}

// fakeLINE is a LINE Messaging API stand-in on a real socket. It records
// each request and answers with status and body.
func fakeLINE(t *testing.T, status int, answer string) (*httptest.Server, <-chan pushRequest) {
	t.Helper()
	seen := make(chan pushRequest, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		req := pushRequest{
			method:      r.Method,
			path:        r.URL.Path,
			auth:        r.Header.Get("Authorization"),
			retryKey:    r.Header.Get("X-Line-Retry-Key"),
			contentType: r.Header.Get("Content-Type"),
		}
		if err := json.Unmarshal(data, &req.body); err != nil {
			t.Errorf("fake LINE: request body %q: %v", data, err)
		}
		seen <- req
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Line-Request-Id", "3a785346-2cf3-482f-8cd4-dd9a2d4d4bb4")
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv, seen
}

func sender(t *testing.T, apiBase string, timeout time.Duration) *line.Channel {
	t.Helper()
	ch, err := line.New(line.Config{
		ID: channelID, Secrets: []string{secret}, AccessToken: accessToken,
		APIBase: apiBase, Timeout: timeout,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return ch
}

// checkPush asserts the exact request a push must be.
func checkPush(t *testing.T, got pushRequest, contact, text string) {
	t.Helper()
	if got.method != http.MethodPost || got.path != "/v2/bot/message/push" {
		t.Errorf("request = %s %s, want POST /v2/bot/message/push", got.method, got.path)
	}
	if want := "Bearer " + accessToken; got.auth != want {
		t.Errorf("Authorization = %q, want %q", got.auth, want)
	}
	if !strings.HasPrefix(got.contentType, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", got.contentType)
	}
	if _, err := uuid.Parse(got.retryKey); err != nil || len(got.retryKey) != 36 {
		t.Errorf("X-Line-Retry-Key = %q is not a hyphenated UUID: %v", got.retryKey, err)
	}
	var to string
	if err := json.Unmarshal(got.body["to"], &to); err != nil || to != contact {
		t.Errorf("to = %s, want %q", got.body["to"], contact)
	}
	var messages []map[string]any
	if err := json.Unmarshal(got.body["messages"], &messages); err != nil {
		t.Fatalf("messages = %s: %v", got.body["messages"], err)
	}
	if want := []map[string]any{{"type": "text", "text": text}}; !reflect.DeepEqual(messages, want) {
		t.Errorf("messages = %s, want %v", got.body["messages"], want)
	}
	// Anything else the SDK sends must be LINE's default, not a choice.
	for k, v := range got.body {
		switch k {
		case "to", "messages":
		case "notificationDisabled":
			if string(v) != "false" {
				t.Errorf("notificationDisabled = %s, want false", v)
			}
		case "customAggregationUnits":
			if string(v) != "null" {
				t.Errorf("customAggregationUnits = %s, want null", v)
			}
		default:
			t.Errorf("unexpected request field %q: %s", k, v)
		}
	}
}

func TestSend(t *testing.T) {
	tests := []struct {
		name   string
		answer string
		// wantID is the id Send returns; "" means the retry key.
		wantID string
	}{
		{"sent message id", `{"sentMessages":[{"id":"461230966842064897","quoteToken":"IStG5h1Tz7b..."}]}`, "461230966842064897"},
		{"no sent messages", `{}`, ""},
		{"answer not json", `ok`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, seen := fakeLINE(t, http.StatusOK, tc.answer)
			id, err := sender(t, srv.URL, 0).Send(context.Background(), alice, "Hello, こんにちは")
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := <-seen
			checkPush(t, got, alice, "Hello, こんにちは")
			want := tc.wantID
			if want == "" {
				want = got.retryKey
			}
			if id != want {
				t.Errorf("Send id = %q, want %q", id, want)
			}
		})
	}
}

func TestSendFreshRetryKeys(t *testing.T) {
	srv, seen := fakeLINE(t, http.StatusOK, `{}`)
	ch := sender(t, srv.URL, 0)
	const n = 8
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if _, err := ch.Send(context.Background(), alice, fmt.Sprint("m", i)); err != nil {
				t.Errorf("Send %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	keys := map[string]bool{}
	for range n {
		keys[(<-seen).retryKey] = true
	}
	if len(keys) != n {
		t.Errorf("%d sends used %d distinct retry keys", n, len(keys))
	}
}

func TestSendRefused(t *testing.T) {
	tests := []struct {
		name   string
		status int
		answer string
		want   []string
	}{
		{
			name:   "bad request",
			status: http.StatusBadRequest,
			answer: `{"message":"The request body has 1 error(s)","details":[{"message":"May not be empty","property":"messages[0].text"}]}`,
			want:   []string{"status 400", "The request body has 1 error(s)", "messages[0].text: May not be empty", "3a785346-2cf3-482f-8cd4-dd9a2d4d4bb4"},
		},
		{
			name:   "bad token",
			status: http.StatusUnauthorized,
			answer: `{"message":"Authentication failed. Confirm that the access token in the authorization header is valid."}`,
			want:   []string{"status 401", "Authentication failed."},
		},
		{
			name:   "rate limited",
			status: http.StatusTooManyRequests,
			answer: `{"message":"You have reached your monthly limit."}`,
			want:   []string{"status 429", "You have reached your monthly limit."},
		},
		{
			name:   "plain text error",
			status: http.StatusBadGateway,
			answer: "upstream down",
			want:   []string{"status 502", "upstream down"},
		},
		{
			name:   "echoes the token",
			status: http.StatusForbidden,
			answer: `{"message":"token ` + accessToken + ` is not allowed"}`,
			want:   []string{"status 403", "[redacted]"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, seen := fakeLINE(t, tc.status, tc.answer)
			id, err := sender(t, srv.URL, 0).Send(context.Background(), alice, "hi")
			if !errors.Is(err, channels.ErrPlatform) {
				t.Fatalf("Send = %q, %v; want ErrPlatform", id, err)
			}
			if se := (*channels.StatusError)(nil); !errors.As(err, &se) || se.Code != tc.status {
				t.Errorf("Send error %v carries no StatusError %d", err, tc.status)
			}
			checkPush(t, <-seen, alice, "hi")
			t.Logf("error: %v", err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), accessToken) {
				t.Errorf("error %q holds the access token", err)
			}
		})
	}
}

func TestSendTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	// Cleanups run last in, first out: unblock the handler, then close.
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })

	_, err := sender(t, srv.URL, 200*time.Millisecond).Send(context.Background(), alice, "hi")
	if !errors.Is(err, channels.ErrPlatform) {
		t.Fatalf("Send error = %v, want ErrPlatform", err)
	}
	t.Logf("error: %v", err)
	if !strings.Contains(err.Error(), "line push: timeout") {
		t.Errorf("error %q does not say it timed out", err)
	}
	if strings.Contains(err.Error(), accessToken) {
		t.Errorf("error %q holds the access token", err)
	}
}

func TestSendCallerContext(t *testing.T) {
	srv, _ := fakeLINE(t, http.StatusOK, `{}`)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := sender(t, srv.URL, 0).Send(ctx, alice, "hi")
	if !errors.Is(err, channels.ErrPlatform) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Send error = %v, want ErrPlatform and context.Canceled", err)
	}
}

func TestSendUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	_, err := sender(t, url, 0).Send(context.Background(), alice, "hi")
	if !errors.Is(err, channels.ErrPlatform) {
		t.Fatalf("Send error = %v, want ErrPlatform", err)
	}
	if strings.Contains(err.Error(), accessToken) {
		t.Errorf("error %q holds the access token", err)
	}
}

func TestSendGivenHTTPClient(t *testing.T) {
	srv, seen := fakeLINE(t, http.StatusOK, `{}`)
	used := false
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		used = true
		return http.DefaultTransport.RoundTrip(r)
	})}
	ch, err := line.New(line.Config{ID: channelID, Secrets: []string{secret}, AccessToken: accessToken,
		APIBase: srv.URL, HTTPClient: client})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if _, err := ch.Send(context.Background(), "Ca56f94637cc4347f90a25382909b24b9", "to the group"); err != nil {
		t.Fatalf("Send: %v", err)
	}
	checkPush(t, <-seen, "Ca56f94637cc4347f90a25382909b24b9", "to the group")
	if !used {
		t.Error("Send did not use the configured HTTP client")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
