package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hookwall/hookwall/config"
	"github.com/redis/go-redis/v9"
)

// openStore connects to the configured Redis — one server, Sentinel or
// Cluster, all through redis.UniversalClient — or, with none configured,
// starts an embedded in-process Redis-compatible server whose data lives in
// memory only.
func openStore(cfg config.Redis, log *slog.Logger) (redis.UniversalClient, func(), error) {
	opts := &redis.UniversalOptions{
		Addrs: cfg.Addrs, MasterName: cfg.MasterName, Username: cfg.Username, Password: cfg.Password, DB: cfg.DB,
		// Every shard's delivery worker holds a blocking read; leave room
		// for the webhook and admin traffic besides.
		PoolSize:     128,
		DialTimeout:  2 * time.Second,
		ReadTimeout:  3 * time.Second,
		WriteTimeout: 3 * time.Second,
		// A call's context deadline bounds its reads and writes too, not
		// only the read timeout: /readyz answers within its 2s and a webhook
		// within the request timeout however the client's timeouts are set.
		// Without it go-redis ignores deadlines on the socket, and a Redis
		// that stopped answering held /readyz for the 3s read timeout.
		ContextTimeoutEnabled: true,
		// No transparent retries: a command whose reply is lost may have
		// run (a stream read that handed entries out, a script that stored
		// an event). The error reaches the caller, which knows what is safe:
		// the webhook answers 503 (the platform retries, the dedupe marker
		// holds), the delivery worker reads the pending list again.
		MaxRetries: -1,
	}
	var stop func()
	switch {
	case cfg.URL != "":
		u, err := redis.ParseURL(cfg.URL)
		if err != nil {
			return nil, nil, fmt.Errorf("redis.url: %w", err)
		}
		opts.Addrs, opts.Username, opts.DB, opts.TLSConfig = []string{u.Addr}, u.Username, u.DB, u.TLSConfig
		if u.Password != "" {
			opts.Password = u.Password
		}
		if u.Network == "unix" {
			// UniversalOptions has no network: use a plain client.
			u.PoolSize, u.DialTimeout, u.ReadTimeout, u.WriteTimeout, u.MaxRetries = opts.PoolSize, opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout, opts.MaxRetries
			u.ContextTimeoutEnabled = opts.ContextTimeoutEnabled
			c := redis.NewClient(u)
			return c, func() { _ = c.Close() }, nil
		}
	case len(cfg.Addrs) == 0:
		m := miniredis.NewMiniRedis()
		m.ClockTTL(true)
		if err := m.StartAddr("127.0.0.1:0"); err != nil {
			return nil, nil, fmt.Errorf("starting the embedded store: %w", err)
		}
		log.Warn("no redis configured: using the embedded in-process store; data lives in memory only and is lost on exit")
		opts.Addrs = []string{m.Addr()}
		stop = m.Close
	}
	c := redis.NewUniversalClient(opts)
	return c, func() {
		_ = c.Close()
		if stop != nil {
			stop()
		}
	}, nil
}
