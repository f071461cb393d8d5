package delivery_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookwall/hookwall/blocklist"
	"github.com/hookwall/hookwall/blocklist/decision"
	"github.com/hookwall/hookwall/blocklist/queue"
	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/hookwall/hookwall/delivery"
	"github.com/hookwall/hookwall/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// deadline bounds every wait of a test: reaching it is a failure, never a
// step of the test.
const deadline = 15 * time.Second

// Channels of the tests: line-main has a bot, wa-main only a helpdesk.
const (
	lineMain = "line-main"
	waMain   = "wa-main"
)

// Standard Webhooks keys of the fake targets.
const (
	botKey      = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	helpdeskKey = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
)

// setup is a real redis-server with a blocklist.Store on it.
type setup struct {
	rdb   redis.UniversalClient
	store *blocklist.Store
	seq   atomic.Int64
}

func newSetup(t *testing.T) *setup {
	t.Helper()
	tp := redistest.StartTopology(t)
	// 16 shard loops each hold a connection in a blocking read: leave room
	// for leases, acks and the test's own calls.
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs: tp.Addrs, MasterName: tp.MasterName, IsClusterMode: tp.Mode == "cluster", PoolSize: 64,
	})
	t.Cleanup(func() { _ = rdb.Close() })
	store, err := blocklist.New(blocklist.Config{
		DefaultEnabled: true,
		Channels: map[string]store.ChannelInfo{
			lineMain: {Type: "line", Bot: true, DedupeWindow: time.Hour},
			waMain:   {Type: "whatsapp", DedupeWindow: time.Hour},
		},
	}, rdb)
	if err != nil {
		t.Fatalf("blocklist.New: %v", err)
	}
	if err := store.EnsureQueues(t.Context()); err != nil {
		t.Fatalf("EnsureQueues: %v", err)
	}
	return &setup{rdb: rdb, store: store}
}

// msg is an inbound text message of a contact.
type msg struct {
	channel, contact, text string
	raw                    json.RawMessage
	traceParent            string
}

// receivedAt is the ReceivedAt of every ingested event.
var receivedAt = time.Date(2026, 11, 25, 10, 0, 0, 123000000, time.UTC)

// ingest stores messages through the store's decision, as the gateway does,
// and returns their outcomes.
func (s *setup) ingest(t *testing.T, msgs ...msg) []decision.Outcome {
	t.Helper()
	events := make([]decision.Event, len(msgs))
	for i, m := range msgs {
		n := s.seq.Add(1)
		raw := m.raw
		if raw == nil {
			raw = json.RawMessage(fmt.Sprintf(`{"type":"message","webhookEventId":"ev%d","message":{"type":"text","text":%q}}`, n, m.text))
		}
		events[i] = decision.Event{
			Channel: m.channel, Contact: m.contact, ID: fmt.Sprintf("ev%d", n), Type: "message",
			Message:    json.RawMessage(fmt.Sprintf(`{"id":"m%d","type":"text","text":%q}`, n, m.text)),
			ReceivedAt: receivedAt, Raw: raw, TraceParent: m.traceParent,
		}
	}
	out, err := s.store.Ingest(t.Context(), events)
	if err != nil {
		t.Fatalf("Ingest: %v", err)
	}
	return out
}

// depth is the number of entries left on all the shards' streams.
func (s *setup) depth(t *testing.T) int64 {
	t.Helper()
	d, err := s.store.QueueDepth(t.Context())
	if err != nil {
		t.Fatalf("QueueDepth: %v", err)
	}
	var n int64
	for _, v := range d {
		n += v
	}
	return n
}

func (s *setup) deadLetters(t *testing.T) []queue.DeadLetter {
	t.Helper()
	dls, _, err := s.store.DeadLetters(t.Context(), store.MaxListLimit, "")
	if err != nil {
		t.Fatalf("DeadLetters: %v", err)
	}
	return dls
}

// observer records the deliverer's reports.
type observer struct {
	mu       sync.Mutex
	attempts []string    // envelope id + " " + outcome
	changed  chan string // "from->to"
	outcome  chan string
	// onChange, when set, is called with each change, under mu.
	onChange func(from, to string)
}

func newObserver() *observer {
	return &observer{changed: make(chan string, 1000), outcome: make(chan string, 10000)}
}

func (o *observer) Attempted(_ context.Context, d store.Delivery, outcome string, _ time.Duration, _ error) {
	o.mu.Lock()
	o.attempts = append(o.attempts, d.ID+" "+outcome)
	o.mu.Unlock()
	o.outcome <- outcome
}

func (o *observer) BreakerChanged(_, from, to string) {
	o.mu.Lock()
	if o.onChange != nil {
		o.onChange(from, to)
	}
	o.mu.Unlock()
	o.changed <- from + "->" + to
}

// waitAttempts waits for n attempts with the outcome.
func (o *observer) waitAttempts(t *testing.T, outcome string, n int) {
	t.Helper()
	timeout := time.After(deadline)
	for n > 0 {
		select {
		case got := <-o.outcome:
			if got == outcome {
				n--
			}
		case <-timeout:
			t.Fatalf("%d %s attempts missing after %s", n, outcome, deadline)
		}
	}
}

// outcomes returns the recorded attempt outcomes of envelope id.
func (o *observer) outcomes(id string) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []string
	for _, a := range o.attempts {
		if v, ok := strings.CutPrefix(a, id+" "); ok {
			out = append(out, v)
		}
	}
	return out
}

// waitChange waits for the breaker change from->to.
func (o *observer) waitChange(t *testing.T, want string) {
	t.Helper()
	timeout := time.After(deadline)
	for {
		select {
		case c := <-o.changed:
			if c == want {
				return
			}
		case <-timeout:
			t.Fatalf("no breaker change %s within %s", want, deadline)
		}
	}
}

// oneTarget has url be both the bot and the helpdesk of lineMain, unsigned.
func oneTarget(url string) map[string]delivery.Targets {
	return map[string]delivery.Targets{lineMain: {Bot: &delivery.Target{URL: url}, Helpdesk: delivery.Target{URL: url}}}
}

// testConfig is a deliverer configuration with fast retries.
func testConfig(owner string, channels map[string]delivery.Targets) delivery.Config {
	return delivery.Config{
		Owner:       owner,
		Channels:    channels,
		Timeout:     5 * time.Second,
		MaxAttempts: 10,
		BackoffMin:  5 * time.Millisecond,
		BackoffMax:  50 * time.Millisecond,
		Parallelism: 4,
		LeaseTTL:    2 * time.Second,
		// The breaker stays out of the way unless a test is about it.
		BreakerFailures: 1000,
		BreakerOpen:     300 * time.Millisecond,
	}
}

// running is a Deliverer whose Run is in progress.
type running struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// start runs a deliverer on q until stop or the end of the test.
func start(t *testing.T, cfg delivery.Config, q delivery.Queue) *running {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	d, err := delivery.New(cfg, q, log)
	if err != nil {
		t.Fatalf("delivery.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		if err := d.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels Run and waits for it to return.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(deadline):
		t.Fatalf("Run did not return within %s of cancel", deadline)
	}
}
