// Package redact hides secrets in what hookwall writes for others to read:
// logs, problem details, span attributes and metric labels. A target or
// outbound URL may carry a password in its user information or an API key in
// its query, and Go's errors repeat URLs whole (*url.Error); header values
// such as Authorization are secrets by name.
//
// Every value redacted here is replaced by Mask, the word the OpenTelemetry
// semantic conventions use for url.full.
package redact

import (
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// Mask replaces a redacted value.
const Mask = "REDACTED"

// URL returns raw with its user information (user and password) and the
// value of every query parameter replaced by Mask, and its fragment dropped.
// Query keys stay, in their order, so that the URL still says what it
// addresses; a query part without "=" is masked whole, since it may be a bare
// key. A string that does not parse as a URL is masked whole.
//
// net/url's URL.Redacted masks the password only; a webhook URL's secret is
// as often a query value (?key=..., ?token=...) or a user name standing for
// an API key.
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return Mask
	}
	if u.Opaque != "" {
		// scheme:opaque (no "//"): nothing in it is known to be harmless.
		return u.Scheme + ":" + Mask
	}
	if u.User != nil {
		u.User = url.UserPassword(Mask, Mask)
	}
	u.RawQuery = query(u.RawQuery)
	u.Fragment, u.RawFragment = "", ""
	return u.String()
}

// query masks the values of a raw query, keeping keys and order.
func query(raw string) string {
	if raw == "" {
		return ""
	}
	parts := strings.Split(raw, "&")
	for i, p := range parts {
		if p == "" {
			continue
		}
		if k, _, ok := strings.Cut(p, "="); ok {
			parts[i] = k + "=" + Mask
		} else {
			parts[i] = Mask
		}
	}
	return strings.Join(parts, "&")
}

// urlInText finds URLs with a scheme ("https://...", "redis://...") in free
// text. A URL ends at white space, a quote, a backslash or an angle bracket:
// Go quotes the URLs it puts in error texts (*url.Error uses %q).
var urlInText = regexp.MustCompile("[A-Za-z][A-Za-z0-9+.-]*://[^\\s\"'`<>\\\\]+")

// Text returns s with every URL in it redacted as URL does. Punctuation that
// ends a sentence after a URL (".", ",", ")") is kept out of the URL.
func Text(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	return urlInText.ReplaceAllStringFunc(s, func(m string) string {
		u := strings.TrimRight(m, ".,;:!?)]}")
		return URL(u) + m[len(u):]
	})
}

// Error returns err's text with every URL in it redacted: exactly the URL of
// each *url.Error in err's tree (which net/http's client returns, with the
// whole request URL in its text), then any other URL Text finds.
func Error(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	walk(err, func(e error) {
		if ue, ok := e.(*url.Error); ok && ue.URL != "" {
			r := URL(ue.URL)
			s = strings.ReplaceAll(s, strconv.Quote(ue.URL), strconv.Quote(r))
			s = strings.ReplaceAll(s, ue.URL, r)
		}
	}, 0)
	return Text(s)
}

// walk calls f on err and every error it wraps, depth first.
func walk(err error, f func(error), depth int) {
	if err == nil || depth > 32 {
		return
	}
	f(err)
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		walk(u.Unwrap(), f, depth+1)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			walk(e, f, depth+1)
		}
	}
}

// sensitiveParts are the words that make a header name or a log attribute
// key name a secret: Authorization and Proxy-Authorization, cookies, API
// keys, tokens, passwords, and the platforms' signature headers
// (X-Line-Signature, X-Hub-Signature-256, webhook-signature).
var sensitiveParts = []string{
	"authorization", "cookie", "token", "secret", "password", "passwd",
	"signature", "apikey", "api-key", "api_key", "credential", "session",
}

// SensitiveKey reports whether a header or attribute of that name carries a
// secret, whatever its case.
func SensitiveKey(name string) bool {
	n := strings.ToLower(name)
	for _, p := range sensitiveParts {
		if strings.Contains(n, p) {
			return true
		}
	}
	return false
}

// Header returns the value to show of a header: Mask for a secret one
// (SensitiveKey), else the value with any URL in it redacted.
func Header(name, value string) string {
	if SensitiveKey(name) {
		if value == "" {
			return ""
		}
		return Mask
	}
	return Text(value)
}
