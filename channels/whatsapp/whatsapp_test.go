package whatsapp_test

import (
	"strings"
	"testing"
	"time"

	"github.com/hookwall/hookwall/channels/whatsapp"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*whatsapp.Config)
		field string // named in the error
	}{
		{"no id", func(c *whatsapp.Config) { c.ID = "" }, "ID"},
		{"no app secrets", func(c *whatsapp.Config) { c.AppSecrets = nil }, "AppSecrets"},
		{"empty app secret", func(c *whatsapp.Config) { c.AppSecrets = []string{appSecret, ""} }, "AppSecrets[1]"},
		{"no verify tokens", func(c *whatsapp.Config) { c.VerifyTokens = []string{} }, "VerifyTokens"},
		{"empty verify token", func(c *whatsapp.Config) { c.VerifyTokens = []string{""} }, "VerifyTokens[0]"},
		{"no access token", func(c *whatsapp.Config) { c.AccessToken = "" }, "AccessToken"},
		{"no phone number id", func(c *whatsapp.Config) { c.PhoneNumberID = "" }, "PhoneNumberID"},
		{"api base without scheme", func(c *whatsapp.Config) { c.APIBase = "graph.facebook.com/v21.0" }, "APIBase"},
		{"api base ftp", func(c *whatsapp.Config) { c.APIBase = "ftp://graph.facebook.com" }, "APIBase"},
		{"api base with query", func(c *whatsapp.Config) { c.APIBase = "https://graph.facebook.com/v21.0?x=1" }, "APIBase"},
		{"api base unparsable", func(c *whatsapp.Config) { c.APIBase = "https://[::1" }, "APIBase"},
		{"negative body limit", func(c *whatsapp.Config) { c.MaxBodyBytes = -1 }, "MaxBodyBytes"},
		{"negative timeout", func(c *whatsapp.Config) { c.Timeout = -time.Second }, "Timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := whatsapp.Config{
				ID:            channelID,
				AppSecrets:    []string{appSecret},
				VerifyTokens:  []string{verifyToken},
				AccessToken:   accessToken,
				PhoneNumberID: phoneNumberID,
			}
			tc.edit(&cfg)
			ch, err := whatsapp.New(cfg)
			if err == nil {
				t.Fatalf("New = %v, want an error", ch)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Errorf("error %q does not name %s", err, tc.field)
			}
			for _, secret := range []string{appSecret, verifyToken, accessToken} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q contains a secret", err)
				}
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	ch := newChannel(t, nil)
	if got := ch.ID(); got != channelID {
		t.Errorf("ID = %q, want %q", got, channelID)
	}
	if got := ch.Type(); got != "whatsapp" {
		t.Errorf("Type = %q, want whatsapp", got)
	}
	if got := ch.MaxBodyBytes(); got != 4<<20 {
		t.Errorf("MaxBodyBytes = %d, want %d", got, 4<<20)
	}
	ch = newChannel(t, func(c *whatsapp.Config) { c.MaxBodyBytes = 1024 })
	if got := ch.MaxBodyBytes(); got != 1024 {
		t.Errorf("MaxBodyBytes = %d, want 1024", got)
	}
}

// New keeps its own copy of the secrets: the caller's slice may be reused.
func TestNewCopiesSecrets(t *testing.T) {
	secrets := []string{appSecret}
	ch := newChannel(t, func(c *whatsapp.Config) { c.AppSecrets = secrets })
	secrets[0] = "changed"
	body := readTestdata(t, "text.json")
	if _, err := ch.Receive(headerWith(sign(appSecret, body)), body); err != nil {
		t.Fatalf("Receive after the caller changed its slice: %v", err)
	}
}
