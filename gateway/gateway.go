// Package gateway is hookwall's HTTP face: the Fiber app with the webhook,
// admin and outbound routes, authentication, and the one mapping from errors
// to problem+json answers.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/hookwall/hookwall/blocklist/blocks"
	"github.com/hookwall/hookwall/blocklist/decision"
	"github.com/hookwall/hookwall/blocklist/queue"
	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/hookwall/hookwall/blocklist/tickets"
	"github.com/valyala/fasthttp"
)

// Store is what the gateway needs of the blocklist, one small interface per
// part of the API.
type Store interface {
	Pinger
	Decider
	Settings
	Blocks
	Tickets
	DeadLetters
}

// Pinger answers readiness.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Decider decides and stores a webhook's events.
type Decider interface {
	Ingest(ctx context.Context, events []decision.Event) ([]decision.Outcome, error)
}

// Settings are the admin-changeable settings and their audit trail.
type Settings interface {
	Enabled(ctx context.Context) (bool, error)
	SetEnabled(ctx context.Context, actor string, enabled bool) error
	Audit(ctx context.Context, limit int, cursor string) ([]blocks.AuditRecord, string, error)
}

// Blocks are contacts: blocking, the listings, and their conversations.
type Blocks interface {
	Block(ctx context.Context, req blocks.BlockRequest) (blocks.BlockResult, error)
	Unblock(ctx context.Context, channel, contact, actor string, mode blocks.TicketMode) (blocks.UnblockResult, error)
	Get(ctx context.Context, channel, contact string) (blocks.Entry, error)
	IsBlocked(ctx context.Context, channel, contact string) (bool, error)
	List(ctx context.Context, req blocks.ListRequest) ([]blocks.Entry, string, error)
	RecentContacts(ctx context.Context, req blocks.RecentRequest) ([]blocks.RecentContact, string, error)
	GetConversation(ctx context.Context, channel, contact string) (tickets.Conversation, error)
}

// Tickets are the supervisors' blocked tickets.
type Tickets interface {
	ListTickets(ctx context.Context, req tickets.TicketListRequest) ([]tickets.Ticket, string, error)
	GetTicket(ctx context.Context, req tickets.TicketRequest) (tickets.TicketDetail, error)
	OpenTicket(ctx context.Context, channel, contact string) (tickets.Ticket, error)
	ReleaseTicket(ctx context.Context, id, actor string) (tickets.Release, error)
	DeleteTicket(ctx context.Context, id, actor string) error
}

// DeadLetters are the deliveries parked after their retries.
type DeadLetters interface {
	DeadLetters(ctx context.Context, limit int, cursor string) ([]queue.DeadLetter, string, error)
	RetryDeadLetter(ctx context.Context, id, actor string) (queue.DeadLetter, error)
}

// Counts is the webhook answer: how many events got each decision.
type Counts struct {
	Forwarded  int `json:"forwarded"`
	Recorded   int `json:"recorded"`
	Queued     int `json:"queued"`
	Duplicates int `json:"duplicates"`
}

// ChannelConfig is one channel as the gateway routes it.
type ChannelConfig struct {
	// Adapter is the platform adapter.
	Adapter Channel
	// BlockedAction is the channel's default action for blocks.
	BlockedAction blocks.Action
	// Bot is true when the channel has an enabled bot: where released
	// tickets go (else the helpdesk's unassigned queue).
	Bot bool
}

// Token is an admin bearer token.
type Token struct {
	// Name is recorded as the actor of the token's actions.
	Name string
	// Role is the token's role.
	Role Role
	// Secret is the bearer token itself.
	Secret string
}

// Config configures the gateway.
type Config struct {
	// Tokens are the admin API's bearer tokens.
	Tokens []Token
	// Channels are the configured channels.
	Channels []ChannelConfig
	// RequestTimeout bounds the store and platform calls of one request;
	// default 10s.
	RequestTimeout time.Duration
	// WebhookMiddleware runs before the webhook handlers (tracing, metrics).
	WebhookMiddleware []fiber.Handler
	// Metrics, when set, is served on GET /metrics.
	Metrics http.Handler
	// Console, when set, is served on GET /console and everything under
	// /console/ (package console); unset, those paths answer 404.
	Console http.Handler
	// Limits bound what clients can make the server hold; zero fields take
	// the defaults.
	Limits Limits
}

// Limits bound what clients can make the server hold at once.
type Limits struct {
	// AdminBodyBytes bounds the body of every route but the webhooks
	// (DefaultAdminBodyBytes); each webhook route has its channel's own.
	AdminBodyBytes int
	// BodyBytesInFlight bounds the request body bytes held at once over
	// every connection (DefaultBodyBytesInFlight); past it a request is
	// answered 503 before its body is read.
	BodyBytesInFlight int
	// MaxConnections bounds the connections served at once
	// (DefaultMaxConnections).
	MaxConnections int
	// MaxConnectionsPerIP bounds the connections of one client address
	// (DefaultMaxConnectionsPerIP).
	MaxConnectionsPerIP int
}

// withDefaults fills the zero fields.
func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.AdminBodyBytes, DefaultAdminBodyBytes)
	def(&l.BodyBytesInFlight, DefaultBodyBytesInFlight)
	def(&l.MaxConnections, DefaultMaxConnections)
	def(&l.MaxConnectionsPerIP, DefaultMaxConnectionsPerIP)
	return l
}

// Gateway is the HTTP application.
type Gateway struct {
	app      *fiber.App
	store    Store
	log      *slog.Logger
	auth     *authenticator
	channels map[string]ChannelConfig
	order    []string // channel ids in configuration order
	timeout  time.Duration
	ready    func() bool

	adminBody  int    // body limit of every route but the webhooks
	budget     budget // request body bytes the server may still hold
	budgetSize int64  // limits.BodyBytesInFlight
}

// New builds the gateway and its routes.
func New(cfg Config, bl Store, log *slog.Logger) (*Gateway, error) {
	if bl == nil || log == nil {
		return nil, errors.New("gateway: nil dependency")
	}
	if len(cfg.Channels) == 0 {
		return nil, errors.New("gateway: no channels")
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	auth, err := newAuthenticator(cfg.Tokens)
	if err != nil {
		return nil, err
	}
	g := &Gateway{
		store: bl, log: log, auth: auth,
		channels: map[string]ChannelConfig{}, timeout: cfg.RequestTimeout,
		ready: func() bool { return true },
	}
	limits := cfg.Limits.withDefaults()
	g.adminBody = limits.AdminBodyBytes
	g.budgetSize = int64(limits.BodyBytesInFlight)
	g.budget.left.Store(g.budgetSize)
	largest, largestOf := limits.AdminBodyBytes, "the admin routes"
	for _, ch := range cfg.Channels {
		if ch.Adapter == nil {
			return nil, errors.New("gateway: channel without adapter")
		}
		id := ch.Adapter.ID()
		if _, dup := g.channels[id]; dup {
			return nil, fmt.Errorf("gateway: duplicate channel %q", id)
		}
		if !ch.BlockedAction.Valid() {
			return nil, fmt.Errorf("gateway: channel %q: bad blocked action %q", id, ch.BlockedAction)
		}
		g.channels[id] = ch
		g.order = append(g.order, id)
		if n := ch.Adapter.MaxBodyBytes(); n > largest {
			largest, largestOf = n, "channel "+strconv.Quote(id)
		}
	}
	if largest > limits.BodyBytesInFlight {
		return nil, fmt.Errorf("gateway: the body budget of %d bytes in flight cannot hold one body of %s (limit %d bytes)", limits.BodyBytesInFlight, largestOf, largest)
	}
	g.app = fiber.New(fiber.Config{
		AppName: "hookwall",
		// The server streams bodies: readBody reads each within its
		// route's limit and the budget, so that no client makes it buffer
		// a body before the route is known. BodyLimit is then only what
		// the server reads of the body before the handler runs: one byte.
		StreamRequestBody: true,
		BodyLimit:         1,
		// Not even a multipart form is read before readBody: fasthttp would
		// otherwise parse one whole, of any size, ahead of the handler.
		DisablePreParseMultipartForm: true,
		Concurrency:                  limits.MaxConnections,
		// A path matches only as written: /METRICS or /metrics/ would
		// otherwise answer like /metrics and slip past an ingress rule
		// that denies the exact path.
		CaseSensitive:         true,
		StrictRouting:         true,
		DisableStartupMessage: true,
		ErrorHandler:          g.errorHandler,
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           120 * time.Second,
	})
	srv := g.app.Server()
	srv.MaxConnsPerIP = limits.MaxConnectionsPerIP
	// A client that asks before it sends (Expect: 100-continue) hears 417
	// for a body over its route's limit, not an invitation to send it.
	srv.ContinueHandler = func(h *fasthttp.RequestHeader) bool {
		path, _, _ := strings.Cut(string(h.RequestURI()), "?")
		return h.ContentLength() <= g.bodyLimit(string(h.Method()), path)
	}
	g.routes(cfg)
	return g, nil
}

// App returns the Fiber app, to listen with or to test against.
func (g *Gateway) App() *fiber.App { return g.app }

// SetReady installs the readiness condition besides store reachability; the
// process sets it false when it starts to shut down.
func (g *Gateway) SetReady(f func() bool) { g.ready = f }

func (g *Gateway) routes(cfg Config) {
	a := g.app
	// First the webhooks' tracing and metrics, so that they see every
	// webhook request, those readBody refuses too; then every request's
	// body is read, before any route runs.
	if len(cfg.WebhookMiddleware) > 0 {
		args := []any{"/webhooks"}
		for _, h := range cfg.WebhookMiddleware {
			args = append(args, h)
		}
		a.Use(args...)
	}
	a.Use(g.readBody)
	a.Get("/healthz", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
	a.Get("/readyz", g.readyz)
	if cfg.Metrics != nil {
		a.Get("/metrics", adaptor.HTTPHandler(cfg.Metrics))
	}
	if cfg.Console != nil {
		// Static files of the browser console; the handler sets their
		// security headers. Not API operations, so not in openapi.yaml.
		console := adaptor.HTTPHandler(cfg.Console)
		a.Get("/console", console)
		a.Get("/console/*", console)
	}

	hooks := a.Group("/webhooks")
	hooks.Post("/:channel", g.webhook)
	hooks.Get("/:channel", g.handshake)

	admin := a.Group("/admin/v1")
	admin.Get("/me", g.role(RoleAgent), g.me)
	admin.Get("/channels", g.role(RoleAgent), g.listChannels)
	admin.Get("/contacts", g.role(RoleAgent), g.recentContacts)
	admin.Get("/settings", g.role(RoleAgent), g.getSettings)
	admin.Put("/settings", g.role(RoleAdmin), g.putSettings)
	admin.Post("/channels/:channel/contacts/:contact/block", g.role(RoleAgent), g.block)
	admin.Post("/channels/:channel/contacts/:contact/unblock", g.role(RoleAgent), g.unblock)
	admin.Get("/channels/:channel/contacts/:contact", g.role(RoleAgent), g.contactStatus)
	admin.Get("/blocked-contacts", g.role(RoleAgent), g.blockedContacts)
	admin.Get("/channels/:channel/contacts/:contact/conversation", g.role(RoleAgent), g.conversation)
	admin.Get("/blocked-tickets", g.role(RoleSupervisor), g.listTickets)
	admin.Get("/blocked-tickets/:id", g.role(RoleSupervisor), g.getTicket)
	admin.Post("/blocked-tickets/:id/unblock", g.role(RoleSupervisor), g.releaseTicket)
	admin.Delete("/blocked-tickets/:id", g.role(RoleSupervisor), g.deleteTicket)
	admin.Get("/audit", g.role(RoleAdmin), g.audit)
	admin.Get("/dead-letters", g.role(RoleAdmin), g.deadLetters)
	admin.Post("/dead-letters/:id/retry", g.role(RoleAdmin), g.retryDeadLetter)

	a.Post("/v1/channels/:channel/contacts/:contact/messages", g.role(RoleAgent), g.sendMessage)
}

func (g *Gateway) readyz(c *fiber.Ctx) error {
	if !g.ready() {
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "shutting down"})
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	if err := g.store.Ping(ctx); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"status": "ready"})
}

// channel returns the configured channel named by the :channel parameter.
func (g *Gateway) channel(c *fiber.Ctx) (ChannelConfig, error) {
	ch, ok := g.channels[c.Params("channel")]
	if !ok {
		return ChannelConfig{}, fmt.Errorf("%w: %q", errUnknownChannel, c.Params("channel"))
	}
	return ch, nil
}

// channelContact returns the configured channel and the contact the route
// names.
func (g *Gateway) channelContact(c *fiber.Ctx) (ChannelConfig, string, error) {
	ch, err := g.channel(c)
	if err != nil {
		return ChannelConfig{}, "", err
	}
	co, err := contact(c)
	if err != nil {
		return ChannelConfig{}, "", err
	}
	return ch, co, nil
}

// contact returns the :contact parameter, percent-decoded and validated.
func contact(c *fiber.Ctx) (string, error) {
	v, err := url.PathUnescape(c.Params("contact"))
	if err != nil {
		return "", fmt.Errorf("%w: contact is not a valid path segment", errBadRequest)
	}
	if err := store.ValidateContact(v); err != nil {
		return "", err
	}
	return v, nil
}

// reqCtx bounds the store and platform calls of one request.
func (g *Gateway) reqCtx(c *fiber.Ctx) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.UserContext(), g.timeout)
}
