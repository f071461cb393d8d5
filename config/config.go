// Package config is hookwall's configuration file: the YAML schema, its
// defaults and its validation. It is the only package that reads YAML; cmd
// loads the file once and cuts the result into each component's own config.
//
// # File
//
// The file is one YAML document whose keys are snake_case. Unknown keys are
// errors, so a misspelt key stops start-up instead of being silently ignored.
// Every error names the field it is about, on one line:
//
//	config: channels[1].helpdesk.url: must be an absolute http or https URL
//	config: line 7: channels[0].secrett: unknown field (did you mean "secret"?)
//
// # Secrets from the environment
//
// Any secret-bearing field may name an environment variable instead of
// holding the secret itself: a value that is exactly ${NAME} is replaced by
// the value of the variable NAME when the file is loaded.
//
//	channels:
//	  - id: line-main
//	    type: line
//	    secret: ${LINE_CHANNEL_SECRET}
//	    access_token: ${LINE_ACCESS_TOKEN}
//
// The fields that accept this form are: redis.url, redis.password,
// admin.tokens[].token, and on a channel secret, secrets[], app_secret,
// app_secrets[], verify_token, verify_tokens[], access_token, bot.secret and
// helpdesk.secret. Only the whole value is replaced (no ${A}-${B}
// interpolation, no default values). A variable that is unset or empty is an
// error naming the field and the variable, so a missing secret never starts
// hookwall with an empty one.
//
// # Logging
//
// Never log a Config directly: use Config.Redacted, which masks every secret.
package config

import (
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"
)

// Channel types.
const (
	// TypeLine is a LINE Messaging API channel.
	TypeLine = "line"
	// TypeWhatsApp is a WhatsApp Cloud API channel.
	TypeWhatsApp = "whatsapp"
	// TypeWebchat is a web chat widget speaking Standard Webhooks.
	TypeWebchat = "webchat"
)

// Blocked actions: what happens to a blocked contact's new messages.
const (
	// ActionQueue diverts them to the contact's blocked ticket.
	ActionQueue = "queue"
	// ActionRecord delivers them to the helpdesk only, without automation.
	ActionRecord = "record"
)

// Admin roles, from least to most privileged.
const (
	// RoleAgent may read and block contacts and send replies.
	RoleAgent = "agent"
	// RoleSupervisor may also review, release and delete blocked tickets.
	RoleSupervisor = "supervisor"
	// RoleAdmin may also change settings, read the audit log and retry dead
	// letters.
	RoleAdmin = "admin"
)

// Defaults applied by Parse to fields left empty or zero.
const (
	// DefaultListen is the default listen address: loopback only.
	DefaultListen = "127.0.0.1:8080"
	// DefaultLineAPIBase is the LINE Messaging API root.
	DefaultLineAPIBase = "https://api.line.me"
	// DefaultWhatsAppAPIBase is the WhatsApp Cloud (Graph) API root.
	DefaultWhatsAppAPIBase = "https://graph.facebook.com/v21.0"
	// DefaultBlockedAction is a channel's default blocked action.
	DefaultBlockedAction = ActionQueue

	// DefaultDeliveryTimeout bounds one delivery attempt.
	DefaultDeliveryTimeout = 10 * time.Second
	// DefaultDeliveryMaxAttempts is the number of attempts before a
	// delivery is parked in the dead letters.
	DefaultDeliveryMaxAttempts = 10
	// DefaultDeliveryBackoffMin is the first retry delay.
	DefaultDeliveryBackoffMin = 500 * time.Millisecond
	// DefaultDeliveryBackoffMax caps the retry delay.
	DefaultDeliveryBackoffMax = time.Minute
	// DefaultDeliveryParallelism is the number of delivery workers per
	// shard.
	DefaultDeliveryParallelism = 16
	// DefaultDeliveryLeaseTTL is how long a replica's hold on a delivery
	// shard lasts without renewal.
	DefaultDeliveryLeaseTTL = 15 * time.Second
	// DefaultShutdownGrace bounds the drain on SIGTERM.
	DefaultShutdownGrace = 20 * time.Second
	// DefaultTicketMaxMessages is how many messages a blocked ticket keeps.
	DefaultTicketMaxMessages = 1000
	// MaxTicketMaxMessages bounds tickets.max_messages: a ticket is read
	// and released in pages and chunks, but it is still kept in memory.
	MaxTicketMaxMessages = 100000

	// DefaultLineDedupeWindow is how long LINE webhookEventIds are
	// remembered.
	DefaultLineDedupeWindow = 24 * time.Hour
	// DefaultWhatsAppDedupeWindow is how long WhatsApp message and status
	// ids are remembered: Meta retries failed webhooks for up to 7 days.
	DefaultWhatsAppDedupeWindow = 168 * time.Hour
	// DefaultWebchatDedupeWindow is how long webchat webhook-ids are
	// remembered.
	DefaultWebchatDedupeWindow = 24 * time.Hour
)

// Config is the whole configuration file.
type Config struct {
	// Listen is the host:port the HTTP server binds, "127.0.0.1:8080" by
	// default. An empty host listens on every interface.
	Listen string `yaml:"listen,omitempty"`
	// Redis is where hookwall keeps its state. Left empty, an embedded
	// in-process store is used: ephemeral, for trying hookwall out.
	Redis Redis `yaml:"redis,omitempty"`
	// Settings are the first values of the admin-changeable settings.
	Settings Settings `yaml:"settings,omitempty"`
	// Admin holds the bearer tokens of the admin and outbound APIs.
	Admin Admin `yaml:"admin,omitempty"`
	// Channels are the inbound sources; at least one is required.
	Channels []Channel `yaml:"channels,omitempty"`
	// Delivery tunes deliveries to bots and helpdesks.
	Delivery Delivery `yaml:"delivery,omitempty"`
	// Shutdown tunes the graceful shutdown on SIGTERM.
	Shutdown Shutdown `yaml:"shutdown,omitempty"`
	// Console switches the operators' browser console at /console/.
	Console Console `yaml:"console,omitempty"`
	// Tickets bounds the blocked tickets of contacts blocked with action
	// queue.
	Tickets Tickets `yaml:"tickets,omitempty"`
	// Limits bound what clients can make hookwall hold at once.
	Limits Limits `yaml:"limits,omitempty"`
}

// Limits bound what clients can make hookwall hold at once; each is checked
// before a request's body is read. Zero keeps the default.
type Limits struct {
	// AdminBodyBytes bounds the body of every route but the webhooks: the
	// admin API and replies (default 64 KiB). Each webhook route is
	// bounded by its channel's max_body_bytes.
	AdminBodyBytes int `yaml:"admin_body_bytes,omitempty"`
	// BodyBytesInFlight bounds the request body bytes held at once over
	// every connection (default 64 MiB); past it a request is answered 503
	// server_busy with Retry-After. It must hold one body of the largest
	// channel limit.
	BodyBytesInFlight int `yaml:"body_bytes_in_flight,omitempty"`
	// MaxConnections bounds the connections served at once (default
	// 2048); past it a new connection is answered 503 and closed.
	MaxConnections int `yaml:"max_connections,omitempty"`
	// MaxConnectionsPerIP bounds the connections of one client address
	// (default 256); past it a new connection is answered 429 and closed.
	// Behind a proxy every client shares the proxy's addresses: size it
	// for the proxy's connection pool.
	MaxConnectionsPerIP int `yaml:"max_connections_per_ip,omitempty"`
}

// Redis selects the store. URL (one server) and Addrs (Cluster, or Sentinel
// with MasterName) are mutually exclusive; all empty selects the embedded
// store.
type Redis struct {
	// URL is one server: redis://[user:pass@]host:port[/db],
	// rediss://... for TLS, or unix:///path/to/socket. It may be ${NAME}.
	URL string `yaml:"url,omitempty"`
	// Addrs are host:port seed addresses of a Redis Cluster or, with
	// MasterName, of the Sentinels. A single address without MasterName is
	// one server.
	Addrs []string `yaml:"addrs,omitempty"`
	// MasterName is the Sentinel master set name; it requires Addrs.
	MasterName string `yaml:"master_name,omitempty"`
	// Username is the ACL user name, if any.
	Username string `yaml:"username,omitempty"`
	// Password is the server password. It may be ${NAME}. With URL it
	// replaces a password the URL would otherwise carry, which keeps it out
	// of the URL.
	Password string `yaml:"password,omitempty"`
	// DB is the database number with Addrs (one server or Sentinel). With
	// URL, put it in the URL path; Redis Cluster has only database 0.
	DB int `yaml:"db,omitempty"`
	// AckReplicas, when above 0, is how many replicas of the master must
	// have each write before hookwall acknowledges it (Redis's WAIT); a
	// write fewer replicas took within AckTimeout answers 503. 0 (the
	// default) acknowledges what the master took.
	AckReplicas int `yaml:"ack_replicas,omitempty"`
	// AckTimeout bounds the wait for AckReplicas; DefaultAckTimeout when
	// empty, from 1ms to 2s.
	AckTimeout Duration `yaml:"ack_timeout,omitempty"`
}

// DefaultAckTimeout is how long a write waits for redis.ack_replicas.
const DefaultAckTimeout = 500 * time.Millisecond

// MaxAckTimeout bounds redis.ack_timeout: the wait ends inside the store
// connections' read timeout.
const MaxAckTimeout = 2 * time.Second

// Embedded reports whether no Redis is configured and the embedded store is
// to be used.
func (r Redis) Embedded() bool {
	return r.URL == "" && len(r.Addrs) == 0
}

// Settings are admin-changeable settings. The file gives only their first
// value: once hookwall has stored a setting, the stored value wins over the
// file.
type Settings struct {
	// BlockContactEnabled turns the blocklist on (default true).
	BlockContactEnabled *bool `yaml:"block_contact_enabled,omitempty"`
}

// Enabled reports the first value of block_contact_enabled: true unless the
// file sets it to false.
func (s Settings) Enabled() bool {
	return s.BlockContactEnabled == nil || *s.BlockContactEnabled
}

// Admin configures access to the admin and outbound APIs.
type Admin struct {
	// Tokens are the accepted bearer tokens and the role each grants.
	Tokens []AdminToken `yaml:"tokens,omitempty"`
}

// AdminToken is one bearer token of the admin API.
type AdminToken struct {
	// Name identifies the token's holder in the audit log; unique.
	Name string `yaml:"name,omitempty"`
	// Role is agent, supervisor or admin; each role may do all that the
	// roles before it may.
	Role string `yaml:"role,omitempty"`
	// Token is the bearer token itself: at least 16 characters, no
	// whitespace, unique. It may be ${NAME}.
	Token string `yaml:"token,omitempty"`
}

// Channel is one inbound source and its targets. Which fields apply depends
// on Type; a field that does not apply to the type is an error.
type Channel struct {
	// ID names the channel in URLs and in the blocklist: lower-case letters,
	// digits, '-' and '_', up to 64 characters, unique.
	ID string `yaml:"id,omitempty"`
	// Type is line, whatsapp or webchat.
	Type string `yaml:"type,omitempty"`
	// Secret is a signing secret: the LINE channel secret, or a webchat
	// Standard Webhooks key ("whsec_" + base64). It may be ${NAME}.
	Secret string `yaml:"secret,omitempty"`
	// Secrets are more signing secrets, for rotation: a request signed with
	// any of Secret and Secrets is accepted. Each may be ${NAME}.
	Secrets []string `yaml:"secrets,omitempty"`
	// AppSecret is the WhatsApp (Meta) app secret behind
	// X-Hub-Signature-256. It may be ${NAME}.
	AppSecret string `yaml:"app_secret,omitempty"`
	// AppSecrets are more WhatsApp app secrets, for rotation.
	AppSecrets []string `yaml:"app_secrets,omitempty"`
	// VerifyToken is the WhatsApp hub.verify_token of the GET handshake. It
	// may be ${NAME}.
	VerifyToken string `yaml:"verify_token,omitempty"`
	// VerifyTokens are more accepted verify tokens, for rotation.
	VerifyTokens []string `yaml:"verify_tokens,omitempty"`
	// AccessToken authenticates outbound messages (LINE channel access
	// token, WhatsApp access token). It may be ${NAME}.
	AccessToken string `yaml:"access_token,omitempty"`
	// PhoneNumberID is the WhatsApp business phone number id messages are
	// sent from.
	PhoneNumberID string `yaml:"phone_number_id,omitempty"`
	// APIBase is the platform API root, overridable for tests and proxies:
	// https://api.line.me for line, https://graph.facebook.com/v21.0 for
	// whatsapp.
	APIBase string `yaml:"api_base,omitempty"`
	// OutboundURL is where webchat replies to visitors are posted.
	OutboundURL string `yaml:"outbound_url,omitempty"`
	// BlockedAction is the default action for blocked contacts: queue
	// (default) or record.
	BlockedAction string `yaml:"blocked_action,omitempty"`
	// DedupeWindow is how long a platform event id is remembered to drop
	// redeliveries: 24h for line and webchat, 168h for whatsapp by default.
	DedupeWindow Duration `yaml:"dedupe_window,omitempty"`
	// MaxBodyBytes bounds an inbound body; 0 keeps the adapter's default.
	MaxBodyBytes int `yaml:"max_body_bytes,omitempty"`
	// Bot is the optional automation target; unblocked messages go to it
	// while it is enabled.
	Bot *Target `yaml:"bot,omitempty"`
	// Helpdesk is the required human target.
	Helpdesk Target `yaml:"helpdesk,omitempty"`
}

// AllSecrets returns Secret followed by Secrets: every signing secret a line
// or webchat request may be signed with.
func (c Channel) AllSecrets() []string { return merge(c.Secret, c.Secrets) }

// AllAppSecrets returns AppSecret followed by AppSecrets.
func (c Channel) AllAppSecrets() []string { return merge(c.AppSecret, c.AppSecrets) }

// AllVerifyTokens returns VerifyToken followed by VerifyTokens.
func (c Channel) AllVerifyTokens() []string { return merge(c.VerifyToken, c.VerifyTokens) }

// BotEnabled reports whether the channel has a bot and it is enabled.
func (c Channel) BotEnabled() bool { return c.Bot != nil && c.Bot.IsEnabled() }

func merge(one string, more []string) []string {
	out := make([]string, 0, 1+len(more))
	if one != "" {
		out = append(out, one)
	}
	return append(out, more...)
}

// Target is a bot or helpdesk endpoint that deliveries are posted to.
type Target struct {
	// URL is the absolute http or https endpoint; required.
	URL string `yaml:"url,omitempty"`
	// Secret signs deliveries with Standard Webhooks headers: "whsec_" +
	// base64 of 24 or more random bytes. Empty sends them unsigned. It may
	// be ${NAME}.
	Secret string `yaml:"secret,omitempty"`
	// Enabled turns the target off without removing it (default true). Only
	// a bot can be disabled.
	Enabled *bool `yaml:"enabled,omitempty"`
}

// IsEnabled reports whether the target receives deliveries: true unless
// enabled is set to false.
func (t Target) IsEnabled() bool {
	return t.Enabled == nil || *t.Enabled
}

// Delivery tunes deliveries to targets. Zero or absent values select the
// defaults; negative ones are errors.
type Delivery struct {
	// Timeout bounds one delivery attempt (default 10s).
	Timeout Duration `yaml:"timeout,omitempty"`
	// MaxAttempts is how many attempts are made before a delivery is parked
	// in the dead letters (default 10).
	MaxAttempts int `yaml:"max_attempts,omitempty"`
	// BackoffMin is the first retry delay (default 500ms).
	BackoffMin Duration `yaml:"backoff_min,omitempty"`
	// BackoffMax caps the retry delay (default 1m).
	BackoffMax Duration `yaml:"backoff_max,omitempty"`
	// Parallelism is how many contacts of one shard are delivered at once (default 16); each contact's deliveries stay in order.
	Parallelism int `yaml:"parallelism,omitempty"`
	// LeaseTTL is how long a replica's hold on a delivery shard lasts
	// without renewal (default 15s): the longest the shards of a crashed
	// replica wait before another replica delivers them.
	LeaseTTL Duration `yaml:"lease_ttl,omitempty"`
}

// Shutdown tunes the graceful shutdown.
type Shutdown struct {
	// Grace bounds the drain of in-flight requests and deliveries
	// (default 20s).
	Grace Duration `yaml:"grace,omitempty"`
	// ReadinessDelay is how long hookwall keeps serving, with /readyz
	// failing, after SIGTERM and before it stops accepting connections, so
	// that load balancers stop sending it requests first (default 0: on
	// Kubernetes the pod's preStop pause does this).
	ReadinessDelay Duration `yaml:"readiness_delay,omitempty"`
}

// Tickets bounds blocked tickets. A blocked contact may send without end;
// its ticket keeps the newest messages and counts the ones it drops.
type Tickets struct {
	// MaxMessages is how many messages one blocked ticket keeps, the
	// newest (default 1000, at most 100000): each message past it drops
	// the ticket's oldest, which the ticket and a metric count.
	MaxMessages int `yaml:"max_messages,omitempty"`
}

// Console configures the operators' browser console, served by hookwall at
// /console/. Its files are public; everything it shows comes from the admin
// API with the operator's own bearer token.
type Console struct {
	// Enabled serves the console (default true); false answers 404 on
	// /console/.
	Enabled *bool `yaml:"enabled,omitempty"`
}

// IsEnabled reports whether the console is served: true unless enabled is
// set to false.
func (c Console) IsEnabled() bool {
	return c.Enabled == nil || *c.Enabled
}

// Duration is a time.Duration written in YAML as a Go duration string:
// "500ms", "10s", "5m", "168h". Bare numbers are rejected because their unit
// would be a guess.
type Duration time.Duration

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String formats d like time.Duration does ("1m30s").
func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML parses a duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("must be a duration such as \"10s\" or \"500ms\"")
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("must be a duration such as \"10s\" or \"500ms\", got %q", n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes d as a duration string.
func (d Duration) MarshalYAML() (any, error) {
	return d.String(), nil
}
