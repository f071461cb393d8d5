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
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/hookwall/hookwall/internal/redact"
	"github.com/valyala/fasthttp"
)

// Queue is what the deliverer needs of the store.
type Queue interface {
	AcquireLease(ctx context.Context, shard int, owner string, ttl time.Duration) (bool, error)
	ReleaseLease(ctx context.Context, shard int, owner string) error
	ReadShard(ctx context.Context, shard int, owner string, count int, block time.Duration, pending bool) ([]store.Delivery, bool, error)
	Ack(ctx context.Context, shard int, owner string, streamIDs ...string) (bool, error)
	Park(ctx context.Context, owner string, d store.Delivery, reason string, attempts int) (bool, error)
	Heartbeat(ctx context.Context, owner string, ttl time.Duration) (int, error)
	Leave(ctx context.Context, owner string) error
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
	// (defaults 500ms, 1m): it starts at BackoffMin and doubles, with ±50%
	// jitter, and is kept within the two.
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
	// Tracer, when set, traces every attempt.
	Tracer AttemptTracer
	// Observer, when set, is told of every attempt and breaker change.
	Observer Observer
}

// Observer receives delivery outcomes, for metrics and traces.
type Observer interface {
	// Attempted is called after each attempt with its outcome
	// ("delivered", "failed", "parked") and duration.
	Attempted(ctx context.Context, d store.Delivery, outcome string, took time.Duration, err error)
	// BreakerChanged is called when a target's breaker changes state
	// ("closed", "open", "half-open"). It is called while the breaker is
	// locked: it must return quickly and must not deliver.
	BreakerChanged(target, from, to string)
}

// AttemptTracer traces delivery attempts.
type AttemptTracer interface {
	// StartAttempt starts the span of one attempt to post d to url, a child
	// of the trace d arrived with. It returns the traceparent to send the
	// target (empty: none) and the function that ends the span with the
	// target's status code, or the error that left it without one.
	StartAttempt(ctx context.Context, d store.Delivery, url string) (traceparent string, end func(status int, err error))
}

// Deliverer runs the delivery workers of one replica.
type Deliverer struct {
	cfg      Config
	q        Queue
	log      *slog.Logger
	breakers *breakers
	targets  map[string]channelTargets
	clients  []*fasthttp.HostClient // one per target host
	// held counts the shards this replica holds; fair is the most it
	// should hold, from the number of live replicas.
	held, fair atomic.Int32
}

// New returns a Deliverer. It refuses a target without an absolute http or
// https URL or with a secret that is not a Standard Webhooks key: such a
// target could never take a delivery.
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
	if cfg.LeaseTTL < minLeaseTTL {
		return nil, fmt.Errorf("delivery: lease ttl %s is below %s", cfg.LeaseTTL, minLeaseTTL)
	}
	targets, clients, err := resolveTargets(cfg.Channels, cfg.Timeout, proxyFromEnvironment())
	if err != nil {
		return nil, err
	}
	d := &Deliverer{cfg: cfg, q: q, log: log, targets: targets, clients: clients}
	users := targetUsers(cfg.Channels)
	d.breakers = newBreakers(cfg.BreakerFailures, cfg.BreakerOpen, func(url, from, to string) {
		// The breaker is the URL's, which may carry a password or an API
		// key: the log names the targets that use it, and the URL only
		// redacted (as the breaker-state metric labels it).
		log.Warn("target breaker changed", "targets", users[url], "url", redact.URL(url), "from", from, "to", to)
		if cfg.Observer != nil {
			cfg.Observer.BreakerChanged(url, from, to)
		}
	})
	return d, nil
}

// targetUsers names, for each target URL, the targets that post to it
// ("line-main/bot", "web/helpdesk"), sorted: what identifies a breaker in
// the logs without its URL.
func targetUsers(chs map[string]Targets) map[string][]string {
	out := map[string][]string{}
	for id, ts := range chs {
		out[ts.Helpdesk.URL] = append(out[ts.Helpdesk.URL], id+"/"+store.TargetHelpdesk)
		if ts.Bot != nil {
			out[ts.Bot.URL] = append(out[ts.Bot.URL], id+"/"+store.TargetBot)
		}
	}
	for _, names := range out {
		slices.Sort(names)
	}
	return out
}

// minLeaseTTL keeps lease renewal (every third of the TTL) and the shard
// loops' polling from spinning.
const minLeaseTTL = 30 * time.Millisecond

// BreakerStates returns each target URL's breaker state: closed, half-open
// or open.
func (d *Deliverer) BreakerStates() map[string]string { return d.breakers.States() }

// Run delivers until ctx is cancelled, then lets in-flight attempts finish
// (each is bounded by the attempt timeout), leaves what it did not deliver
// unacknowledged for the next lease holder, gives up its leases and returns.
// Every shard worker and delivery it started has ended when it returns (the
// HTTP clients' idle-connection cleaners may run a few seconds longer).
func (d *Deliverer) Run(ctx context.Context) error {
	d.fair.Store(store.Buckets)
	var wg sync.WaitGroup
	wg.Go(func() { d.heartbeat(ctx) })
	for shard := range store.Buckets {
		wg.Go(func() { d.shardLoop(ctx, shard) })
	}
	wg.Wait()
	for _, c := range d.clients {
		c.CloseIdleConnections()
	}
	return nil
}

// heartbeat keeps this replica registered as live and updates its fair
// share of the shards: a replica holds at most ceil(shards / live replicas),
// so that shards spread over the replicas and move when one joins or dies.
func (d *Deliverer) heartbeat(ctx context.Context) {
	for {
		n, err := d.q.Heartbeat(ctx, d.cfg.Owner, d.cfg.LeaseTTL)
		if err == nil && n > 0 {
			d.fair.Store(int32((store.Buckets + n - 1) / n))
		}
		if !wait(ctx, d.cfg.LeaseTTL/3) {
			// Deregister at once, so that the other replicas' fair share
			// grows and they take the shards this one is giving up.
			lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			_ = d.q.Leave(lctx, d.cfg.Owner)
			cancel()
			return
		}
	}
}

// yield reports whether a held shard should be given up, because this
// replica holds more than its fair share; it counts the shard as given up.
func (d *Deliverer) yield() bool {
	for {
		h := d.held.Load()
		if h <= d.fair.Load() {
			return false
		}
		if d.held.CompareAndSwap(h, h-1) {
			return true
		}
	}
}

// shardLoop competes for the shard's lease and delivers it while held.
func (d *Deliverer) shardLoop(ctx context.Context, shard int) {
	retry := d.cfg.LeaseTTL / 3
	for ctx.Err() == nil {
		if d.held.Load() >= d.fair.Load() {
			if !wait(ctx, jitter(retry)) {
				return
			}
			continue
		}
		asked := time.Now()
		ok, err := d.q.AcquireLease(ctx, shard, d.cfg.Owner, d.cfg.LeaseTTL)
		if err != nil && ctx.Err() == nil {
			d.log.Warn("shard lease", "shard", shard, "err", err)
		}
		if ok {
			d.held.Add(1)
			if yielded := d.holdShard(ctx, shard, asked); !yielded {
				d.held.Add(-1)
			}
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
// lease is lost. It returns only after its renewal goroutine has ended, so
// that no late renewal takes the lease again after the caller released it.
// It reports whether it gave the shard up to even out the replicas' shares.
func (d *Deliverer) holdShard(ctx context.Context, shard int, acquired time.Time) (yielded bool) {
	sctx, lost := context.WithCancel(ctx)
	renewing := make(chan struct{})
	go func() {
		defer close(renewing)
		yielded = d.renewLease(sctx, lost, shard, acquired)
	}()
	defer func() {
		lost()
		<-renewing
	}()

	r := &shardRun{
		d: d, shard: shard, ctx: sctx, lost: lost,
		slots:    make(chan struct{}, d.maxInFlight()),
		attempts: make(chan struct{}, d.cfg.Parallelism),
		lanes:    map[string]*lane{},
		inflight: map[string]bool{},
		flushed:  make(chan struct{}, 1),
		idle:     make(chan laneJob),
	}
	r.run()
	return // yielded is set by the renewal goroutine, awaited by the defer
}

// shardRun delivers one shard while its lease is held. Entries are read in
// stream order and handed to one lane per contact: a lane delivers its
// contact's entries one after the other, lanes run side by side, so a contact
// waiting on a down target or a backoff holds back only itself. Delivered
// entries are acknowledged in small batches by an acknowledger.
type shardRun struct {
	d     *Deliverer
	shard int
	ctx   context.Context
	lost  context.CancelFunc
	// slots bounds the entries read and not finished; attempts bounds the
	// posts in flight at once (delivery.parallelism).
	slots, attempts chan struct{}

	mu       sync.Mutex
	lanes    map[string]*lane
	inflight map[string]bool // stream ids read and not finished
	acks     []string        // delivered, to acknowledge
	// acked collects the ids acknowledged while a pending read is out: the
	// read may return them, and they must not be handed out again.
	acked   map[string]bool
	flushed chan struct{} // signalled when acks are waiting
	lanesWG sync.WaitGroup
	idle    chan laneJob // lanes for idle lane workers
}

type lane struct{ queue []store.Delivery }

// readBlock is how long a read of new entries waits for the first.
const readBlock = time.Second

// readLinger is how long a shard's reader waits after a small read.
const readLinger = 10 * time.Millisecond

// maxInFlight is how many entries of one shard may be read and not finished.
func (d *Deliverer) maxInFlight() int { return 4 * d.cfg.BatchSize }

func (r *shardRun) run() {
	d := r.d
	lanesDone, ackDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ackDone)
		r.acknowledge(lanesDone)
	}()
	defer func() {
		r.lanesWG.Wait() // every lane has ended: no ack is added any more
		close(lanesDone) // the acknowledger flushes the last ones and ends
		<-ackDone
	}()

	// The pending list is read first: entries a previous holder, or this
	// replica before, read and did not acknowledge. Reads check the lease,
	// so once this replica holds it no other takes entries: what the group
	// handed out before is all there, and nothing is added behind this
	// run's back. It is read again only after a failed read — Redis may
	// have handed the entries out all the same, and they must not be
	// skipped. Entries in flight here are not handed out twice.
	pending := true
	for r.ctx.Err() == nil {
		free := r.reserve()
		if free == 0 {
			return
		}
		var batch []store.Delivery
		var held bool
		var err error
		if pending {
			batch, held, err = r.readPending()
		} else {
			batch, held, err = d.q.ReadShard(r.ctx, r.shard, d.cfg.Owner, free, readBlock, false)
		}
		if err != nil {
			r.endPending()
			r.unreserve(free)
			if r.ctx.Err() == nil {
				d.log.Warn("reading shard", "shard", r.shard, "err", err)
				wait(r.ctx, time.Second)
			}
			pending = true
			continue
		}
		if !held {
			d.log.Warn("shard lease lost", "shard", r.shard)
			r.lost()
			return
		}
		used := r.dispatch(batch, free)
		r.endPending()
		r.unreserve(free - used)
		pending = false
		if len(batch) < d.cfg.BatchSize/8 {
			// A trickle: let a few more entries gather, so that reads
			// and acknowledgements each carry several.
			wait(r.ctx, readLinger)
		}
	}
}

// readPending reads the shard's pending list. From then until the read's
// entries are dispatched (endPending), what this run acknowledges is noted,
// so that dispatch does not hand it out again: the read may have returned it
// just before its acknowledgement.
func (r *shardRun) readPending() ([]store.Delivery, bool, error) {
	r.mu.Lock()
	if r.acked == nil {
		r.acked = map[string]bool{}
	}
	r.mu.Unlock()
	return r.d.q.ReadShard(r.ctx, r.shard, r.d.cfg.Owner, r.d.maxInFlight()+r.d.cfg.BatchSize, 0, true)
}

func (r *shardRun) endPending() {
	r.mu.Lock()
	r.acked = nil
	r.mu.Unlock()
}

// reserve waits for room for at least one more entry and takes all there is,
// up to a batch; it returns 0 when the run ends.
func (r *shardRun) reserve() int {
	select {
	case r.slots <- struct{}{}:
	case <-r.ctx.Done():
		return 0
	}
	n := 1
	for n < r.d.cfg.BatchSize {
		select {
		case r.slots <- struct{}{}:
			n++
		default:
			return n
		}
	}
	return n
}

func (r *shardRun) unreserve(n int) {
	for range n {
		<-r.slots
	}
}

// dispatch hands entries to their contacts' lanes, skipping those in flight
// already (a pending read returns them too); it returns the slots used. A
// pending read may return more entries than were reserved: their slots are
// taken on top, waiting if need be.
func (r *shardRun) dispatch(batch []store.Delivery, reserved int) int {
	used := 0
	for _, e := range batch {
		r.mu.Lock()
		busy := r.inflight[e.StreamID] || r.acked[e.StreamID]
		r.mu.Unlock()
		if busy {
			continue
		}
		if used == reserved {
			select {
			case r.slots <- struct{}{}:
				reserved++
			case <-r.ctx.Done():
				return used
			}
		}
		used++
		k := e.Channel + "\x00" + e.Contact
		r.mu.Lock()
		r.inflight[e.StreamID] = true
		l, ok := r.lanes[k]
		if !ok {
			l = &lane{}
			r.lanes[k] = l
		}
		l.queue = append(l.queue, e)
		if !ok {
			r.startLane(k, l)
		}
		r.mu.Unlock()
	}
	return used
}

// laneIdle is how long a lane worker waits for another lane once its own is
// done.
const laneIdle = time.Second

// startLane has a lane worker run a new lane: an idle one if there is one,
// else a new one. Called with r.mu held.
func (r *shardRun) startLane(k string, l *lane) {
	select {
	case r.idle <- laneJob{k, l}:
	default:
		r.lanesWG.Go(func() { r.laneWorker(laneJob{k, l}) })
	}
}

type laneJob struct {
	k string
	l *lane
}

// laneWorker runs lanes one after the other, and waits a while for the next
// one. A worker keeps the stack a delivery grew it to: a fresh goroutine per
// lane spent about 5% of the CPU at load growing its stack.
func (r *shardRun) laneWorker(job laneJob) {
	idle := time.NewTimer(laneIdle)
	defer idle.Stop()
	for {
		r.runLane(job.k, job.l)
		idle.Reset(laneIdle)
		select {
		case job = <-r.idle:
		case <-idle.C:
			return
		case <-r.ctx.Done():
			return
		}
	}
}

// runLane delivers one contact's entries in order until its queue is empty.
func (r *shardRun) runLane(k string, l *lane) {
	for {
		r.mu.Lock()
		if len(l.queue) == 0 {
			delete(r.lanes, k)
			r.mu.Unlock()
			return
		}
		e := l.queue[0]
		r.mu.Unlock()

		out := r.d.deliver(r.ctx, e, r.attempts)

		r.mu.Lock()
		l.queue = l.queue[1:]
		switch out {
		case delivered:
			r.acks = append(r.acks, e.StreamID) // in flight until acknowledged
		case parked:
			delete(r.inflight, e.StreamID)
		case leaseLost, aborted:
			// This entry and the rest of the lane stay pending, in order,
			// for the next holder, which reads the pending list first.
			delete(r.inflight, e.StreamID)
			for _, rest := range l.queue {
				delete(r.inflight, rest.StreamID)
			}
			n := len(l.queue)
			l.queue = nil
			delete(r.lanes, k)
			r.mu.Unlock()
			if out == leaseLost {
				r.lost()
			}
			r.unreserve(n + 1)
			return
		}
		r.mu.Unlock()
		if out == delivered {
			select {
			case r.flushed <- struct{}{}:
			default:
			}
		} else {
			<-r.slots
		}
	}
}

// acknowledge acknowledges delivered entries in batches, until every lane
// has ended and its last acknowledgements are flushed. A failed
// acknowledgement is retried while the run goes on: the entries stay in
// flight meanwhile, so they are not read again.
func (r *shardRun) acknowledge(lanesDone <-chan struct{}) {
	failures := 0
	for {
		final := false
		select {
		case <-r.flushed:
			// Let a few more deliveries finish: one round trip for many.
			t := time.NewTimer(5 * time.Millisecond)
			select {
			case <-t.C:
			case <-lanesDone:
			}
			t.Stop()
		case <-lanesDone:
			final = true
		}
		for {
			r.mu.Lock()
			ids := r.acks
			r.acks = nil
			r.mu.Unlock()
			if len(ids) == 0 {
				break
			}
			held, err := r.d.ack(r.ctx, r.shard, ids)
			if err != nil {
				r.d.log.Warn("acknowledging deliveries", "shard", r.shard, "err", err)
				failures++
				if r.ctx.Err() != nil && failures > 3 {
					return // they stay pending: the next holder delivers them again
				}
				r.mu.Lock()
				r.acks = append(ids, r.acks...)
				r.mu.Unlock()
				// Shutting down, a few quick tries; else until the store answers.
				if r.ctx.Err() != nil || !wait(r.ctx, time.Second) {
					wait(context.Background(), 200*time.Millisecond)
				}
				continue
			}
			failures = 0
			if !held {
				r.d.log.Warn("shard lease lost", "shard", r.shard)
				r.lost()
			}
			r.mu.Lock()
			for _, id := range ids {
				delete(r.inflight, id)
				if r.acked != nil {
					r.acked[id] = true
				}
			}
			r.mu.Unlock()
			r.unreserve(len(ids))
		}
		if final {
			return
		}
	}
}

// renewLease extends the shard's lease every third of its TTL, and calls
// lost when another replica holds it or when it could not be renewed for a
// whole TTL (it has expired: another replica may hold it).
//
// It also gives the shard up (and reports true) when this replica holds more
// than its fair share.
func (d *Deliverer) renewLease(ctx context.Context, lost context.CancelFunc, shard int, renewed time.Time) bool {
	for wait(ctx, d.cfg.LeaseTTL/3) {
		if d.yield() {
			d.log.Info("giving a shard up to another replica", "shard", shard)
			lost()
			return true
		}
		asked := time.Now()
		ok, err := d.q.AcquireLease(ctx, shard, d.cfg.Owner, d.cfg.LeaseTTL)
		switch {
		case err == nil && ok:
			renewed = asked
		case err == nil:
			d.log.Warn("shard lease lost", "shard", shard)
			lost()
			return false
		case ctx.Err() != nil:
			return false
		case time.Since(renewed) >= d.cfg.LeaseTTL:
			d.log.Warn("shard lease expired: could not renew it", "shard", shard, "err", err)
			lost()
			return false
		default:
			d.log.Warn("renewing shard lease", "shard", shard, "err", err)
		}
	}
	return false
}

// ack acknowledges delivered entries, even after ctx ended: what was
// delivered before shutdown is not delivered again.
func (d *Deliverer) ack(ctx context.Context, shard int, ids []string) (bool, error) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return d.q.Ack(actx, shard, d.cfg.Owner, ids...)
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
