// Package whatsapp is the WhatsApp Cloud API adapter. It verifies Meta's
// webhook requests (X-Hub-Signature-256) and normalizes their messages and
// statuses into channels.Event values, answers the GET subscription
// handshake, and sends text replies through the Graph API.
//
// The package knows nothing of the gateway or of HTTP status codes: it wraps
// the errors of package channels and lets the gateway map them.
package whatsapp

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// channelType is the platform name reported by Type and put on every event.
const channelType = "whatsapp"

// Defaults applied by New to zero Config fields.
const (
	// DefaultAPIBase is the Graph API root, version included.
	DefaultAPIBase = "https://graph.facebook.com/v21.0"
	// DefaultMaxBodyBytes bounds an inbound webhook body. Meta batches
	// entries and changes into one request and its payloads reach about
	// 3 MB, so 4 MiB leaves headroom without letting a peer make us buffer
	// arbitrary amounts.
	DefaultMaxBodyBytes = 4 << 20
	// DefaultTimeout bounds one outbound Send, connection and response
	// included.
	DefaultTimeout = 10 * time.Second
)

// Config is what one WhatsApp channel needs. New validates it and applies
// the defaults.
type Config struct {
	// ID is the configured channel id ("wa-main"), the {channel} of the
	// routes and the Channel of every event.
	ID string
	// AppSecrets are the Meta app secrets. A request signed with any one of
	// them is authentic, so a secret can be rotated by listing the new and
	// the old one together. At least one is required.
	AppSecrets []string
	// VerifyTokens are the hub.verify_token values the GET handshake
	// accepts; more than one allows rotation. At least one is required.
	VerifyTokens []string
	// AccessToken is the Graph API token used by Send. It never appears in
	// errors.
	AccessToken string
	// PhoneNumberID is the business phone number id replies are sent from.
	PhoneNumberID string
	// APIBase is the Graph API root with its version; DefaultAPIBase when
	// empty. Tests point it at a fake server.
	APIBase string
	// MaxBodyBytes bounds an inbound body; DefaultMaxBodyBytes (4 MiB)
	// when zero, because Meta's payloads reach 3 MB.
	MaxBodyBytes int
	// Timeout bounds one Send; DefaultTimeout when zero.
	Timeout time.Duration
	// HTTPClient sends the outbound requests; a client of its own with
	// the default transport when nil. Send bounds each call by Timeout
	// whatever the client's own timeout is.
	HTTPClient *http.Client
}

// Channel is one configured WhatsApp Cloud API channel. It is safe for
// concurrent use.
type Channel struct {
	id           string
	secrets      [][]byte
	verifyTokens [][sha256.Size]byte
	token        string
	endpoint     string
	maxBody      int
	timeout      time.Duration
	client       *http.Client
}

// New validates cfg, applies the defaults and returns the channel.
func New(cfg Config) (*Channel, error) {
	if cfg.ID == "" {
		return nil, errors.New("whatsapp: ID is required")
	}
	fail := func(format string, args ...any) (*Channel, error) {
		return nil, fmt.Errorf("whatsapp channel %q: "+format, append([]any{cfg.ID}, args...)...)
	}
	if len(cfg.AppSecrets) == 0 {
		return fail("AppSecrets: at least one app secret is required")
	}
	secrets := make([][]byte, 0, len(cfg.AppSecrets))
	for i, s := range cfg.AppSecrets {
		if s == "" {
			return fail("AppSecrets[%d] is empty", i)
		}
		secrets = append(secrets, []byte(s))
	}
	if len(cfg.VerifyTokens) == 0 {
		return fail("VerifyTokens: at least one verify token is required")
	}
	// Tokens are kept as digests so that Handshake compares fixed-length
	// values and leaks neither content nor length through timing.
	tokens := make([][sha256.Size]byte, 0, len(cfg.VerifyTokens))
	for i, t := range cfg.VerifyTokens {
		if t == "" {
			return fail("VerifyTokens[%d] is empty", i)
		}
		tokens = append(tokens, sha256.Sum256([]byte(t)))
	}
	if cfg.AccessToken == "" {
		return fail("AccessToken is required")
	}
	if cfg.PhoneNumberID == "" {
		return fail("PhoneNumberID is required")
	}
	base := cfg.APIBase
	if base == "" {
		base = DefaultAPIBase
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fail("APIBase %q is not an http(s) URL", base)
	}
	switch {
	case cfg.MaxBodyBytes < 0:
		return fail("MaxBodyBytes %d is negative", cfg.MaxBodyBytes)
	case cfg.MaxBodyBytes == 0:
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	switch {
	case cfg.Timeout < 0:
		return fail("Timeout %s is negative", cfg.Timeout)
	case cfg.Timeout == 0:
		cfg.Timeout = DefaultTimeout
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{}
	}
	return &Channel{
		id:           cfg.ID,
		secrets:      secrets,
		verifyTokens: tokens,
		token:        cfg.AccessToken,
		endpoint:     strings.TrimRight(base, "/") + "/" + url.PathEscape(cfg.PhoneNumberID) + "/messages",
		maxBody:      cfg.MaxBodyBytes,
		timeout:      cfg.Timeout,
		client:       client,
	}, nil
}

// ID returns the configured channel id.
func (c *Channel) ID() string { return c.id }

// Type returns "whatsapp".
func (c *Channel) Type() string { return channelType }

// MaxBodyBytes returns the bound on an inbound webhook body.
func (c *Channel) MaxBodyBytes() int { return c.maxBody }
