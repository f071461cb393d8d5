package delivery

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"
)

// breakers holds one circuit breaker per target URL.
type breakers struct {
	mu       sync.Mutex
	m        map[string]*gobreaker.CircuitBreaker[struct{}]
	failures uint32
	open     time.Duration
	changed  func(name, from, to string)
}

func newBreakers(failures int, open time.Duration, changed func(name, from, to string)) *breakers {
	return &breakers{m: map[string]*gobreaker.CircuitBreaker[struct{}]{}, failures: uint32(failures), open: open, changed: changed}
}

func (b *breakers) get(url string) *gobreaker.CircuitBreaker[struct{}] {
	b.mu.Lock()
	defer b.mu.Unlock()
	cb, ok := b.m[url]
	if !ok {
		cb = gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
			Name:        url,
			MaxRequests: 1,
			Timeout:     b.open,
			ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= b.failures },
			OnStateChange: func(name string, from, to gobreaker.State) {
				b.changed(name, from.String(), to.String())
			},
		})
		b.m[url] = cb
	}
	return cb
}

// waitClosed waits while the breaker is open, so that no attempt is spent on
// a target known to be down. It returns false when ctx ends first.
func (b *breakers) waitClosed(ctx context.Context, cb *gobreaker.CircuitBreaker[struct{}]) bool {
	for cb.State() == gobreaker.StateOpen {
		if !wait(ctx, b.poll()) {
			return false
		}
	}
	return ctx.Err() == nil
}

// poll is how often a waiting delivery looks at an open breaker again.
func (b *breakers) poll() time.Duration {
	return min(max(b.open/20, 10*time.Millisecond), 250*time.Millisecond)
}

// States returns each target's breaker state, for metrics.
func (b *breakers) States() map[string]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string]string, len(b.m))
	for url, cb := range b.m {
		out[url] = cb.State().String()
	}
	return out
}

func isBreakerRefusal(err error) bool {
	return errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests)
}
