// Package delivery takes queued envelopes off the shards of the Redis
// delivery queue and posts them to the bots and helpdesks: at least once, in
// order per contact, behind one circuit breaker per target, with exponential
// backoff and jitter, parking what exhausts its retry budget in the dead
// letters.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/hookwall/hookwall/blocklist"
)

// Queue is what the deliverer needs of the store.
type Queue interface {
	AcquireLease(ctx context.Context, shard int, owner string, ttl time.Duration) (bool, error)
	ReleaseLease(ctx context.Context, shard int, owner string) error
	ReadShard(ctx context.Context, shard, count int, block time.Duration, pending bool) ([]blocklist.Delivery, error)
	Ack(ctx context.Context, shard int, owner string, streamIDs ...string) (bool, error)
	Park(ctx context.Context, owner string, d blocklist.Delivery, reason string, attempts int) (bool, error)
}

// Target is a bot or helpdesk endpoint.
type Target struct {
	// URL receives the envelopes.
	URL string
	// Secret, when set, is the Standard Webhooks key ("whsec_...") the
	// envelopes are signed with.
	Secret string
}

// Targets are one channel's targets.
type Targets struct {
	// Bot is nil when the channel has no enabled bot.
	Bot *Target
	// Helpdesk always exists.
	Helpdesk Target
}

// Config configures a Deliverer.
type Config struct {
	// Owner names this replica in shard leases; unique per process.
	Owner string
	// Channels are the targets by channel id.
	Channels map[string]Targets
	// Timeout bounds one attempt (default 10s).
	Timeout time.Duration
	// MaxAttempts is the retry budget before parking (default 10).
	MaxAttempts int
	// BackoffMin and BackoffMax bound the delay between attempts
	// (defaults 500ms, 1m); the delay doubles with ±50% jitter.
	BackoffMin, BackoffMax time.Duration
	// Parallelism is how many contacts of one shard are delivered at once
	// (default 16).
	Parallelism int
	// BatchSize is how many entries one read of a shard takes (default 256).
	BatchSize int
	// LeaseTTL is how long a shard lease lives without renewal (default 15s):
	// the longest a crashed replica's shards wait for a new holder.
	LeaseTTL time.Duration
	// BreakerFailures is how many consecutive failures open a target's
	// breaker (default 5).
	BreakerFailures int
	// BreakerOpen is how long a breaker stays open before a trial (default 5s).
	BreakerOpen time.Duration
	// HTTPClient posts the envelopes; a client without redirects by default.
	HTTPClient *http.Client
	// Observer, when set, is told of every attempt and breaker change.
	Observer Observer
}

// Observer receives delivery outcomes, for metrics and traces.
type Observer interface {
	// Attempted is called after each attempt with its outcome
	// ("delivered", "failed", "parked") and duration.
	Attempted(ctx context.Context, d blocklist.Delivery, outcome string, took time.Duration, err error)
	// BreakerChanged is called when a target's breaker changes state.
	BreakerChanged(target, from, to string)
}

// Deliverer runs the delivery workers of one replica.
type Deliverer struct {
	cfg      Config
	q        Queue
	log      *slog.Logger
	breakers *breakers
}

// New returns a Deliverer.
func New(cfg Config, q Queue, log *slog.Logger) (*Deliverer, error) {
	if q == nil || log == nil {
		return nil, errors.New("delivery: nil dependency")
	}
	if cfg.Owner == "" {
		return nil, errors.New("delivery: owner is required")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.Timeout, 10*time.Second)
	def(&cfg.BackoffMin, 500*time.Millisecond)
	def(&cfg.BackoffMax, time.Minute)
	def(&cfg.LeaseTTL, 15*time.Second)
	def(&cfg.BreakerOpen, 5*time.Second)
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 10
	}
	if cfg.Parallelism <= 0 {
		cfg.Parallelism = 16
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 256
	}
	if cfg.BreakerFailures <= 0 {
		cfg.BreakerFailures = 5
	}
	if cfg.BackoffMin > cfg.BackoffMax {
		return nil, fmt.Errorf("delivery: backoff min %s exceeds max %s", cfg.BackoffMin, cfg.BackoffMax)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Transport: &http.Transport{
				Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second,
			},
		}
	}
	d := &Deliverer{cfg: cfg, q: q, log: log}
	d.breakers = newBreakers(cfg.BreakerFailures, cfg.BreakerOpen, func(name, from, to string) {
		log.Warn("target breaker changed", "target", name, "from", from, "to", to)
		if cfg.Observer != nil {
			cfg.Observer.BreakerChanged(name, from, to)
		}
	})
	return d, nil
}

// Run delivers until ctx is cancelled, then lets in-flight attempts finish
// (each is bounded by the attempt timeout), leaves what it did not deliver
// unacknowledged for the next lease holder, gives up its leases and returns.
func (d *Deliverer) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for shard := range blocklist.Buckets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.shardLoop(ctx, shard)
		}()
	}
	wg.Wait()
	return nil
}

// shardLoop competes for the shard's lease and delivers it while held.
func (d *Deliverer) shardLoop(ctx context.Context, shard int) {
	retry := d.cfg.LeaseTTL / 3
	for ctx.Err() == nil {
		ok, err := d.q.AcquireLease(ctx, shard, d.cfg.Owner, d.cfg.LeaseTTL)
		if err != nil && ctx.Err() == nil {
			d.log.Warn("shard lease", "shard", shard, "err", err)
		}
		if ok {
			d.holdShard(ctx, shard)
			// Let go at once on shutdown so another replica takes over.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			_ = d.q.ReleaseLease(rctx, shard, d.cfg.Owner)
			cancel()
		}
		if !wait(ctx, jitter(retry)) {
			return
		}
	}
}

// holdShard renews the lease and delivers the shard until ctx ends or the
// lease is lost.
func (d *Deliverer) holdShard(ctx context.Context, shard int) {
	sctx, lost := context.WithCancel(ctx)
	defer lost()
	go func() {
		for wait(sctx, d.cfg.LeaseTTL/3) {
			ok, err := d.q.AcquireLease(sctx, shard, d.cfg.Owner, d.cfg.LeaseTTL)
			if err == nil && !ok {
				d.log.Warn("shard lease lost", "shard", shard)
				lost()
				return
			}
		}
	}()
	pending := true
	for sctx.Err() == nil {
		batch, err := d.q.ReadShard(sctx, shard, d.cfg.BatchSize, time.Second, pending)
		if err != nil {
			if sctx.Err() == nil {
				d.log.Warn("reading shard", "shard", shard, "err", err)
				wait(sctx, time.Second)
			}
			continue
		}
		if len(batch) == 0 {
			pending = false
			continue
		}
		done := d.deliverBatch(sctx, batch)
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if _, err := d.q.Ack(actx, shard, d.cfg.Owner, done...); err != nil {
			d.log.Warn("acknowledging deliveries", "shard", shard, "err", err)
		}
		cancel()
		if len(done) < len(batch) {
			// Something was left undelivered (shutdown or lost lease): read
			// the pending list again before new entries, to keep order.
			pending = true
		}
	}
}

// deliverBatch delivers a batch, contacts in parallel, each contact's entries
// in order; it returns the stream ids delivered (parked ones are already off
// the stream).
func (d *Deliverer) deliverBatch(ctx context.Context, batch []blocklist.Delivery) []string {
	groups := map[string][]blocklist.Delivery{}
	var order []string
	for _, e := range batch {
		k := e.Channel + "\x00" + e.Contact
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], e)
	}
	var (
		mu   sync.Mutex
		done []string
		wg   sync.WaitGroup
		sem  = make(chan struct{}, d.cfg.Parallelism)
	)
	for _, k := range order {
		wg.Add(1)
		sem <- struct{}{}
		go func(entries []blocklist.Delivery) {
			defer func() { <-sem; wg.Done() }()
			for _, e := range entries {
				switch d.deliver(ctx, e) {
				case delivered:
					mu.Lock()
					done = append(done, e.StreamID)
					mu.Unlock()
				case parked:
				case aborted:
					return // the rest stay pending, in order
				}
			}
		}(groups[k])
	}
	wg.Wait()
	return done
}

func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
