package whatsapp_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/hookwall/hookwall/channels"
)

func TestHandshake(t *testing.T) {
	const challenge = "1158201444"
	tests := []struct {
		name    string
		query   string
		want    string
		wantErr bool
	}{
		{"current token", "hub.mode=subscribe&hub.challenge=" + challenge + "&hub.verify_token=" + verifyToken, challenge, false},
		{"previous token (rotation)", "hub.mode=subscribe&hub.challenge=" + challenge + "&hub.verify_token=" + oldVerify, challenge, false},
		{"challenge returned as given", "hub.mode=subscribe&hub.challenge=a%20b%3Cc%3E&hub.verify_token=" + verifyToken, "a b<c>", false},
		{"wrong token", "hub.mode=subscribe&hub.challenge=" + challenge + "&hub.verify_token=guess", "", true},
		{"token prefix", "hub.mode=subscribe&hub.challenge=" + challenge + "&hub.verify_token=" + verifyToken[:5], "", true},
		{"token with suffix", "hub.mode=subscribe&hub.challenge=" + challenge + "&hub.verify_token=" + verifyToken + "x", "", true},
		{"empty token", "hub.mode=subscribe&hub.challenge=" + challenge + "&hub.verify_token=", "", true},
		{"no token", "hub.mode=subscribe&hub.challenge=" + challenge, "", true},
		{"no mode", "hub.challenge=" + challenge + "&hub.verify_token=" + verifyToken, "", true},
		{"other mode", "hub.mode=unsubscribe&hub.challenge=" + challenge + "&hub.verify_token=" + verifyToken, "", true},
		{"mode in other case", "hub.mode=Subscribe&hub.challenge=" + challenge + "&hub.verify_token=" + verifyToken, "", true},
		{"no challenge", "hub.mode=subscribe&hub.verify_token=" + verifyToken, "", true},
		{"empty query", "", "", true},
	}
	ch := newChannel(t, nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ch.Handshake(q)
			if tc.wantErr {
				if !errors.Is(err, channels.ErrHandshake) {
					t.Fatalf("Handshake error = %v, want %v", err, channels.ErrHandshake)
				}
				if got != "" {
					t.Errorf("Handshake returned %q with an error", got)
				}
				if strings.Contains(err.Error(), verifyToken) {
					t.Errorf("error %q contains the verify token", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Handshake: %v", err)
			}
			if got != tc.want {
				t.Errorf("Handshake = %q, want %q", got, tc.want)
			}
		})
	}
}
