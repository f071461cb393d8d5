// Package line is the hookwall adapter for the LINE Messaging API: it verifies
// and normalizes inbound webhooks (X-Line-Signature, {destination, events[]})
// and sends agent and bot replies as LINE push messages.
//
// Parsing and sending go through LINE's own SDK (line-bot-sdk-go/v8): the
// webhook package's CallbackRequest and event types for inbound, the
// messaging_api client for outbound. The package knows nothing of HTTP
// status codes: it wraps the errors of package channels and the gateway maps
// them.
package line

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// ChannelType is the platform name of this adapter, as Channel.Type returns
// it and as it appears in every normalized event.
const ChannelType = "line"

// Defaults applied by New to zero Config fields.
const (
	// DefaultAPIBase is LINE's production Messaging API endpoint.
	DefaultAPIBase = "https://api.line.me"
	// DefaultMaxBodyBytes bounds an inbound webhook body. A LINE webhook
	// carries only event metadata: media (images, video, files) is never
	// inlined but fetched separately from the content endpoint, and LINE
	// batches only a few events per request, each around a kilobyte. 1 MiB
	// is therefore far above any genuine request while keeping the memory a
	// forged or runaway body can take per request small.
	DefaultMaxBodyBytes = 1 << 20
	// DefaultTimeout bounds one outbound push, from dialing to reading the
	// answer.
	DefaultTimeout = 10 * time.Second
)

// Config is what one LINE channel needs. It is cut from the YAML
// configuration by cmd.
type Config struct {
	// ID is the configured channel id ("line-main"), the {channel} of the
	// webhook route and the Channel of every event.
	ID string
	// Secrets are the channel secrets that may sign webhooks. A request
	// signed with any one of them is accepted, so a secret can be rotated by
	// listing the new one next to the old one until LINE uses the new one.
	// At least one is required.
	Secrets []string
	// AccessToken is the channel access token sent as a Bearer token on
	// outbound pushes. It never appears in an error.
	AccessToken string
	// APIBase is the Messaging API base URL; "https://api.line.me" when
	// empty. Tests point it at a local server.
	APIBase string
	// MaxBodyBytes bounds an inbound webhook body; DefaultMaxBodyBytes
	// (1 MiB) when zero. See DefaultMaxBodyBytes for why that suffices.
	MaxBodyBytes int
	// Timeout bounds one outbound push; DefaultTimeout (10s) when zero.
	Timeout time.Duration
	// HTTPClient sends outbound pushes; a client with Timeout when nil. A
	// given client is used as is: Timeout still bounds every push through
	// the request context.
	HTTPClient *http.Client
}

// Channel is one configured LINE channel. It is safe for concurrent use.
type Channel struct {
	id           string
	secrets      []string
	accessToken  string
	apiBase      string
	maxBodyBytes int
	timeout      time.Duration
	httpClient   *http.Client
}

// New validates cfg, applies the defaults and returns the channel.
func New(cfg Config) (*Channel, error) {
	if cfg.ID == "" {
		return nil, errors.New("line: config: id is required")
	}
	if len(cfg.Secrets) == 0 {
		return nil, fmt.Errorf("line: config %q: at least one secret is required", cfg.ID)
	}
	for i, s := range cfg.Secrets {
		if s == "" {
			return nil, fmt.Errorf("line: config %q: secret %d is empty", cfg.ID, i)
		}
	}
	if cfg.AccessToken == "" {
		return nil, fmt.Errorf("line: config %q: access token is required", cfg.ID)
	}
	if cfg.APIBase == "" {
		cfg.APIBase = DefaultAPIBase
	}
	u, err := url.ParseRequestURI(cfg.APIBase)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("line: config %q: api base %q is not an http(s) URL", cfg.ID, cfg.APIBase)
	}
	switch {
	case cfg.MaxBodyBytes < 0:
		return nil, fmt.Errorf("line: config %q: max body bytes %d is negative", cfg.ID, cfg.MaxBodyBytes)
	case cfg.MaxBodyBytes == 0:
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	switch {
	case cfg.Timeout < 0:
		return nil, fmt.Errorf("line: config %q: timeout %s is negative", cfg.ID, cfg.Timeout)
	case cfg.Timeout == 0:
		cfg.Timeout = DefaultTimeout
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: cfg.Timeout}
	}
	return &Channel{
		id:           cfg.ID,
		secrets:      append([]string(nil), cfg.Secrets...),
		accessToken:  cfg.AccessToken,
		apiBase:      cfg.APIBase,
		maxBodyBytes: cfg.MaxBodyBytes,
		timeout:      cfg.Timeout,
		httpClient:   cfg.HTTPClient,
	}, nil
}

// ID returns the configured channel id.
func (c *Channel) ID() string { return c.id }

// Type returns "line".
func (c *Channel) Type() string { return ChannelType }

// MaxBodyBytes returns the bound on an inbound webhook body.
func (c *Channel) MaxBodyBytes() int { return c.maxBodyBytes }
