package delivery_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hookwall/hookwall/internal/redistest"

	"github.com/hookwall/hookwall/blocklist"
	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/hookwall/hookwall/internal/testkit"
)

// errFlaky is a store failure injected by the tests below.
var errFlaky = errors.New("injected store failure")

// flakyAck fails the first acknowledgement.
type flakyAck struct {
	*blocklist.Store
	mu     sync.Mutex
	failed bool
}

func (q *flakyAck) Ack(ctx context.Context, shard int, owner string, ids ...string) (bool, error) {
	q.mu.Lock()
	fail := !q.failed
	q.failed = true
	q.mu.Unlock()
	if fail {
		return false, errFlaky
	}
	return q.Store.Ack(ctx, shard, owner, ids...)
}

// TestAckRetried fails an acknowledgement: the delivered entry is
// acknowledged later, not left pending behind the contact's next message
// nor delivered again.
func TestAckRetried(t *testing.T) {
	redistest.Parallel(t)
	s := newSetup(t)
	bot := testkit.NewTarget(t, "bot", "")
	channels := oneTarget(bot.URL())
	s.ingest(t, msg{channel: lineMain, contact: "Uack", text: "0"})
	r := start(t, testConfig("a", channels), &flakyAck{Store: s.store})
	bot.WaitDelivered(t, 1)
	s.ingest(t, msg{channel: lineMain, contact: "Uack", text: "1"})
	bot.WaitDelivered(t, 2)
	r.stop(t)
	var texts []string
	for _, rq := range bot.Requests() {
		texts = append(texts, rq.Env.Text())
	}
	if !slices.Equal(texts, []string{"0", "1"}) {
		t.Errorf("target got %v, want [0 1]", texts)
	}
	if d := s.depth(t); d != 0 {
		t.Errorf("%d entries left on the queue, want 0", d)
	}
}

// flakyPark fails the first two attempts to park.
type flakyPark struct {
	*blocklist.Store
	mu    sync.Mutex
	fails int
}

func (q *flakyPark) Park(ctx context.Context, owner string, d store.Delivery, reason string, attempts int) (bool, error) {
	q.mu.Lock()
	q.fails++
	fail := q.fails <= 2
	q.mu.Unlock()
	if fail {
		return false, errFlaky
	}
	return q.Store.Park(ctx, owner, d, reason, attempts)
}

// TestParkRetried fails parking twice: parking is retried in place, so the
// message is not posted again and the contact's next message still waits
// for it.
func TestParkRetried(t *testing.T) {
	redistest.Parallel(t)
	s := newSetup(t)
	bot := testkit.NewTarget(t, "bot", "")
	bot.SetAnswer(func(r testkit.Request) int {
		if r.Env.Text() == "poison" {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	channels := oneTarget(bot.URL())
	s.ingest(t,
		msg{channel: lineMain, contact: "Upark", text: "poison"},
		msg{channel: lineMain, contact: "Upark", text: "next"},
	)
	cfg := testConfig("a", channels)
	cfg.MaxAttempts = 2
	r := start(t, cfg, &flakyPark{Store: s.store})
	bot.WaitDelivered(t, 1)
	r.stop(t)
	var texts []string
	for _, rq := range bot.Requests() {
		texts = append(texts, rq.Env.Text())
	}
	if want := []string{"poison", "poison", "next"}; !slices.Equal(texts, want) {
		t.Errorf("target got %v, want %v", texts, want)
	}
	if dls := s.deadLetters(t); len(dls) != 1 || dls[0].Attempts != 2 {
		t.Errorf("dead letters = %+v, want the poison message with 2 attempts", dls)
	}
}

// lateRenewal holds shard 0's first lease renewal until the deliverer is
// stopped and has given the lease up, then sends it, as a renewal whose reply
// was still on its way at shutdown. A deliverer that waits for its renewal
// before giving the lease up does not give it up before: the renewal goes
// 100ms after the shard's last read returned.
type lateRenewal struct {
	*blocklist.Store
	mu        sync.Mutex
	calls     int
	reading   int           // shard 0 reads in flight
	readDone  chan struct{} // a shard 0 read returned
	renewing  chan struct{} // closed when the renewal starts
	renewed   chan struct{} // closed when it is done
	released  chan struct{} // closed when shard 0's lease is given up
	closeOnce sync.Once
}

func (q *lateRenewal) ReadShard(ctx context.Context, shard int, owner string, count int, block time.Duration, pending bool) ([]store.Delivery, bool, error) {
	if shard != 0 {
		return q.Store.ReadShard(ctx, shard, owner, count, block, pending)
	}
	q.mu.Lock()
	q.reading++
	q.mu.Unlock()
	defer func() {
		q.mu.Lock()
		q.reading--
		q.mu.Unlock()
		select {
		case q.readDone <- struct{}{}:
		default:
		}
	}()
	return q.Store.ReadShard(ctx, shard, owner, count, block, pending)
}

func (q *lateRenewal) AcquireLease(ctx context.Context, shard int, owner string, ttl time.Duration) (bool, error) {
	if shard != 0 {
		return q.Store.AcquireLease(ctx, shard, owner, ttl)
	}
	q.mu.Lock()
	q.calls++
	n := q.calls
	q.mu.Unlock()
	if n != 2 {
		return q.Store.AcquireLease(ctx, shard, owner, ttl)
	}
	defer close(q.renewed)
	close(q.renewing)
	<-ctx.Done()
	for {
		q.mu.Lock()
		reading := q.reading
		q.mu.Unlock()
		if reading == 0 {
			break
		}
		<-q.readDone
	}
	select {
	case <-q.released:
	case <-time.After(100 * time.Millisecond):
	}
	return q.Store.AcquireLease(context.WithoutCancel(ctx), shard, owner, ttl)
}

func (q *lateRenewal) ReleaseLease(ctx context.Context, shard int, owner string) error {
	err := q.Store.ReleaseLease(ctx, shard, owner)
	if shard == 0 {
		q.closeOnce.Do(func() { close(q.released) })
	}
	return err
}

// TestLeaseFreeAfterRun checks that a renewal in flight at shutdown does
// not take the lease again after Run gave it up: the next replica gets the
// shard at once, not a lease period later.
func TestLeaseFreeAfterRun(t *testing.T) {
	redistest.Parallel(t)
	s := newSetup(t)
	bot := testkit.NewTarget(t, "bot", "")
	channels := oneTarget(bot.URL())
	q := &lateRenewal{
		Store: s.store, readDone: make(chan struct{}, 1),
		renewing: make(chan struct{}), renewed: make(chan struct{}), released: make(chan struct{}),
	}
	cfg := testConfig("a", channels)
	cfg.LeaseTTL = 300 * time.Millisecond
	r := start(t, cfg, q)
	select {
	case <-q.renewing:
	case <-time.After(deadline):
		t.Fatal("shard 0's lease was not renewed")
	}
	r.stop(t)
	select {
	case <-q.renewed:
	case <-time.After(deadline):
		t.Fatal("the renewal did not end")
	}
	if ok, err := s.store.AcquireLease(t.Context(), 0, "next", time.Second); err != nil || !ok {
		t.Errorf("shard 0's lease is still held after Run returned (%v, %v)", ok, err)
	}
}
