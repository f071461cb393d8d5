// Command hookwall runs the webhook gateway.
//
//	hookwall serve --config FILE
//	hookwall listen --config FILE [--json]
//	hookwall listen --addr HOST:PORT [--secret whsec_...] [--json]
//	hookwall version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/hookwall/hookwall/blocklist"
	"github.com/hookwall/hookwall/blocklist/blocks"
	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/hookwall/hookwall/blocklist/tickets"
	"github.com/hookwall/hookwall/config"
	"github.com/hookwall/hookwall/console"
	"github.com/hookwall/hookwall/delivery"
	"github.com/hookwall/hookwall/gateway"
	"github.com/hookwall/hookwall/internal/redact"
	"github.com/hookwall/hookwall/telemetry"
	"go.opentelemetry.io/otel"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		// Start-up errors may quote a configured URL: its credentials and
		// query values are left out as in any log.
		fmt.Fprintln(os.Stderr, "hookwall:", redact.Error(err))
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	usage := errors.New("usage: hookwall serve --config FILE | hookwall listen (--config FILE | --addr HOST:PORT [--secret whsec_...]) [--json] | hookwall version")
	if len(args) == 0 {
		return usage
	}
	switch args[0] {
	case "version":
		fmt.Fprintln(stdout, "hookwall", version)
		return nil
	case "serve":
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(stderr)
		path := fs.String("config", "", "path of the YAML configuration file")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *path == "" || fs.NArg() > 0 {
			return usage
		}
		cfg, err := config.Load(*path)
		if err != nil {
			return err
		}
		log := slog.New(telemetry.LogHandler(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: logLevel()})))
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		return serve(ctx, cfg, log)
	case "listen":
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		return runListen(ctx, args[1:], stdout, stderr, nil)
	}
	return usage
}

func logLevel() slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(os.Getenv("HOOKWALL_LOG_LEVEL"))); err != nil {
		return slog.LevelInfo
	}
	return l
}

// serve runs hookwall until ctx ends, then drains: readiness fails first,
// in-flight requests finish, delivery workers stop taking work and finish
// their attempts, all within the configured grace.
//
// Every component logs through log wrapped once here in redact.Handler: a
// URL in any record, error or message loses its credentials and query
// values, whoever logs it.
func serve(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	log = slog.New(redact.Handler(log.Handler()))
	if os.Getenv("GOGC") == "" {
		// Requests allocate short-lived buffers at a high rate and memory
		// is rarely the limit: collect half as often as Go's default.
		debug.SetGCPercent(200)
	}
	log.Info("starting hookwall", "version", version, "listen", cfg.Listen, "channels", len(cfg.Channels))
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Warn("telemetry", "err", err) }))
	tel, err := telemetry.Setup(ctx, version)
	if err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	defer func() {
		fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tel.Shutdown(fctx); err != nil {
			log.Warn("flushing telemetry", "err", err)
		}
	}()
	inst, err := tel.Instruments()
	if err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	log.Info("telemetry", "tracing", tel.TracingEnabled, "metrics", "/metrics")
	if addr := os.Getenv("HOOKWALL_PPROF"); addr != "" {
		go servePprof(addr, log)
	}
	rdb, closeStore, err := openStore(cfg.Redis, log)
	if err != nil {
		return err
	}
	defer closeStore()

	infos := map[string]store.ChannelInfo{}
	targets := map[string]delivery.Targets{}
	var routes []gateway.ChannelConfig
	for _, ch := range cfg.Channels {
		adapter, err := newAdapter(ch, cfg.Delivery.Timeout.Std())
		if err != nil {
			return fmt.Errorf("channel %s: %w", ch.ID, err)
		}
		routes = append(routes, gateway.ChannelConfig{Adapter: adapter, BlockedAction: blocks.Action(ch.BlockedAction), Bot: ch.BotEnabled()})
		infos[ch.ID] = store.ChannelInfo{Type: ch.Type, Bot: ch.BotEnabled(), DedupeWindow: ch.DedupeWindow.Std()}
		t := delivery.Targets{Helpdesk: delivery.Target{URL: ch.Helpdesk.URL, Secret: ch.Helpdesk.Secret}}
		if ch.BotEnabled() {
			t.Bot = &delivery.Target{URL: ch.Bot.URL, Secret: ch.Bot.Secret}
		}
		targets[ch.ID] = t
	}

	bl, err := blocklist.New(blocklist.Config{
		DefaultEnabled: cfg.Settings.Enabled(), Channels: infos, TicketMessages: cfg.Tickets.MaxMessages,
		// The embedded store never evicts and does not answer CONFIG.
		SkipEvictionCheck: cfg.Redis.Embedded(),
		Ack:               store.Ack{Replicas: cfg.Redis.AckReplicas, Timeout: cfg.Redis.AckTimeout.Std()},
	}, rdb)
	if err != nil {
		return err
	}
	defer bl.Close()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := checkEviction(sctx, bl, log); err != nil {
		return err
	}
	if err := bl.InitSettings(sctx); err != nil {
		return fmt.Errorf("initializing settings: %w", err)
	}
	if err := bl.EnsureQueues(sctx); err != nil {
		return fmt.Errorf("creating delivery queues: %w", err)
	}

	var tokens []gateway.Token
	for _, t := range cfg.Admin.Tokens {
		role, err := gateway.ParseRole(t.Role)
		if err != nil {
			return fmt.Errorf("admin token %s: %w", t.Name, err)
		}
		tokens = append(tokens, gateway.Token{Name: t.Name, Role: role, Secret: t.Token})
	}
	gwCfg := gateway.Config{
		Tokens: tokens, Channels: routes,
		WebhookMiddleware: []fiber.Handler{inst.Webhooks()},
		Metrics:           tel.MetricsHandler(),
		Limits: gateway.Limits{
			AdminBodyBytes:      cfg.Limits.AdminBodyBytes,
			BodyBytesInFlight:   cfg.Limits.BodyBytesInFlight,
			MaxConnections:      cfg.Limits.MaxConnections,
			MaxConnectionsPerIP: cfg.Limits.MaxConnectionsPerIP,
		},
	}
	if cfg.Console.IsEnabled() {
		gwCfg.Console = console.Handler()
	}
	gw, err := gateway.New(gwCfg, inst.Store(bl), log)
	if err != nil {
		return err
	}
	var draining atomic.Bool
	gw.SetReady(func() bool { return !draining.Load() })

	host, _ := os.Hostname()
	dl, err := delivery.New(delivery.Config{
		Owner:       fmt.Sprintf("%s-%d-%d", host, os.Getpid(), time.Now().UnixNano()),
		Channels:    targets,
		Timeout:     cfg.Delivery.Timeout.Std(),
		MaxAttempts: cfg.Delivery.MaxAttempts,
		BackoffMin:  cfg.Delivery.BackoffMin.Std(),
		BackoffMax:  cfg.Delivery.BackoffMax.Std(),
		Parallelism: cfg.Delivery.Parallelism,
		LeaseTTL:    cfg.Delivery.LeaseTTL.Std(),
		Tracer:      inst,
		Observer:    inst,
	}, bl, log)
	if err != nil {
		return err
	}
	if err := inst.Gauges(bl, dl.BreakerStates); err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	// Bind the address before any work starts: a port in use fails serve
	// with nothing delivered, and "ready" is logged only once it listens.
	ln, err := net.Listen("tcp4", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Listen, err)
	}
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	workDone := make(chan struct{})
	go func() {
		defer close(workDone)
		_ = dl.Run(workCtx)
	}()
	sweepDone := make(chan struct{})
	go func() {
		defer close(sweepDone)
		finishReleases(workCtx, bl, log)
	}()

	serveErr := make(chan error, 1)
	go func() { serveErr <- gw.App().Listener(ln) }()
	log.Info("hookwall ready", "listen", cfg.Listen)

	select {
	case err := <-serveErr:
		stopWork()
		<-workDone
		<-sweepDone
		return fmt.Errorf("listening on %s: %w", cfg.Listen, err)
	case <-ctx.Done():
	}

	grace := cfg.Shutdown.Grace.Std()
	log.Info("shutting down", "grace", grace.String(), "readiness_delay", cfg.Shutdown.ReadinessDelay.String())
	draining.Store(true) // /readyz fails from now on
	if d := cfg.Shutdown.ReadinessDelay.Std(); d > 0 {
		time.Sleep(d) // keep serving while load balancers take this replica out
	}
	deadline := time.Now().Add(grace)
	if err := gw.App().ShutdownWithTimeout(grace); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	stopWork()
	select {
	case <-workDone:
	case <-time.After(time.Until(deadline)):
		log.Warn("delivery workers did not stop within the grace; their unacknowledged entries stay queued")
	}
	<-sweepDone
	log.Info("stopped")
	return nil
}

// checkEviction refuses to start on a Redis that may evict keys, and warns
// once when it cannot tell. /readyz checks again at each probe (a policy can
// change at runtime), without the warning.
func checkEviction(ctx context.Context, bl *blocklist.Store, log *slog.Logger) error {
	err := bl.CheckEviction(ctx)
	switch {
	case errors.Is(err, store.ErrPolicyHidden):
		log.Warn("cannot verify that redis never evicts: it refuses CONFIG GET maxmemory-policy; "+
			"if this Redis evicts keys under memory pressure it silently drops queued messages, tickets and dedupe markers: "+
			"make sure its maxmemory-policy is noeviction", "err", err)
	case err != nil:
		return fmt.Errorf("checking redis maxmemory-policy: %w", err)
	}
	return nil
}

// releaseSweep is how often a replica finishes the ticket releases nobody
// returned to (a replica stopped between two of a release's chunks).
const releaseSweep = time.Minute

// logReleaseErrors logs each failure of a sweep on its own: one contact's
// release that fails says which, and does not hide the others.
func logReleaseErrors(log *slog.Logger, err error) {
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		if re, ok := errors.AsType[*tickets.ReleaseError](e); ok {
			log.Warn("finishing a ticket release", "channel", re.Channel, "contact", re.Contact, "err", re.Err)
			continue
		}
		log.Warn("finishing ticket releases", "err", e)
	}
}

// finishReleases finishes such releases at start and every releaseSweep until
// ctx ends. A release's request, and the contact's next release or unblock,
// finish it first in the usual course; the sweep is for the rest, so that no
// contact's deliveries wait behind a release for long.
func finishReleases(ctx context.Context, bl *blocklist.Store, log *slog.Logger) {
	t := time.NewTicker(releaseSweep)
	defer t.Stop()
	for {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		n, err := bl.FinishReleases(sctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			logReleaseErrors(log, err)
		}
		if n > 0 {
			log.Info("finished ticket releases left in progress", "releases", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
