package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// env is a getenv over a fixed map.
func env(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

func noEnv(string) (string, bool) { return "", false }

func TestLoadExample(t *testing.T) {
	cfg, err := Load(filepath.Join("..", "examples", "hookwall.yaml"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.Listen != "127.0.0.1:8080" {
		t.Errorf("Listen = %q", cfg.Listen)
	}
	if !cfg.Redis.Embedded() {
		t.Errorf("Redis = %+v, want the embedded store", cfg.Redis)
	}
	if !cfg.Settings.Enabled() {
		t.Error("block_contact_enabled is false")
	}
	var roles []string
	for _, tok := range cfg.Admin.Tokens {
		roles = append(roles, tok.Role)
	}
	if want := []string{RoleAgent, RoleSupervisor, RoleAdmin}; !reflect.DeepEqual(roles, want) {
		t.Errorf("admin roles = %v, want %v", roles, want)
	}
	want := []struct {
		id, typ, action string
		bot             bool
	}{
		{"line-main", TypeLine, ActionQueue, true},
		{"wa-main", TypeWhatsApp, ActionQueue, false},
		{"web", TypeWebchat, ActionRecord, false},
	}
	if len(cfg.Channels) != len(want) {
		t.Fatalf("%d channels, want %d", len(cfg.Channels), len(want))
	}
	for i, w := range want {
		ch := cfg.Channels[i]
		if ch.ID != w.id || ch.Type != w.typ || ch.BlockedAction != w.action || ch.BotEnabled() != w.bot {
			t.Errorf("channels[%d] = %s/%s/%s bot=%v, want %+v", i, ch.ID, ch.Type, ch.BlockedAction, ch.BotEnabled(), w)
		}
	}
	line := cfg.Channels[0]
	if line.Bot.URL != "http://127.0.0.1:9001/bot" || line.Helpdesk.URL != "http://127.0.0.1:9002/helpdesk" {
		t.Errorf("line-main targets = %q, %q", line.Bot.URL, line.Helpdesk.URL)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !strings.HasPrefix(err.Error(), "config: ") || !strings.Contains(err.Error(), "nope.yaml") {
		t.Fatalf("err = %v, want a config: error naming the file", err)
	}
}

// minimal is the smallest valid file: one channel of each type, nothing
// else, so that every default applies.
const minimal = `
channels:
  - id: l
    type: line
    secret: s
    access_token: t
    helpdesk: {url: "http://h/1"}
  - id: w
    type: whatsapp
    app_secret: a
    verify_token: v
    access_token: t
    phone_number_id: "1"
    bot: {url: "http://b/1"}
    helpdesk: {url: "http://h/2"}
  - id: c
    type: webchat
    secret: whsec_ZXhhbXBsZSB3ZWJjaGF0IGtleSAtIGNoYW5nZSBtZSE=
    outbound_url: "http://o/1"
    helpdesk: {url: "http://h/3"}
`

func TestDefaults(t *testing.T) {
	cfg, err := Parse([]byte(minimal), noEnv)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen", cfg.Listen, "127.0.0.1:8080"},
		{"embedded", cfg.Redis.Embedded(), true},
		{"block_contact_enabled", cfg.Settings.Enabled(), true},
		{"block_contact_enabled set", cfg.Settings.BlockContactEnabled != nil, true},
		{"console enabled", cfg.Console.IsEnabled(), true},
		{"console enabled set", cfg.Console.Enabled != nil, true},
		{"delivery.timeout", cfg.Delivery.Timeout.Std(), 10 * time.Second},
		{"delivery.max_attempts", cfg.Delivery.MaxAttempts, 10},
		{"delivery.backoff_min", cfg.Delivery.BackoffMin.Std(), 500 * time.Millisecond},
		{"delivery.backoff_max", cfg.Delivery.BackoffMax.Std(), time.Minute},
		{"delivery.parallelism", cfg.Delivery.Parallelism, 16},
		{"shutdown.grace", cfg.Shutdown.Grace.Std(), 20 * time.Second},
		{"tickets.max_messages", cfg.Tickets.MaxMessages, 1000},
		{"line api_base", cfg.Channels[0].APIBase, "https://api.line.me"},
		{"whatsapp api_base", cfg.Channels[1].APIBase, "https://graph.facebook.com/v21.0"},
		{"webchat api_base", cfg.Channels[2].APIBase, ""},
		{"line dedupe_window", cfg.Channels[0].DedupeWindow.Std(), 24 * time.Hour},
		{"whatsapp dedupe_window", cfg.Channels[1].DedupeWindow.Std(), 168 * time.Hour},
		{"webchat dedupe_window", cfg.Channels[2].DedupeWindow.Std(), 24 * time.Hour},
		{"blocked_action", cfg.Channels[0].BlockedAction, "queue"},
		{"max_body_bytes", cfg.Channels[0].MaxBodyBytes, 0},
		{"no bot", cfg.Channels[0].BotEnabled(), false},
		{"bot enabled", cfg.Channels[1].BotEnabled(), true},
		{"bot enabled set", cfg.Channels[1].Bot.Enabled != nil, true},
		{"helpdesk enabled", cfg.Channels[0].Helpdesk.IsEnabled(), true},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if !reflect.DeepEqual(c.got, c.want) {
				t.Errorf("got %v, want %v", c.got, c.want)
			}
		})
	}
}

func TestFullFile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "full.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse(data, env(map[string]string{"BOB_TOKEN": "SECRET-admin-token-bob", "LINE_SECRET_3": "SECRET-line-secret-3"}))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	line, wa, web := cfg.Channels[0], cfg.Channels[1], cfg.Channels[2]
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen", cfg.Listen, ":9090"},
		{"sentinel", cfg.Redis.MasterName, "mymaster"},
		{"redis.db", cfg.Redis.DB, 2},
		{"block_contact_enabled", cfg.Settings.Enabled(), false},
		{"admin token from env", cfg.Admin.Tokens[1].Token, "SECRET-admin-token-bob"},
		{"line secrets", line.AllSecrets(), []string{"SECRET-line-secret-1", "SECRET-line-secret-2", "SECRET-line-secret-3"}},
		{"line api_base kept", line.APIBase, "http://127.0.0.1:9100/line"},
		{"line dedupe_window", line.DedupeWindow.Std(), 36 * time.Hour},
		{"line max_body_bytes", line.MaxBodyBytes, 2 << 20},
		{"limits", cfg.Limits, Limits{AdminBodyBytes: 32 << 10, BodyBytesInFlight: 16 << 20, MaxConnections: 500, MaxConnectionsPerIP: 50}},
		{"bot disabled", line.BotEnabled(), false},
		{"bot is there", line.Bot != nil && line.Bot.URL != "", true},
		{"app secrets", wa.AllAppSecrets(), []string{"SECRET-wa-app-secret-1", "SECRET-wa-app-secret-2"}},
		{"verify tokens", wa.AllVerifyTokens(), []string{"SECRET-wa-verify-token-1", "SECRET-wa-verify-token-2"}},
		{"numeric phone_number_id", wa.PhoneNumberID, "100000000000001"},
		{"webchat secrets only as a list", web.AllSecrets(), []string{
			"whsec_U0VDUkVULXdlYmNoYXQta2V5LTEtMDAwMDAwMDAw",
			"whsec_U0VDUkVULXdlYmNoYXQta2V5LTItMDAwMDAwMDAw",
		}},
		{"delivery.backoff_max", cfg.Delivery.BackoffMax.Std(), time.Minute},
		{"delivery.parallelism", cfg.Delivery.Parallelism, 4},
		{"shutdown.grace", cfg.Shutdown.Grace.Std(), 45 * time.Second},
		{"console disabled", cfg.Console.IsEnabled(), false},
		{"tickets.max_messages", cfg.Tickets.MaxMessages, 250},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if !reflect.DeepEqual(c.got, c.want) {
				t.Errorf("got %v, want %v", c.got, c.want)
			}
		})
	}
}

func TestHelpers(t *testing.T) {
	f, tr := false, true
	tests := []struct {
		name      string
		got, want any
	}{
		{"AllSecrets empty", Channel{}.AllSecrets(), []string{}},
		{"AllSecrets secret first", Channel{Secret: "a", Secrets: []string{"b", "c"}}.AllSecrets(), []string{"a", "b", "c"}},
		{"AllSecrets list only", Channel{Secrets: []string{"b"}}.AllSecrets(), []string{"b"}},
		{"AllAppSecrets", Channel{AppSecret: "a", AppSecrets: []string{"b"}}.AllAppSecrets(), []string{"a", "b"}},
		{"AllVerifyTokens", Channel{VerifyToken: "a", VerifyTokens: []string{"b"}}.AllVerifyTokens(), []string{"a", "b"}},
		{"Target nil enabled", Target{}.IsEnabled(), true},
		{"Target enabled", Target{Enabled: &tr}.IsEnabled(), true},
		{"Target disabled", Target{Enabled: &f}.IsEnabled(), false},
		{"Settings nil", Settings{}.Enabled(), true},
		{"Settings false", Settings{BlockContactEnabled: &f}.Enabled(), false},
		{"Console nil", Console{}.IsEnabled(), true},
		{"Console false", Console{Enabled: &f}.IsEnabled(), false},
		{"BotEnabled no bot", Channel{}.BotEnabled(), false},
		{"BotEnabled disabled", Channel{Bot: &Target{Enabled: &f}}.BotEnabled(), false},
		{"BotEnabled", Channel{Bot: &Target{}}.BotEnabled(), true},
		{"Embedded", Redis{}.Embedded(), true},
		{"not Embedded", Redis{Addrs: []string{"a:1"}}.Embedded(), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !reflect.DeepEqual(tc.got, tc.want) {
				t.Errorf("got %#v, want %#v", tc.got, tc.want)
			}
		})
	}
}

func TestAllSecretsDoesNotAlias(t *testing.T) {
	ch := Channel{Secret: "a", Secrets: make([]string, 1, 4)}
	ch.Secrets[0] = "b"
	all := ch.AllSecrets()
	all[1] = "changed"
	if ch.Secrets[0] != "b" {
		t.Fatal("AllSecrets shares its result with Secrets")
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{in: "500ms", want: 500 * time.Millisecond},
		{in: "24h", want: 24 * time.Hour},
		{in: "1m30s", want: 90 * time.Second},
		{in: `"10s"`, want: 10 * time.Second},
		{in: "0", want: 0},
		{in: "10", err: `config: line 22: shutdown.grace: must be a duration such as "10s" or "500ms", got "10"`},
		{in: "ten seconds", err: `config: line 22: shutdown.grace: must be a duration such as "10s" or "500ms", got "ten seconds"`},
		{in: "[1s]", err: `config: line 22: shutdown.grace: must be a duration such as "10s" or "500ms"`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			cfg, err := Parse([]byte(minimal+"shutdown:\n  grace: "+tc.in+"\n"), noEnv)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err = %v, want %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want := tc.want
			if want == 0 {
				want = DefaultShutdownGrace
			}
			if got := cfg.Shutdown.Grace.Std(); got != want {
				t.Errorf("grace = %v, want %v", got, want)
			}
		})
	}
}
