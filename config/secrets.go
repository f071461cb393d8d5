package config

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// mask replaces every secret in Redacted.
const mask = "***"

// secretField is one secret-bearing field and its path for messages.
type secretField struct {
	path string
	ptr  *string
	url  bool // a URL that may carry a password: Redacted masks only that
}

// secretFields lists every secret-bearing field of c: the fields that
// accept ${NAME} and that Redacted masks. Keep it in step with the package
// comment.
func (c *Config) secretFields() []secretField {
	fs := []secretField{
		{"redis.url", &c.Redis.URL, true},
		{"redis.password", &c.Redis.Password, false},
	}
	for i := range c.Admin.Tokens {
		fs = append(fs, secretField{path: fmt.Sprintf("admin.tokens[%d].token", i), ptr: &c.Admin.Tokens[i].Token})
	}
	for i := range c.Channels {
		ch := &c.Channels[i]
		p := fmt.Sprintf("channels[%d].", i)
		fs = append(fs, secretField{path: p + "secret", ptr: &ch.Secret})
		for j := range ch.Secrets {
			fs = append(fs, secretField{path: fmt.Sprintf("%ssecrets[%d]", p, j), ptr: &ch.Secrets[j]})
		}
		fs = append(fs, secretField{path: p + "app_secret", ptr: &ch.AppSecret})
		for j := range ch.AppSecrets {
			fs = append(fs, secretField{path: fmt.Sprintf("%sapp_secrets[%d]", p, j), ptr: &ch.AppSecrets[j]})
		}
		fs = append(fs, secretField{path: p + "verify_token", ptr: &ch.VerifyToken})
		for j := range ch.VerifyTokens {
			fs = append(fs, secretField{path: fmt.Sprintf("%sverify_tokens[%d]", p, j), ptr: &ch.VerifyTokens[j]})
		}
		fs = append(fs, secretField{path: p + "access_token", ptr: &ch.AccessToken})
		if ch.Bot != nil {
			fs = append(fs, secretField{path: p + "bot.secret", ptr: &ch.Bot.Secret})
		}
		fs = append(fs, secretField{path: p + "helpdesk.secret", ptr: &ch.Helpdesk.Secret})
	}
	return fs
}

// envRef matches the whole-value form ${NAME}.
var envRef = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$`)

// resolveEnv replaces every secret written as ${NAME} by the variable NAME.
func (c *Config) resolveEnv(getenv func(string) (string, bool)) error {
	for _, f := range c.secretFields() {
		v := *f.ptr
		if !strings.HasPrefix(v, "${") {
			continue
		}
		m := envRef.FindStringSubmatch(v)
		if m == nil {
			if strings.HasSuffix(v, "}") {
				return errorf(f.path, "not a valid ${NAME} reference: NAME is letters, digits and '_', not starting with a digit")
			}
			continue // a literal secret that happens to start with "${"
		}
		val, ok := getenv(m[1])
		switch {
		case !ok:
			return errorf(f.path, "environment variable %s is not set", m[1])
		case val == "":
			return errorf(f.path, "environment variable %s is empty", m[1])
		}
		*f.ptr = val
	}
	return nil
}

// Redacted returns c as YAML with every secret replaced by "***" and the
// password of every URL masked, for logging and for showing the effective
// configuration. Empty secrets stay empty so that a missing one still shows.
func (c *Config) Redacted() string {
	r := c.clone()
	for _, f := range r.secretFields() {
		switch {
		case *f.ptr == "":
		case f.url:
			*f.ptr = redactURL(*f.ptr)
		default:
			*f.ptr = mask
		}
	}
	for i := range r.Channels {
		ch := &r.Channels[i]
		ch.APIBase = redactURL(ch.APIBase)
		ch.OutboundURL = redactURL(ch.OutboundURL)
		ch.Helpdesk.URL = redactURL(ch.Helpdesk.URL)
		if ch.Bot != nil {
			ch.Bot.URL = redactURL(ch.Bot.URL)
		}
	}
	out, err := yaml.Marshal(r)
	if err != nil {
		// Only plain strings, numbers, booleans and Durations: cannot fail.
		return fmt.Sprintf("config: cannot marshal: %v", err)
	}
	return string(out)
}

// redactURL masks the password of a URL's user information. A string that
// does not parse as a URL is masked whole.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return mask
	}
	if u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); !ok {
		return s
	}
	u.User = url.UserPassword(u.User.Username(), mask)
	// url escapes the mask's '*' as %2A; show it as the other masks.
	return strings.Replace(u.String(), ":%2A%2A%2A@", ":"+mask+"@", 1)
}

// clone returns a deep copy of c, sharing no slice or pointer with it.
func (c *Config) clone() *Config {
	r := *c
	r.Redis.Addrs = slices.Clone(c.Redis.Addrs)
	r.Settings.BlockContactEnabled = clonePtr(c.Settings.BlockContactEnabled)
	r.Console.Enabled = clonePtr(c.Console.Enabled)
	r.Admin.Tokens = slices.Clone(c.Admin.Tokens)
	r.Channels = slices.Clone(c.Channels)
	for i := range r.Channels {
		ch := &r.Channels[i]
		ch.Secrets = slices.Clone(ch.Secrets)
		ch.AppSecrets = slices.Clone(ch.AppSecrets)
		ch.VerifyTokens = slices.Clone(ch.VerifyTokens)
		if ch.Bot != nil {
			bot := *ch.Bot
			bot.Enabled = clonePtr(bot.Enabled)
			ch.Bot = &bot
		}
		ch.Helpdesk.Enabled = clonePtr(ch.Helpdesk.Enabled)
	}
	return &r
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
