package decision_test

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/hookwall/hookwall/blocklist/decision"
	"github.com/hookwall/hookwall/blocklist/internal/storetest"
	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/hookwall/hookwall/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// refuseOnce makes the server refuse one decision with NOSCRIPT: in the
// next pipeline, the EVALSHA whose dedupe marker (its second key) is the one
// given goes out with a hash no server knows. It stands for a script cache that changed under a
// pipeline — a restarted or promoted server with an empty cache, whose
// script another connection loaded between two calls of the pipeline — which
// the tests cannot time.
type refuseOnce struct{ once atomic.Pointer[string] }

func (h *refuseOnce) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *refuseOnce) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return next
}

func (h *refuseOnce) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if id := h.once.Load(); id != nil {
			for _, c := range cmds {
				args := c.Args()
				// evalsha, hash, number of keys, settings, dedupe, ...
				if c.Name() == "evalsha" && len(args) > 4 && args[4] == *id && h.once.CompareAndSwap(id, nil) {
					args[1] = "0000000000000000000000000000000000000000"
				}
			}
		}
		return next(ctx, cmds)
	}
}

// TestRefusedEventKeepsOrder: two messages of one contact in one request,
// the first refused with NOSCRIPT and the second run. The executor sends
// the first again after the pipeline; had the second been stored, the
// contact's messages would be delivered in the wrong order. The second
// refuses until the first is stored, the request fails as unavailable (the
// platform retries it), and the retry stores the second after the first.
func TestRefusedEventKeepsOrder(t *testing.T) {
	redistest.Parallel(t)
	rdb := redistest.Start(t).Client()
	s := storetest.NewStore(t, rdb, true)
	t.Cleanup(s.Close)
	h := &refuseOnce{}
	rdb.AddHook(h)
	ctx := t.Context()
	storetest.Ingest(t, s, storetest.TextEvent("line-main", "Uorder", "ev-first-ever", "m0")) // the script is cached

	batch := []decision.Event{
		storetest.TextEvent("line-main", "Uorder", "ev-order-1", "m1"),
		storetest.TextEvent("line-main", "Uorder", "ev-order-2", "m2"),
	}
	marker := store.KeysOf("line-main", "Uorder").Dedupe("line-main", "ev-order-1")
	h.once.Store(&marker)
	if _, err := s.Ingest(ctx, batch); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("a request whose first event was refused: %v; want ErrUnavailable", err)
	}
	out := storetest.Ingest(t, s, batch...) // the platform's retry
	if out[0].Decision != decision.Duplicate || out[1].Decision != decision.Forwarded {
		t.Errorf("retry: %s, %s; want duplicate (stored by the executor's second send), forwarded", out[0].Decision, out[1].Decision)
	}
	if got := storetest.Delivered(t, rdb, "Uorder"); !slices.Equal(got, []string{"m0", "m1", "m2"}) {
		t.Errorf("the contact's deliveries %q; want m0, m1, m2", got)
	}
}
