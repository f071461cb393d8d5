package testkit_test

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/hookwall/hookwall/channels"
	"github.com/hookwall/hookwall/gateway"
	"github.com/hookwall/hookwall/internal/testkit"
)

var (
	_ gateway.Channel    = (*testkit.Channel)(nil)
	_ gateway.Handshaker = (*testkit.HandshakeChannel)(nil)
)

func TestChannelReceive(t *testing.T) {
	ch := testkit.NewChannel("line-main", 1024)
	good := http.Header{"X-Fake-Signature": {"good"}}
	tests := []struct {
		name    string
		header  http.Header
		body    string
		wantErr error
	}{
		{"good", good, `[{"contact":"U1","id":"ev1","type":"message","message":{"id":"m1","type":"text","text":"hi"}},{"id":"ev2","type":"join"}]`, nil},
		{"no events", good, `[]`, nil},
		{"bad signature", http.Header{"X-Fake-Signature": {"bad"}}, `[]`, channels.ErrBadSignature},
		{"no signature", http.Header{}, `[]`, channels.ErrBadSignature},
		{"not a list of events", good, `{"contact":"U1"}`, channels.ErrMalformed},
		{"not JSON", good, `[`, channels.ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := ch.Receive(tc.header, []byte(tc.body))
			if !errors.Is(err, tc.wantErr) || (err != nil) != (tc.wantErr != nil) {
				t.Fatalf("Receive = %v, want %v", err, tc.wantErr)
			}
			for _, e := range evs {
				if e.Channel != "line-main" {
					t.Errorf("event %s has channel %q, want line-main", e.ID, e.Channel)
				}
			}
		})
	}
	evs, _ := ch.Receive(good, []byte(`[{"contact":"U1","id":"ev1","type":"message","message":{"id":"m1","type":"text","text":"hi"}}]`))
	if len(evs) != 1 || evs[0].Contact != "U1" || evs[0].ID != "ev1" || evs[0].Message == nil || evs[0].Message.Text != "hi" {
		t.Errorf("events = %+v, want U1's message hi", evs)
	}
	if ch.ID() != "line-main" || ch.Type() != "fake" || ch.MaxBodyBytes() != 1024 {
		t.Errorf("ID, Type, MaxBodyBytes = %q, %q, %d", ch.ID(), ch.Type(), ch.MaxBodyBytes())
	}
	ch.MaxBody = 1 << 20
	if ch.MaxBodyBytes() != 1<<20 {
		t.Errorf("MaxBodyBytes = %d after changing MaxBody", ch.MaxBodyBytes())
	}
}

func TestChannelSend(t *testing.T) {
	ch := testkit.NewChannel("line-main", 1024)
	if id, err := ch.Send(t.Context(), "U1", "hello"); err != nil || id != "msg-1" {
		t.Fatalf("Send = %q, %v", id, err)
	}
	refused := errors.New("refused")
	ch.FailSend(refused)
	if _, err := ch.Send(t.Context(), "U2", "lost"); !errors.Is(err, refused) {
		t.Fatalf("Send after FailSend = %v, want %v", err, refused)
	}
	ch.FailSend(nil)
	if _, err := ch.Send(t.Context(), "U3", "again"); err != nil {
		t.Fatalf("Send after FailSend(nil) = %v", err)
	}
	want := []testkit.Sent{{Contact: "U1", Text: "hello"}, {Contact: "U3", Text: "again"}}
	if got := ch.Sent(); !slices.Equal(got, want) {
		t.Errorf("Sent = %v, want %v (a failed send is not recorded)", got, want)
	}
	ch.Reset()
	if got := ch.Sent(); len(got) != 0 {
		t.Errorf("Sent after Reset = %v, want none", got)
	}
}

func TestHandshakeChannel(t *testing.T) {
	c := testkit.NewHandshakeChannel("wa", 10, "verify-me")
	q := url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {"verify-me"}, "hub.challenge": {"42"}}
	if got, err := c.Handshake(q); err != nil || got != "42" {
		t.Errorf("handshake = %q, %v; want the challenge", got, err)
	}
	for _, bad := range []url.Values{
		{"hub.mode": {"unsubscribe"}, "hub.verify_token": {"verify-me"}, "hub.challenge": {"42"}},
		{"hub.mode": {"subscribe"}, "hub.verify_token": {"wrong"}, "hub.challenge": {"42"}},
		{"hub.mode": {"subscribe"}, "hub.verify_token": {"verify-me"}},
	} {
		if _, err := c.Handshake(bad); !errors.Is(err, channels.ErrHandshake) {
			t.Errorf("handshake %v: %v, want ErrHandshake", bad, err)
		}
	}
}
