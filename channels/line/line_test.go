package line_test

import (
	"strings"
	"testing"
	"time"

	"github.com/hookwall/hookwall/channels/line"
	"github.com/hookwall/hookwall/gateway"
)

// The adapter is a gateway channel; checked here so that package line itself
// does not import gateway.
var _ gateway.Channel = (*line.Channel)(nil)

func TestNewDefaults(t *testing.T) {
	secrets := []string{"s1"}
	ch, err := line.New(line.Config{ID: "line-main", Secrets: secrets, AccessToken: "tok"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if got := ch.ID(); got != "line-main" {
		t.Errorf("ID() = %q, want line-main", got)
	}
	if got := ch.Type(); got != "line" {
		t.Errorf("Type() = %q, want line", got)
	}
	if got := ch.MaxBodyBytes(); got != 1<<20 {
		t.Errorf("MaxBodyBytes() = %d, want %d", got, 1<<20)
	}

	// The channel keeps its own copy of the secrets.
	body := []byte(`{"destination":"U1","events":[]}`)
	h := header(sign("s1", body))
	secrets[0] = "changed"
	if _, err := ch.Receive(h, body); err != nil {
		t.Errorf("Receive after the caller changed its slice: %v", err)
	}
}

func TestNewMaxBodyBytes(t *testing.T) {
	ch, err := line.New(line.Config{ID: "l", Secrets: []string{"s"}, AccessToken: "t", MaxBodyBytes: 4096})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if got := ch.MaxBodyBytes(); got != 4096 {
		t.Errorf("MaxBodyBytes() = %d, want 4096", got)
	}
}

func TestNewInvalid(t *testing.T) {
	valid := func() line.Config {
		return line.Config{ID: "line-main", Secrets: []string{"s"}, AccessToken: "secret-token"}
	}
	tests := []struct {
		name   string
		mutate func(*line.Config)
		want   string
	}{
		{"no id", func(c *line.Config) { c.ID = "" }, "id is required"},
		{"no secrets", func(c *line.Config) { c.Secrets = nil }, "at least one secret"},
		{"empty secret", func(c *line.Config) { c.Secrets = []string{"s", ""} }, "secret 1 is empty"},
		{"no access token", func(c *line.Config) { c.AccessToken = "" }, "access token is required"},
		{"relative api base", func(c *line.Config) { c.APIBase = "api.line.me" }, "api base"},
		{"ftp api base", func(c *line.Config) { c.APIBase = "ftp://api.line.me" }, "api base"},
		{"api base without host", func(c *line.Config) { c.APIBase = "https://" }, "api base"},
		{"negative body limit", func(c *line.Config) { c.MaxBodyBytes = -1 }, "max body bytes"},
		{"negative timeout", func(c *line.Config) { c.Timeout = -time.Second }, "timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := valid()
			tc.mutate(&cfg)
			ch, err := line.New(cfg)
			if err == nil {
				t.Fatalf("New = %v, nil; want an error", ch)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New error = %q, want it to mention %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "secret-token") {
				t.Errorf("New error %q holds the access token", err)
			}
		})
	}
}
