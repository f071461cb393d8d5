package redact_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/hookwall/hookwall/internal/redact"
)

func TestURL(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "https://bot.example.com/hook", "https://bot.example.com/hook"},
		{"password", "https://user:pass@bot.example.com/hook", "https://REDACTED:REDACTED@bot.example.com/hook"},
		{"user only: may be an API key", "https://apikey123@bot.example.com/hook", "https://REDACTED:REDACTED@bot.example.com/hook"},
		{"query values, keys kept in order", "https://h/p?z=1&key=secret&a=b", "https://h/p?z=REDACTED&key=REDACTED&a=REDACTED"},
		{"repeated key", "https://h/p?k=1&k=2", "https://h/p?k=REDACTED&k=REDACTED"},
		{"bare query part", "https://h/p?s3cr3t&x=1", "https://h/p?REDACTED&x=REDACTED"},
		{"empty value", "https://h/p?key=", "https://h/p?key=REDACTED"},
		{"escaped value", "https://h/p?key=a%20b%26c", "https://h/p?key=REDACTED"},
		{"fragment dropped", "https://h/p#access_token=abc", "https://h/p"},
		{"everything", "http://u:p@127.0.0.1:9/x?token=t#f", "http://REDACTED:REDACTED@127.0.0.1:9/x?token=REDACTED"},
		{"redis url", "redis://default:hunter2@redis:6379/0", "redis://REDACTED:REDACTED@redis:6379/0"},
		{"opaque", "mailto:someone@example.com", "mailto:REDACTED"},
		{"unparsable", "http://[::1%zz]/", "REDACTED"},
		{"idempotent", "https://REDACTED:REDACTED@h/p?key=REDACTED", "https://REDACTED:REDACTED@h/p?key=REDACTED"},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := redact.URL(tc.in); got != tc.want {
				t.Errorf("URL(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestText(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"no url", "dial tcp 127.0.0.1:6379: connection refused", "dial tcp 127.0.0.1:6379: connection refused"},
		{"quoted url of url.Error", `Post "https://h/p?key=secret": EOF`, `Post "https://h/p?key=REDACTED": EOF`},
		{"credentials", "proxy http://u:pw@proxy:3128 refused", "proxy http://REDACTED:REDACTED@proxy:3128 refused"},
		{"sentence punctuation stays", "see https://h/p?key=s.", "see https://h/p?key=REDACTED."},
		{"in parentheses", "(https://h/?t=s)", "(https://h/?t=REDACTED)"},
		{"two urls", "a https://h/?k=1 b redis://x:y@r:1", "a https://h/?k=REDACTED b redis://REDACTED:REDACTED@r:1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := redact.Text(tc.in); got != tc.want {
				t.Errorf("Text(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestError(t *testing.T) {
	// A URL that %q escapes: the pattern alone would stop at the backslash.
	odd := "https://u:pw@h/p?key=se\"cret"
	ue := &url.Error{Op: "Post", URL: odd, Err: errors.New("connection refused")}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"url.Error", &url.Error{Op: "Post", URL: "https://u:pw@h/p?key=secret", Err: errors.New("EOF")},
			`Post "https://REDACTED:REDACTED@h/p?key=REDACTED": EOF`},
		{"wrapped url.Error with a quoted quote", fmt.Errorf("webchat: post reply: %w", ue),
			`webchat: post reply: Post "https://REDACTED:REDACTED@h/p?key=REDACTED": connection refused`},
		{"joined", errors.Join(errors.New("one"), ue), "one\n" + `Post "https://REDACTED:REDACTED@h/p?key=REDACTED": connection refused`},
		{"plain text url", errors.New("target https://h/?token=abc down"), "target https://h/?token=REDACTED down"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := redact.Error(tc.err)
			if got != tc.want {
				t.Errorf("Error() = %q, want %q", got, tc.want)
			}
			for _, s := range []string{"pw", "secret", "cret", "abc"} {
				if strings.Contains(got, s) {
					t.Errorf("Error() = %q keeps %q", got, s)
				}
			}
		})
	}
}

func TestHeader(t *testing.T) {
	for _, tc := range []struct{ name, value, want string }{
		{"Authorization", "Bearer abc", "REDACTED"},
		{"proxy-authorization", "Basic abc", "REDACTED"},
		{"X-Line-Signature", "abc=", "REDACTED"},
		{"X-Hub-Signature-256", "sha256=abc", "REDACTED"},
		{"webhook-signature", "v1,abc", "REDACTED"},
		{"X-Api-Key", "abc", "REDACTED"},
		{"Cookie", "s=abc", "REDACTED"},
		{"X-Access-Token", "abc", "REDACTED"},
		{"Authorization", "", ""},
		{"Content-Type", "application/json", "application/json"},
		{"Location", "https://h/?code=abc", "https://h/?code=REDACTED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := redact.Header(http.CanonicalHeaderKey(tc.name), tc.value); got != tc.want {
				t.Errorf("Header(%q, %q) = %q, want %q", tc.name, tc.value, got, tc.want)
			}
		})
	}
}

// TestHandler logs every kind of attribute that can carry a secret through
// the handler: none reaches the output, and the rest is as it was.
func TestHandler(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(redact.Handler(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	u, _ := url.Parse("https://u:pw-1@h/p?key=secret-2")
	log = log.With("base", "https://h/?token=secret-3").WithGroup("g").With("access_token", "secret-4")
	log.Warn("posting to https://h/?key=secret-5 failed",
		"err", fmt.Errorf("webchat: %w", &url.Error{Op: "Post", URL: "https://h/p?key=secret-6", Err: errors.New("EOF")}),
		"url", u,
		"target", "https://u:pw-7@h/hook",
		slog.Group("req", "authorization", "Bearer secret-8", "path", "/hook"),
		"channel", "line-main", "attempt", 3)
	out := buf.String()
	for _, s := range []string{"pw-1", "secret-2", "secret-3", "secret-4", "secret-5", "secret-6", "pw-7", "secret-8"} {
		if strings.Contains(out, s) {
			t.Errorf("log keeps %q: %s", s, out)
		}
	}
	for _, s := range []string{`"channel":"line-main"`, `"attempt":3`, `"path":"/hook"`, `"msg":"posting to https://h/?key=REDACTED failed"`,
		`"err":"webchat: Post \"https://h/p?key=REDACTED\": EOF"`, `"target":"https://REDACTED:REDACTED@h/hook"`} {
		if !strings.Contains(out, s) {
			t.Errorf("log lacks %s: %s", s, out)
		}
	}
	if h := redact.Handler(log.Handler()); h != log.Handler() {
		t.Error("wrapping a redacting handler again made another one")
	}
}
