package config

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// applyDefaults fills the fields left empty or zero. It runs before
// validate, which therefore sees only values the file chose.
func (c *Config) applyDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.Settings.BlockContactEnabled == nil {
		c.Settings.BlockContactEnabled = ptr(true)
	}
	if c.Console.Enabled == nil {
		c.Console.Enabled = ptr(true)
	}
	d := &c.Delivery
	defaultDuration(&d.Timeout, DefaultDeliveryTimeout)
	defaultDuration(&d.BackoffMin, DefaultDeliveryBackoffMin)
	defaultDuration(&d.BackoffMax, DefaultDeliveryBackoffMax)
	defaultDuration(&d.LeaseTTL, DefaultDeliveryLeaseTTL)
	if d.MaxAttempts == 0 {
		d.MaxAttempts = DefaultDeliveryMaxAttempts
	}
	if d.Parallelism == 0 {
		d.Parallelism = DefaultDeliveryParallelism
	}
	defaultDuration(&c.Shutdown.Grace, DefaultShutdownGrace)
	defaultDuration(&c.Redis.AckTimeout, DefaultAckTimeout)
	if c.Tickets.MaxMessages == 0 {
		c.Tickets.MaxMessages = DefaultTicketMaxMessages
	}
	for i := range c.Channels {
		ch := &c.Channels[i]
		switch ch.Type {
		case TypeLine:
			defaultString(&ch.APIBase, DefaultLineAPIBase)
			defaultDuration(&ch.DedupeWindow, DefaultLineDedupeWindow)
		case TypeWhatsApp:
			defaultString(&ch.APIBase, DefaultWhatsAppAPIBase)
			defaultDuration(&ch.DedupeWindow, DefaultWhatsAppDedupeWindow)
		case TypeWebchat:
			defaultDuration(&ch.DedupeWindow, DefaultWebchatDedupeWindow)
		}
		defaultString(&ch.BlockedAction, DefaultBlockedAction)
		if ch.Bot != nil && ch.Bot.Enabled == nil {
			ch.Bot.Enabled = ptr(true)
		}
		if ch.Helpdesk.Enabled == nil {
			ch.Helpdesk.Enabled = ptr(true)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func defaultString(s *string, v string) {
	if *s == "" {
		*s = v
	}
}

func defaultDuration(d *Duration, v time.Duration) {
	if *d == 0 {
		*d = Duration(v)
	}
}

// validate checks c after defaults and returns the first problem, in the
// order of the file.
func (c *Config) validate() error {
	if err := checkHostPort("listen", c.Listen, true); err != nil {
		return err
	}
	if err := c.Redis.validate(); err != nil {
		return err
	}
	if err := c.Admin.validate(); err != nil {
		return err
	}
	if len(c.Channels) == 0 {
		return errorf("channels", "at least one channel is required")
	}
	ids := make(map[string]bool, len(c.Channels))
	for i := range c.Channels {
		ch := &c.Channels[i]
		p := fmt.Sprintf("channels[%d]", i)
		if err := ch.validate(p); err != nil {
			return err
		}
		if ids[ch.ID] {
			return errorf(p+".id", "duplicate channel id %q", ch.ID)
		}
		ids[ch.ID] = true
	}
	if err := c.Delivery.validate(); err != nil {
		return err
	}
	if err := c.Limits.validate(); err != nil {
		return err
	}
	if c.Shutdown.ReadinessDelay < 0 {
		return errorf("shutdown.readiness_delay", "must not be negative, got %s", c.Shutdown.ReadinessDelay)
	}
	if err := positive("shutdown.grace", c.Shutdown.Grace); err != nil {
		return err
	}
	if n := c.Tickets.MaxMessages; n < 1 || n > MaxTicketMaxMessages {
		return errorf("tickets.max_messages", "must be from 1 to %d messages, got %d", MaxTicketMaxMessages, n)
	}
	return nil
}

func (l *Limits) validate() error {
	for _, f := range []struct {
		path string
		v    int
	}{
		{"limits.admin_body_bytes", l.AdminBodyBytes},
		{"limits.body_bytes_in_flight", l.BodyBytesInFlight},
		{"limits.max_connections", l.MaxConnections},
		{"limits.max_connections_per_ip", l.MaxConnectionsPerIP},
	} {
		if f.v < 0 {
			return errorf(f.path, "must not be negative (0 keeps the default), got %d", f.v)
		}
	}
	return nil
}

func (r *Redis) validate() error {
	switch {
	case r.URL != "" && len(r.Addrs) > 0:
		return errorf("redis.addrs", "cannot be combined with redis.url: use url for one server, addrs for Cluster or Sentinel")
	case r.MasterName != "" && len(r.Addrs) == 0:
		return errorf("redis.master_name", "requires redis.addrs, the Sentinel addresses")
	case r.Embedded() && r.Username != "":
		return errorf("redis.username", "set without redis.url or redis.addrs; empty url and addrs select the embedded store")
	case r.Embedded() && r.Password != "":
		return errorf("redis.password", "set without redis.url or redis.addrs; empty url and addrs select the embedded store")
	case r.Embedded() && r.DB != 0:
		return errorf("redis.db", "set without redis.url or redis.addrs; empty url and addrs select the embedded store")
	case r.DB < 0:
		return errorf("redis.db", "must not be negative")
	case r.AckReplicas < 0:
		return errorf("redis.ack_replicas", "must not be negative")
	case r.Embedded() && r.AckReplicas > 0:
		return errorf("redis.ack_replicas", "set without redis.url or redis.addrs: the embedded store has no replicas")
	case r.AckTimeout.Std() < time.Millisecond || r.AckTimeout.Std() > MaxAckTimeout:
		// WAIT takes whole milliseconds, and 0 would wait forever.
		return errorf("redis.ack_timeout", "must be from 1ms to %s", MaxAckTimeout)
	}
	if r.URL != "" {
		u, err := url.Parse(r.URL)
		if err != nil {
			// url.Parse quotes the URL in its error; it may hold a password.
			return errorf("redis.url", "must be a redis://, rediss:// or unix:// URL")
		}
		switch u.Scheme {
		case "redis", "rediss":
			if u.Host == "" {
				return errorf("redis.url", "must name a host, as in redis://127.0.0.1:6379/0")
			}
			if db := strings.TrimPrefix(u.Path, "/"); db != "" {
				if n, err := strconv.Atoi(db); err != nil || n < 0 {
					return errorf("redis.url", "the path must be a database number, as in redis://127.0.0.1:6379/0")
				}
			}
		case "unix":
			if u.Path == "" {
				return errorf("redis.url", "must name a socket path, as in unix:///run/redis.sock")
			}
		default:
			return errorf("redis.url", "must be a redis://, rediss:// or unix:// URL")
		}
		if _, has := u.User.Password(); has && r.Password != "" {
			return errorf("redis.password", "also given in redis.url; keep one")
		}
		if r.DB != 0 {
			return errorf("redis.db", "with redis.url, give the database in the URL path")
		}
	}
	for i, a := range r.Addrs {
		if err := checkHostPort(fmt.Sprintf("redis.addrs[%d]", i), a, false); err != nil {
			return err
		}
	}
	if len(r.Addrs) > 1 && r.MasterName == "" && r.DB != 0 {
		return errorf("redis.db", "Redis Cluster has only database 0")
	}
	return nil
}

// checkHostPort checks a host:port address with a numeric port; the host may
// be empty only when emptyHost is true (listen on every interface).
func checkHostPort(path, addr string, emptyHost bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errorf(path, "must be host:port, got %q", addr)
	}
	if host == "" && !emptyHost {
		return errorf(path, "must be host:port with a host, got %q", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return errorf(path, "port must be a number from 0 to 65535, got %q", port)
	}
	return nil
}

var roles = []string{RoleAgent, RoleSupervisor, RoleAdmin}

// minTokenLen keeps admin tokens out of guessing range.
const minTokenLen = 16

func (a *Admin) validate() error {
	names := make(map[string]int, len(a.Tokens))
	tokens := make(map[string]int, len(a.Tokens))
	for i, t := range a.Tokens {
		p := fmt.Sprintf("admin.tokens[%d]", i)
		switch first, dup := names[t.Name]; {
		case t.Name == "":
			return errorf(p+".name", "required")
		case dup:
			return errorf(p+".name", "duplicate token name %q (also admin.tokens[%d])", t.Name, first)
		}
		names[t.Name] = i
		if err := oneOf(p+".role", t.Role, roles); err != nil {
			return err
		}
		switch first, dup := tokens[t.Token]; {
		case t.Token == "":
			return errorf(p+".token", "required")
		case len(t.Token) < minTokenLen:
			return errorf(p+".token", "must be at least %d characters", minTokenLen)
		case strings.ContainsFunc(t.Token, unicode.IsSpace):
			return errorf(p+".token", "must not contain whitespace")
		case dup:
			return errorf(p+".token", "same token as admin.tokens[%d]; every token must be unique", first)
		}
		tokens[t.Token] = i
	}
	return nil
}

var (
	channelIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	channelTypes     = []string{TypeLine, TypeWhatsApp, TypeWebchat}
	blockedActions   = []string{ActionQueue, ActionRecord}
)

func (ch *Channel) validate(p string) error {
	switch {
	case ch.ID == "":
		return errorf(p+".id", "required")
	case !channelIDPattern.MatchString(ch.ID):
		return errorf(p+".id", "must be 1 to 64 lower-case letters, digits, '-' or '_', starting with a letter or digit, got %q", ch.ID)
	}
	if ch.Type == "" {
		return errorf(p+".type", "required: one of %s", strings.Join(channelTypes, ", "))
	}
	if err := oneOf(p+".type", ch.Type, channelTypes); err != nil {
		return err
	}
	if err := ch.validateFields(p); err != nil {
		return err
	}
	if err := oneOf(p+".blocked_action", ch.BlockedAction, blockedActions); err != nil {
		return err
	}
	if err := positive(p+".dedupe_window", ch.DedupeWindow); err != nil {
		return err
	}
	if ch.MaxBodyBytes < 0 {
		return errorf(p+".max_body_bytes", "must not be negative (0 keeps the default)")
	}
	if ch.Bot != nil {
		if err := ch.Bot.validate(p + ".bot"); err != nil {
			return err
		}
	}
	if err := ch.Helpdesk.validate(p + ".helpdesk"); err != nil {
		return err
	}
	if !ch.Helpdesk.IsEnabled() {
		return errorf(p+".helpdesk.enabled", "the helpdesk cannot be disabled; only a bot can")
	}
	return nil
}

// field is one type-dependent channel field: its key and whether it is set.
type field struct {
	key string
	set bool
}

// validateFields checks the fields that depend on the channel type: those
// the type needs are present, those it does not use are absent.
func (ch *Channel) validateFields(p string) error {
	var (
		secret       = field{"secret", ch.Secret != "" || len(ch.Secrets) > 0}
		appSecret    = field{"app_secret", ch.AppSecret != "" || len(ch.AppSecrets) > 0}
		verifyToken  = field{"verify_token", ch.VerifyToken != "" || len(ch.VerifyTokens) > 0}
		accessToken  = field{"access_token", ch.AccessToken != ""}
		phoneNumber  = field{"phone_number_id", ch.PhoneNumberID != ""}
		apiBase      = field{"api_base", ch.APIBase != ""}
		outboundURL  = field{"outbound_url", ch.OutboundURL != ""}
		required     []field
		notUsed      []field
		secretsCheck func(path, s string) error
	)
	switch ch.Type {
	case TypeLine:
		required = []field{secret, accessToken}
		notUsed = []field{appSecret, verifyToken, phoneNumber, outboundURL}
		secretsCheck = nonEmpty
	case TypeWhatsApp:
		required = []field{appSecret, verifyToken, accessToken, phoneNumber}
		notUsed = []field{secret, outboundURL}
	case TypeWebchat:
		required = []field{secret, outboundURL}
		notUsed = []field{appSecret, verifyToken, accessToken, phoneNumber, apiBase}
		secretsCheck = checkWebhookKey
	}
	for _, f := range notUsed {
		if f.set {
			return errorf(p+"."+ch.usedKey(f.key), "not used by type %s", ch.Type)
		}
	}
	for _, f := range required {
		if !f.set {
			return errorf(p+"."+f.key, "required for type %s", ch.Type)
		}
	}
	if secretsCheck != nil {
		if err := eachSecret(p, "secret", ch.Secret, ch.Secrets, secretsCheck); err != nil {
			return err
		}
	}
	if ch.Type == TypeWhatsApp {
		if err := eachSecret(p, "app_secret", ch.AppSecret, ch.AppSecrets, nonEmpty); err != nil {
			return err
		}
		if err := eachSecret(p, "verify_token", ch.VerifyToken, ch.VerifyTokens, nonEmpty); err != nil {
			return err
		}
	}
	if apiBase.set {
		if err := checkHTTPURL(p+".api_base", ch.APIBase); err != nil {
			return err
		}
	}
	if outboundURL.set {
		if err := checkHTTPURL(p+".outbound_url", ch.OutboundURL); err != nil {
			return err
		}
	}
	return nil
}

// usedKey names the key actually written for a secret that has a singular
// and a list form: "secrets" when only the list is set.
func (ch *Channel) usedKey(key string) string {
	single := map[string]string{"secret": ch.Secret, "app_secret": ch.AppSecret, "verify_token": ch.VerifyToken}
	if v, ok := single[key]; ok && v == "" {
		return key + "s"
	}
	return key
}

// eachSecret applies check to the singular field and to every item of its
// list form.
func eachSecret(p, key, one string, more []string, check func(path, s string) error) error {
	if one != "" {
		if err := check(p+"."+key, one); err != nil {
			return err
		}
	}
	for i, s := range more {
		if err := check(fmt.Sprintf("%s.%ss[%d]", p, key, i), s); err != nil {
			return err
		}
	}
	return nil
}

func nonEmpty(path, s string) error {
	if s == "" {
		return errorf(path, "must not be empty")
	}
	return nil
}

// webhookKeyPrefix starts a Standard Webhooks signing key.
const webhookKeyPrefix = "whsec_"

// minWebhookKeyBytes is the key size the Standard Webhooks specification
// asks for at least.
const minWebhookKeyBytes = 24

// checkWebhookKey checks a Standard Webhooks key: "whsec_" + standard base64
// of at least 24 bytes. The key itself never appears in the message.
func checkWebhookKey(path, s string) error {
	rest, ok := strings.CutPrefix(s, webhookKeyPrefix)
	if !ok {
		return errorf(path, "must be a Standard Webhooks key: %q followed by base64", webhookKeyPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return errorf(path, "the part after %q must be standard base64", webhookKeyPrefix)
	}
	if len(key) < minWebhookKeyBytes {
		return errorf(path, "the key must decode to at least %d bytes, got %d", minWebhookKeyBytes, len(key))
	}
	return nil
}

func (t *Target) validate(p string) error {
	if t.URL == "" {
		return errorf(p+".url", "required")
	}
	if err := checkHTTPURL(p+".url", t.URL); err != nil {
		return err
	}
	if t.Secret != "" {
		return checkWebhookKey(p+".secret", t.Secret)
	}
	return nil
}

// checkHTTPURL checks an absolute http or https URL with a host.
func checkHTTPURL(path, s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return errorf(path, "must be an absolute http or https URL")
	}
	return nil
}

func (d *Delivery) validate() error {
	if err := positive("delivery.timeout", d.Timeout); err != nil {
		return err
	}
	if d.MaxAttempts < 1 {
		return errorf("delivery.max_attempts", "must be positive")
	}
	if err := positive("delivery.backoff_min", d.BackoffMin); err != nil {
		return err
	}
	if err := positive("delivery.backoff_max", d.BackoffMax); err != nil {
		return err
	}
	if d.BackoffMin > d.BackoffMax {
		return errorf("delivery.backoff_min", "%s exceeds delivery.backoff_max %s", d.BackoffMin, d.BackoffMax)
	}
	if d.Parallelism < 1 {
		return errorf("delivery.parallelism", "must be positive")
	}
	if d.LeaseTTL < Duration(time.Second) {
		return errorf("delivery.lease_ttl", "must be at least 1s, got %s", d.LeaseTTL)
	}
	return nil
}

func positive(path string, d Duration) error {
	if d <= 0 {
		return errorf(path, "must be positive, got %s", d)
	}
	return nil
}

func oneOf(path, v string, allowed []string) error {
	if slices.Contains(allowed, v) {
		return nil
	}
	return errorf(path, "must be one of %s, got %q", strings.Join(allowed, ", "), v)
}
