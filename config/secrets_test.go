package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestEnvSecrets(t *testing.T) {
	vars := map[string]string{
		"LINE_SECRET":   "from-env-line-secret",
		"LINE_SECRET_2": "from-env-line-secret-2",
		"LINE_TOKEN":    "from-env-line-token",
		"WEB_KEY":       key24,
		"ADMIN_TOKEN":   "from-env-admin-token-0001",
		"REDIS_URL":     "redis://127.0.0.1:6379/1",
		"REDIS_PASS":    "from-env-redis-password",
		"EMPTY":         "",
	}
	lineWith := func(field, value string) string {
		return strings.Replace(lineCh, "    "+field+": ", "    "+field+": "+value+" #", 1)
	}
	tests := []struct {
		name  string
		yaml  string
		check func(*Config) (got, want string)
		err   string
	}{
		{
			name:  "channel secret",
			yaml:  file("", lineWith("secret", "${LINE_SECRET}")),
			check: func(c *Config) (string, string) { return c.Channels[0].Secret, "from-env-line-secret" },
		},
		{
			name:  "quoted reference",
			yaml:  file("", lineWith("access_token", `"${LINE_TOKEN}"`)),
			check: func(c *Config) (string, string) { return c.Channels[0].AccessToken, "from-env-line-token" },
		},
		{
			name:  "list item",
			yaml:  file("", lineCh+"\n    secrets: [\"${LINE_SECRET_2}\"]"),
			check: func(c *Config) (string, string) { return c.Channels[0].Secrets[0], "from-env-line-secret-2" },
		},
		{
			name:  "webchat key is validated after resolution",
			yaml:  file("", strings.Replace(webCh, "whsec_ZXhhbXBsZSB3ZWJjaGF0IGtleSAtIGNoYW5nZSBtZSE=", "${WEB_KEY}", 1)),
			check: func(c *Config) (string, string) { return c.Channels[0].Secret, key24 },
		},
		{
			name:  "target secret",
			yaml:  file("", lineCh+"\n    bot: {url: \"http://b\", secret: \"${WEB_KEY}\"}"),
			check: func(c *Config) (string, string) { return c.Channels[0].Bot.Secret, key24 },
		},
		{
			name:  "admin token",
			yaml:  file(tokens(tok("a", "admin", "${ADMIN_TOKEN}")), lineCh),
			check: func(c *Config) (string, string) { return c.Admin.Tokens[0].Token, "from-env-admin-token-0001" },
		},
		{
			name: "redis url and password",
			yaml: file("redis: {url: \"${REDIS_URL}\", password: \"${REDIS_PASS}\"}", lineCh),
			check: func(c *Config) (string, string) {
				return c.Redis.URL + " " + c.Redis.Password, vars["REDIS_URL"] + " " + vars["REDIS_PASS"]
			},
		},
		{
			name:  "only the whole value is a reference",
			yaml:  file("", lineWith("secret", `"x${LINE_SECRET}"`)),
			check: func(c *Config) (string, string) { return c.Channels[0].Secret, "x${LINE_SECRET}" },
		},
		{
			name: "not a secret field",
			yaml: file("", strings.Replace(lineCh, "line-main", `"${LINE_SECRET}"`, 1)),
			err:  `config: channels[0].id: must be 1 to 64 lower-case letters, digits, '-' or '_', starting with a letter or digit, got "${LINE_SECRET}"`,
		},
		{
			name: "unset variable",
			yaml: file("", lineWith("secret", "${NOPE}")),
			err:  "config: channels[0].secret: environment variable NOPE is not set",
		},
		{
			name: "empty variable",
			yaml: file("", lineCh+"\n    bot: {url: \"http://b\", secret: \"${EMPTY}\"}"),
			err:  "config: channels[0].bot.secret: environment variable EMPTY is empty",
		},
		{
			name: "unset in a list",
			yaml: file("", waCh+"\n    verify_tokens: [a, \"${NOPE_2}\"]"),
			err:  "config: channels[0].verify_tokens[1]: environment variable NOPE_2 is not set",
		},
		{
			name: "unset admin token",
			yaml: file(tokens(tok("a", "admin", "${NOPE}")), lineCh),
			err:  "config: admin.tokens[0].token: environment variable NOPE is not set",
		},
		{
			name: "unset redis password",
			yaml: file("redis: {addrs: [\"h:1\"], password: \"${NOPE}\"}", lineCh),
			err:  "config: redis.password: environment variable NOPE is not set",
		},
		{
			name: "invalid name",
			yaml: file("", lineWith("access_token", `"${1BAD}"`)),
			err:  "config: channels[0].access_token: not a valid ${NAME} reference: NAME is letters, digits and '_', not starting with a digit",
		},
		{
			name: "empty name",
			yaml: file("", lineWith("access_token", `"${}"`)),
			err:  "config: channels[0].access_token: not a valid ${NAME} reference: NAME is letters, digits and '_', not starting with a digit",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tc.yaml), env(vars))
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err = %v\nwant  %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v\n%s", err, tc.yaml)
			}
			if got, want := tc.check(cfg); got != want {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
}

func TestLoadUsesProcessEnvironment(t *testing.T) {
	t.Setenv("HOOKWALL_TEST_LINE_SECRET", "from-process-env")
	path := filepath.Join(t.TempDir(), "hookwall.yaml")
	data := file("", strings.Replace(lineCh, "secret: line-secret", "secret: ${HOOKWALL_TEST_LINE_SECRET}", 1))
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got := cfg.Channels[0].Secret; got != "from-process-env" {
		t.Errorf("secret = %q", got)
	}
}

func TestRedacted(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "full.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse(data, env(map[string]string{"BOB_TOKEN": "SECRET-admin-token-bob", "LINE_SECRET_3": "SECRET-line-secret-3"}))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	var secrets []string
	for _, f := range cfg.secretFields() {
		if *f.ptr != "" && !f.url {
			secrets = append(secrets, *f.ptr)
		}
	}
	if len(secrets) < 15 {
		t.Fatalf("only %d secrets in testdata/full.yaml: %q", len(secrets), secrets)
	}
	before := cfg.Redacted()
	secrets = append(secrets, "SECRET-bot-url-password")

	out := cfg.Redacted()
	if out != before {
		t.Error("Redacted changed the config it was called on")
	}
	for _, s := range secrets {
		t.Run(s, func(t *testing.T) {
			if strings.Contains(out, s) {
				t.Errorf("Redacted shows %q:\n%s", s, out)
			}
		})
	}
	// Beyond the listed values: nothing secret-looking survives.
	if strings.Contains(out, "SECRET") || strings.Contains(out, "whsec_") {
		t.Errorf("Redacted shows a secret:\n%s", out)
	}
	for _, want := range []string{"***", "line-main", "https://botuser:***@bot.example.com/hook", "mymaster", "name: bob"} {
		if !strings.Contains(out, want) {
			t.Errorf("Redacted lacks %q:\n%s", want, out)
		}
	}
	if got := cfg.Channels[0].Secret; got != "SECRET-line-secret-1" {
		t.Errorf("Redacted changed the config: secret = %q", got)
	}
	if got := cfg.Channels[0].Bot.URL; !strings.Contains(got, "SECRET-bot-url-password") {
		t.Errorf("Redacted changed the config: bot url = %q", got)
	}
}

func TestRedactedRedisURL(t *testing.T) {
	tests := []struct {
		name, url, want string
	}{
		{"password", "redis://user:SECRET-pw@127.0.0.1:6379/0", "redis://user:***@127.0.0.1:6379/0"},
		{"password only", "rediss://:SECRET-pw@r.example:6380", "rediss://:***@r.example:6380"},
		{"no password", "redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(file("redis: {url: \""+tc.url+"\"}", lineCh)), noEnv)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			out := cfg.Redacted()
			if strings.Contains(out, "SECRET") || !strings.Contains(out, tc.want) {
				t.Errorf("Redacted shows redis url wrongly, want %s:\n%s", tc.want, out)
			}
		})
	}
}

func TestRedactedKeepsTheSchema(t *testing.T) {
	// Operators compare the redacted form with their file: it must use the
	// same keys and value shapes.
	cfg, err := Load(filepath.Join("..", "examples", "hookwall.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	root, err := parseDocument([]byte(cfg.Redacted()))
	if err != nil {
		t.Fatal(err)
	}
	if err := (&checker{}).node(root, reflect.TypeFor[Config](), ""); err != nil {
		t.Fatalf("Redacted output does not fit the schema: %v", err)
	}
}
