package config

import (
	"errors"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Valid channels of each type; a case appends lines to one of them to add
// fields (four spaces of indentation) or builds a file around them.
const (
	lineCh = `
  - id: line-main
    type: line
    secret: line-secret
    access_token: line-token
    helpdesk: {url: "http://127.0.0.1:9002/h"}`
	waCh = `
  - id: wa-main
    type: whatsapp
    app_secret: wa-app-secret
    verify_token: wa-verify
    access_token: wa-token
    phone_number_id: "1"
    helpdesk: {url: "http://127.0.0.1:9002/h"}`
	webCh = `
  - id: web
    type: webchat
    secret: whsec_ZXhhbXBsZSB3ZWJjaGF0IGtleSAtIGNoYW5nZSBtZSE=
    outbound_url: "http://127.0.0.1:9003/o"
    helpdesk: {url: "http://127.0.0.1:9002/h"}`
	// key24 is a valid Standard Webhooks key of 24 bytes.
	key24 = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)

// file is a config with the given top-level text and channels.
func file(top string, channels ...string) string {
	return top + "\nchannels:" + strings.Join(channels, "") + "\n"
}

// tokens is an admin section with the given token entries.
func tokens(entries ...string) string {
	return "admin:\n  tokens:\n" + strings.Join(entries, "")
}

func tok(name, role, token string) string {
	return "    - {name: \"" + name + "\", role: \"" + role + "\", token: \"" + token + "\"}\n"
}

func TestValid(t *testing.T) {
	tests := []struct {
		name string
		yaml string
	}{
		{"one line channel", file("", lineCh)},
		{"all types", file("", lineCh, waCh, webCh)},
		{"rotation lists only", file("", `
  - id: l2
    type: line
    secrets: [a, b]
    access_token: t
    helpdesk: {url: "https://h.example/x"}
  - id: w2
    type: whatsapp
    app_secrets: [a, b]
    verify_tokens: [v, w]
    access_token: t
    phone_number_id: "1"
    helpdesk: {url: "https://h.example/x"}
  - id: c2
    type: webchat
    secrets: [`+key24+`]
    outbound_url: "https://o.example/x"
    helpdesk: {url: "https://h.example/x"}`)},
		{"listen all interfaces", file("listen: \":8080\"", lineCh)},
		{"listen ipv6", file("listen: \"[::1]:0\"", lineCh)},
		{"redis url", file("redis: {url: \"redis://:pw@127.0.0.1:6379/3\"}", lineCh)},
		{"redis url password field", file("redis: {url: \"rediss://r.example:6380\", username: u, password: p}", lineCh)},
		{"redis unix", file("redis: {url: \"unix:///run/redis.sock\"}", lineCh)},
		{"redis cluster", file("redis: {addrs: [\"h1:7000\", \"h2:7001\"], password: p}", lineCh)},
		{"redis one addr db", file("redis: {addrs: [\"h1:6379\"], db: 4}", lineCh)},
		{"redis sentinel", file("redis: {addrs: [\"h1:26379\"], master_name: m, db: 1}", lineCh)},
		{"admin tokens", file(tokens(tok("a", "agent", "aaaaaaaaaaaaaaaa"), tok("s", "supervisor", "ssssssssssssssss"), tok("x", "admin", "xxxxxxxxxxxxxxxx")), lineCh)},
		{"target secret", file("", lineCh+"\n    bot: {url: \"http://b\", secret: \""+key24+"\", enabled: false}")},
		{"yaml anchors and merge", file("", `
  - &web
    id: web
    type: webchat
    secret: `+key24+`
    outbound_url: "http://o"
    bot: &t {url: "http://b"}
    helpdesk: {url: "http://h"}
  - <<: *web
    id: web2
    helpdesk: *t`)},
		{"explicit document markers", "---\n" + file("", lineCh) + "...\n"},
		{"null sections", file("redis:\nsettings:\nadmin:\ndelivery:\nshutdown:\nconsole:", lineCh+"\n    bot:")},
		{"console disabled", file("console: {enabled: false}", lineCh)},
		{"zero selects defaults", file("delivery: {timeout: 0s, max_attempts: 0}", lineCh)},
		{"ticket bound", file("tickets: {max_messages: 100000}", lineCh)},
		{"ticket bound of one", file("tickets: {max_messages: 1}", lineCh)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse([]byte(tc.yaml), noEnv); err != nil {
				t.Fatalf("Parse: %v\n%s", err, tc.yaml)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string
	}{
		// The file as a whole.
		{"empty file", "", "config: the file is empty"},
		{"only comments", "# nothing\n", "config: the file is empty"},
		{"null document", "~\n", "config: line 1: the file holds no settings"},
		{"two documents", file("", lineCh) + "---\nlisten: \":1\"\n", "config: line 8: a second YAML document starts here; the file must hold exactly one"},
		{"top level list", "- a\n", `config: line 1: the top level must be a mapping of settings such as "listen:" and "channels:", not a list`},
		{"syntax error", "listen: [\n", "config: line 1: did not find expected node content"},
		{"tab indentation", "channels:\n\t- id: x\n", "config: line 2: found character that cannot start any token"},

		// Unknown keys, repeated keys and wrong kinds of value.
		{"unknown top-level key", "listne: x\n" + file("", lineCh), `config: line 1: listne: unknown field (did you mean "listen"?)`},
		{"unknown channel key", file("", lineCh+"\n    secrett: x"), `config: line 8: channels[0].secrett: unknown field (did you mean "secret"?)`},
		{"unknown key no suggestion", file("", lineCh+"\n    colour: blue"), "config: line 8: channels[0].colour: unknown field"},
		{"unknown target key in flow mapping", file("", lineCh+"\n    bot: {url: \"http://b\", enable: true}"), `config: line 8: channels[0].bot.enable: unknown field (did you mean "enabled"?)`},
		{"unknown admin key", "admin:\n  token: x\n" + file("", lineCh), `config: line 2: admin.token: unknown field (did you mean "tokens"?)`},
		{"unknown console key", "console:\n  enable: false\n" + file("", lineCh), `config: line 2: console.enable: unknown field (did you mean "enabled"?)`},
		{"console enabled not a bool", "console: {enabled: yes please}\n" + file("", lineCh), `config: line 1: console.enabled: must be true or false, got "yes please"`},
		{"key set twice", file("", lineCh+"\n    secret: again"), "config: line 8: channels[0].secret: set twice (first on line 5)"},
		{"channels not a list", "channels: {id: x}\n", "config: line 1: channels: must be a list, not a mapping"},
		{"channel not a mapping", "channels: [x]\n", "config: line 1: channels[0]: must be a mapping, not a single value"},
		{"secrets not a list", file("", lineCh+"\n    secrets: abc"), "config: line 8: channels[0].secrets: must be a list, not a single value"},
		{"string given a list", "listen: [a]\n" + file("", lineCh), "config: line 1: listen: must be a single value, not a list"},
		{"int not a number", "delivery: {max_attempts: many}\n" + file("", lineCh), `config: line 1: delivery.max_attempts: must be an integer, got "many"`},
		{"bool not a bool", "settings: {block_contact_enabled: maybe}\n" + file("", lineCh), `config: line 1: settings.block_contact_enabled: must be true or false, got "maybe"`},
		{"duration without unit", file("", lineCh+"\n    dedupe_window: 24"), `config: line 8: channels[0].dedupe_window: must be a duration such as "10s" or "500ms", got "24"`},

		// listen and redis.
		{"listen no port", file("listen: localhost", lineCh), `config: listen: must be host:port, got "localhost"`},
		{"listen bad port", file("listen: \"127.0.0.1:http\"", lineCh), `config: listen: port must be a number from 0 to 65535, got "http"`},
		{"listen port too big", file("listen: \"127.0.0.1:70000\"", lineCh), `config: listen: port must be a number from 0 to 65535, got "70000"`},
		{"redis url and addrs", file("redis: {url: \"redis://h:1\", addrs: [\"h:1\"]}", lineCh), "config: redis.addrs: cannot be combined with redis.url: use url for one server, addrs for Cluster or Sentinel"},
		{"redis master_name without addrs", file("redis: {url: \"redis://h:1\", master_name: m}", lineCh), "config: redis.master_name: requires redis.addrs, the Sentinel addresses"},
		{"redis bad scheme", file("redis: {url: \"http://h:1\"}", lineCh), "config: redis.url: must be a redis://, rediss:// or unix:// URL"},
		{"redis not a url", file("redis: {url: \"h:1\"}", lineCh), "config: redis.url: must be a redis://, rediss:// or unix:// URL"},
		{"redis url without host", file("redis: {url: \"redis:///0\"}", lineCh), "config: redis.url: must name a host, as in redis://127.0.0.1:6379/0"},
		{"redis url bad db", file("redis: {url: \"redis://h:1/zero\"}", lineCh), "config: redis.url: the path must be a database number, as in redis://127.0.0.1:6379/0"},
		{"redis unix without path", file("redis: {url: \"unix://\"}", lineCh), "config: redis.url: must name a socket path, as in unix:///run/redis.sock"},
		{"redis url and db", file("redis: {url: \"redis://h:1\", db: 2}", lineCh), "config: redis.db: with redis.url, give the database in the URL path"},
		{"redis password twice", file("redis: {url: \"redis://:pw@h:1\", password: p}", lineCh), "config: redis.password: also given in redis.url; keep one"},
		{"redis password without server", file("redis: {password: p}", lineCh), "config: redis.password: set without redis.url or redis.addrs; empty url and addrs select the embedded store"},
		{"redis username without server", file("redis: {username: u}", lineCh), "config: redis.username: set without redis.url or redis.addrs; empty url and addrs select the embedded store"},
		{"redis db without server", file("redis: {db: 1}", lineCh), "config: redis.db: set without redis.url or redis.addrs; empty url and addrs select the embedded store"},
		{"negative limit", file("limits: {max_connections_per_ip: -1}", lineCh), "config: limits.max_connections_per_ip: must not be negative (0 keeps the default), got -1"},
		{"redis negative db", file("redis: {addrs: [\"h:1\"], db: -1}", lineCh), "config: redis.db: must not be negative"},
		{"redis negative ack replicas", file("redis: {addrs: [\"h:1\"], ack_replicas: -1}", lineCh), "config: redis.ack_replicas: must not be negative"},
		{"redis ack replicas embedded", file("redis: {ack_replicas: 1}", lineCh), "config: redis.ack_replicas: set without redis.url or redis.addrs: the embedded store has no replicas"},
		{"redis ack timeout under a millisecond", file("redis: {url: \"redis://h:1\", ack_replicas: 1, ack_timeout: 500us}", lineCh), "config: redis.ack_timeout: must be from 1ms to 2s"},
		{"redis ack timeout too long", file("redis: {url: \"redis://h:1\", ack_replicas: 1, ack_timeout: 3s}", lineCh), "config: redis.ack_timeout: must be from 1ms to 2s"},
		{"redis addr without port", file("redis: {addrs: [\"h1:7000\", \"h2\"]}", lineCh), `config: redis.addrs[1]: must be host:port, got "h2"`},
		{"redis addr without host", file("redis: {addrs: [\":7000\"]}", lineCh), `config: redis.addrs[0]: must be host:port with a host, got ":7000"`},
		{"redis cluster db", file("redis: {addrs: [\"h1:7000\", \"h2:7001\"], db: 1}", lineCh), "config: redis.db: Redis Cluster has only database 0"},

		// admin tokens.
		{"token name required", file(tokens(tok("", "agent", "aaaaaaaaaaaaaaaa")), lineCh), "config: admin.tokens[0].name: required"},
		{"token name duplicate", file(tokens(tok("a", "agent", "aaaaaaaaaaaaaaaa"), tok("a", "admin", "bbbbbbbbbbbbbbbb")), lineCh), `config: admin.tokens[1].name: duplicate token name "a" (also admin.tokens[0])`},
		{"token role", file(tokens(tok("a", "root", "aaaaaaaaaaaaaaaa")), lineCh), `config: admin.tokens[0].role: must be one of agent, supervisor, admin, got "root"`},
		{"token role missing", file(tokens(tok("a", "", "aaaaaaaaaaaaaaaa")), lineCh), `config: admin.tokens[0].role: must be one of agent, supervisor, admin, got ""`},
		{"token required", file(tokens(tok("a", "agent", "")), lineCh), "config: admin.tokens[0].token: required"},
		{"token too short", file(tokens(tok("a", "agent", "short-token")), lineCh), "config: admin.tokens[0].token: must be at least 16 characters"},
		{"token whitespace", file(tokens(tok("a", "agent", "aaaaaaaa aaaaaaaa")), lineCh), "config: admin.tokens[0].token: must not contain whitespace"},
		{"token duplicate", file(tokens(tok("a", "agent", "aaaaaaaaaaaaaaaa"), tok("b", "admin", "aaaaaaaaaaaaaaaa")), lineCh), "config: admin.tokens[1].token: same token as admin.tokens[0]; every token must be unique"},

		// channels.
		{"no channels", "listen: \":1\"\n", "config: channels: at least one channel is required"},
		{"empty channel list", "channels: []\n", "config: channels: at least one channel is required"},
		{"id required", file("", "\n  - type: line"), "config: channels[0].id: required"},
		{"id upper case", file("", strings.Replace(lineCh, "line-main", "Line", 1)), `config: channels[0].id: must be 1 to 64 lower-case letters, digits, '-' or '_', starting with a letter or digit, got "Line"`},
		{"id leading dash", file("", strings.Replace(lineCh, "line-main", "-x", 1)), `config: channels[0].id: must be 1 to 64 lower-case letters, digits, '-' or '_', starting with a letter or digit, got "-x"`},
		{"id too long", file("", strings.Replace(lineCh, "line-main", strings.Repeat("a", 65), 1)), `config: channels[0].id: must be 1 to 64 lower-case letters, digits, '-' or '_', starting with a letter or digit, got "` + strings.Repeat("a", 65) + `"`},
		{"id duplicate", file("", lineCh, webCh, strings.Replace(waCh, "wa-main", "web", 1)), `config: channels[2].id: duplicate channel id "web"`},
		{"type required", file("", "\n  - id: x"), "config: channels[0].type: required: one of line, whatsapp, webchat"},
		{"type unknown", file("", strings.Replace(lineCh, "type: line", "type: telegram", 1)), `config: channels[0].type: must be one of line, whatsapp, webchat, got "telegram"`},

		{"line secret required", file("", strings.Replace(lineCh, "secret: line-secret", "", 1)), "config: channels[0].secret: required for type line"},
		{"line access_token required", file("", strings.Replace(lineCh, "access_token: line-token", "", 1)), "config: channels[0].access_token: required for type line"},
		{"line empty secret in list", file("", lineCh+"\n    secrets: [a, \"\"]"), "config: channels[0].secrets[1]: must not be empty"},
		{"line app_secret", file("", lineCh+"\n    app_secret: x"), "config: channels[0].app_secret: not used by type line"},
		{"line app_secrets", file("", lineCh+"\n    app_secrets: [x]"), "config: channels[0].app_secrets: not used by type line"},
		{"line verify_token", file("", lineCh+"\n    verify_token: x"), "config: channels[0].verify_token: not used by type line"},
		{"line phone_number_id", file("", lineCh+"\n    phone_number_id: \"1\""), "config: channels[0].phone_number_id: not used by type line"},
		{"line outbound_url", file("", lineCh+"\n    outbound_url: \"http://o\""), "config: channels[0].outbound_url: not used by type line"},

		{"whatsapp app_secret required", file("", strings.Replace(waCh, "app_secret: wa-app-secret", "", 1)), "config: channels[0].app_secret: required for type whatsapp"},
		{"whatsapp verify_token required", file("", strings.Replace(waCh, "verify_token: wa-verify", "", 1)), "config: channels[0].verify_token: required for type whatsapp"},
		{"whatsapp access_token required", file("", strings.Replace(waCh, "access_token: wa-token", "", 1)), "config: channels[0].access_token: required for type whatsapp"},
		{"whatsapp phone_number_id required", file("", strings.Replace(waCh, "phone_number_id: \"1\"", "", 1)), "config: channels[0].phone_number_id: required for type whatsapp"},
		{"whatsapp empty app secret in list", file("", waCh+"\n    app_secrets: [\"\"]"), "config: channels[0].app_secrets[0]: must not be empty"},
		{"whatsapp empty verify token in list", file("", waCh+"\n    verify_tokens: [\"\"]"), "config: channels[0].verify_tokens[0]: must not be empty"},
		{"whatsapp secret", file("", waCh+"\n    secret: x"), "config: channels[0].secret: not used by type whatsapp"},
		{"whatsapp secrets", file("", waCh+"\n    secrets: [x]"), "config: channels[0].secrets: not used by type whatsapp"},
		{"whatsapp outbound_url", file("", waCh+"\n    outbound_url: \"http://o\""), "config: channels[0].outbound_url: not used by type whatsapp"},

		{"webchat secret required", file("", strings.Replace(webCh, "secret: "+"whsec_ZXhhbXBsZSB3ZWJjaGF0IGtleSAtIGNoYW5nZSBtZSE=", "", 1)), "config: channels[0].secret: required for type webchat"},
		{"webchat outbound_url required", file("", strings.Replace(webCh, "outbound_url: \"http://127.0.0.1:9003/o\"", "", 1)), "config: channels[0].outbound_url: required for type webchat"},
		{"webchat secret without prefix", file("", strings.Replace(webCh, "whsec_", "", 1)), `config: channels[0].secret: must be a Standard Webhooks key: "whsec_" followed by base64`},
		{"webchat secret bad base64", file("", strings.Replace(webCh, "whsec_", "whsec_!", 1)), `config: channels[0].secret: the part after "whsec_" must be standard base64`},
		{"webchat secret too short", file("", strings.Replace(webCh, "ZXhhbXBsZSB3ZWJjaGF0IGtleSAtIGNoYW5nZSBtZSE=", "c2hvcnQ=", 1)), "config: channels[0].secret: the key must decode to at least 24 bytes, got 5"},
		{"webchat bad key in list", file("", webCh+"\n    secrets: [\""+key24+"\", \"not-a-key\"]"), `config: channels[0].secrets[1]: must be a Standard Webhooks key: "whsec_" followed by base64`},
		{"webchat app_secret", file("", webCh+"\n    app_secret: x"), "config: channels[0].app_secret: not used by type webchat"},
		{"webchat verify_tokens", file("", webCh+"\n    verify_tokens: [x]"), "config: channels[0].verify_tokens: not used by type webchat"},
		{"webchat access_token", file("", webCh+"\n    access_token: x"), "config: channels[0].access_token: not used by type webchat"},
		{"webchat phone_number_id", file("", webCh+"\n    phone_number_id: \"1\""), "config: channels[0].phone_number_id: not used by type webchat"},
		{"webchat api_base", file("", webCh+"\n    api_base: \"http://a\""), "config: channels[0].api_base: not used by type webchat"},
		{"webchat outbound_url relative", file("", strings.Replace(webCh, "http://127.0.0.1:9003/o", "/replies", 1)), "config: channels[0].outbound_url: must be an absolute http or https URL"},

		{"api_base not http", file("", lineCh+"\n    api_base: \"ftp://api.line.me\""), "config: channels[0].api_base: must be an absolute http or https URL"},
		{"api_base without host", file("", waCh+"\n    api_base: \"https://\""), "config: channels[0].api_base: must be an absolute http or https URL"},
		{"blocked_action", file("", lineCh+"\n    blocked_action: drop"), `config: channels[0].blocked_action: must be one of queue, record, got "drop"`},
		{"dedupe_window negative", file("", lineCh+"\n    dedupe_window: -1h"), "config: channels[0].dedupe_window: must be positive, got -1h0m0s"},
		{"max_body_bytes negative", file("", lineCh+"\n    max_body_bytes: -1"), "config: channels[0].max_body_bytes: must not be negative (0 keeps the default)"},

		{"helpdesk required", file("", "\n  - id: x\n    type: line\n    secret: s\n    access_token: t"), "config: channels[0].helpdesk.url: required"},
		{"helpdesk url relative", file("", lineCh, webCh+"\n    bot: {url: \"http://b\"}", strings.Replace(waCh, "http://127.0.0.1:9002/h", "127.0.0.1:9002/h", 1)), "config: channels[2].helpdesk.url: must be an absolute http or https URL"},
		{"helpdesk url scheme", file("", lineCh, strings.Replace(webCh, "http://127.0.0.1:9002/h", "mailto:help@example.com", 1)), "config: channels[1].helpdesk.url: must be an absolute http or https URL"},
		{"helpdesk disabled", file("", strings.Replace(lineCh, `{url: "http://127.0.0.1:9002/h"}`, `{url: "http://127.0.0.1:9002/h", enabled: false}`, 1)), "config: channels[0].helpdesk.enabled: the helpdesk cannot be disabled; only a bot can"},
		{"helpdesk secret", file("", strings.Replace(lineCh, `{url: "http://127.0.0.1:9002/h"}`, `{url: "http://127.0.0.1:9002/h", secret: "plain"}`, 1)), `config: channels[0].helpdesk.secret: must be a Standard Webhooks key: "whsec_" followed by base64`},
		{"bot url required", file("", lineCh+"\n    bot: {enabled: true}"), "config: channels[0].bot.url: required"},
		{"bot url required when disabled", file("", lineCh+"\n    bot: {enabled: false}"), "config: channels[0].bot.url: required"},
		{"bot url bad", file("", lineCh+"\n    bot: {url: \"ws://b\"}"), "config: channels[0].bot.url: must be an absolute http or https URL"},
		{"bot secret", file("", lineCh+"\n    bot: {url: \"http://b\", secret: \"whsec_c2hvcnQ=\"}"), "config: channels[0].bot.secret: the key must decode to at least 24 bytes, got 5"},

		// delivery and shutdown.
		{"delivery timeout", file("delivery: {timeout: -1s}", lineCh), "config: delivery.timeout: must be positive, got -1s"},
		{"delivery max_attempts", file("delivery: {max_attempts: -3}", lineCh), "config: delivery.max_attempts: must be positive"},
		{"delivery backoff_min", file("delivery: {backoff_min: -1ms}", lineCh), "config: delivery.backoff_min: must be positive, got -1ms"},
		{"delivery backoff_max", file("delivery: {backoff_max: -1m}", lineCh), "config: delivery.backoff_max: must be positive, got -1m0s"},
		{"delivery backoff order", file("delivery: {backoff_min: 10m}", lineCh), "config: delivery.backoff_min: 10m0s exceeds delivery.backoff_max 1m0s"},
		{"delivery parallelism", file("delivery: {parallelism: -1}", lineCh), "config: delivery.parallelism: must be positive"},
		{"shutdown grace", file("shutdown: {grace: -5s}", lineCh), "config: shutdown.grace: must be positive, got -5s"},

		// tickets.
		{"ticket bound negative", file("tickets: {max_messages: -1}", lineCh), "config: tickets.max_messages: must be from 1 to 100000 messages, got -1"},
		{"ticket bound too large", file("tickets: {max_messages: 200000}", lineCh), "config: tickets.max_messages: must be from 1 to 100000 messages, got 200000"},
		{"ticket bound not a number", file("tickets: {max_messages: lots}", lineCh), `config: line 1: tickets.max_messages: must be an integer, got "lots"`},
		{"ticket bound misspelt", file("tickets: {max_message: 10}", lineCh), `config: line 1: tickets.max_message: unknown field (did you mean "max_messages"?)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tc.yaml), noEnv)
			if err == nil {
				t.Fatalf("Parse succeeded (%+v), want %s\n%s", cfg, tc.want, tc.yaml)
			}
			if err.Error() != tc.want {
				t.Errorf("err = %s\nwant  %s\n%s", err, tc.want, tc.yaml)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("err is not one line: %q", err)
			}
		})
	}
}

func TestYAMLErrorOneLine(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"type errors", &yaml.TypeError{Errors: []string{"line 2: a", "line 3: b", "line 4: c"}}, "config: line 2: a (and 2 more)"},
		{"one type error", &yaml.TypeError{Errors: []string{"line 2: a"}}, "config: line 2: a"},
		{"other", errors.New("yaml: line 1: x\ny"), "config: line 1: x y"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := yamlError(tc.err).Error(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
