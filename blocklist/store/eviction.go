package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Errors of CheckEviction.
var (
	// ErrEvicting means a Redis server's maxmemory-policy lets it evict keys
	// under memory pressure. An evicting Redis silently drops queued
	// messages, blocked tickets and dedupe markers, so the store refuses to
	// serve on it: the error wraps ErrUnavailable too.
	ErrEvicting = errors.New("redis may evict keys")
	// ErrPolicyHidden means the server refused CONFIG GET (the provider
	// renamed or disabled CONFIG, or the ACL user may not run it), so the
	// store cannot tell whether it evicts. It does not wrap ErrUnavailable.
	ErrPolicyHidden = errors.New("cannot read redis maxmemory-policy")
)

// noEviction is the only maxmemory-policy the store accepts: with it a full
// Redis refuses writes (OOM, which Err makes ErrUnavailable) instead of
// dropping keys.
const noEviction = "noeviction"

// CheckEviction reads maxmemory-policy on the server, or on every master of
// a Cluster. It returns nil when each is noeviction, or when the Core's
// Config has SkipEvictionCheck; an error wrapping ErrUnavailable and
// ErrEvicting, naming the server and its policy, when any is not; an error
// wrapping ErrPolicyHidden when a server refuses CONFIG and none evicts; and
// Err's translation of any other failure. It is read anew at each call: an
// operator may change the policy at runtime with CONFIG SET.
func (c *Core) CheckEviction(ctx context.Context) error {
	if c.skipEvictionCheck {
		return nil
	}
	cc, ok := c.rdb.(*redis.ClusterClient)
	if !ok {
		return checkPolicy(ctx, c.rdb, serverName(c.rdb))
	}
	var (
		mu   sync.Mutex
		errs []error
	)
	err := cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		if err := checkPolicy(ctx, m, serverName(m)); err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
		return nil
	})
	if err != nil {
		return Err(err)
	}
	// A hidden policy on one master must not hide another's eviction or
	// failure: report those alone when there are any.
	worse := slices.DeleteFunc(slices.Clone(errs), func(e error) bool { return errors.Is(e, ErrPolicyHidden) })
	if len(worse) > 0 {
		return errors.Join(worse...)
	}
	return errors.Join(errs...)
}

// checkPolicy reads maxmemory-policy on one server, named name in errors.
func checkPolicy(ctx context.Context, rdb redis.Cmdable, name string) error {
	res, err := rdb.ConfigGet(ctx, "maxmemory-policy").Result()
	if rerr, ok := errors.AsType[redis.Error](err); ok && !unavailableReply(rerr.Error()) {
		// Unknown or renamed command, NOPERM, a proxy's refusal: the
		// server is up and will not say.
		return fmt.Errorf("%w on %s: %v", ErrPolicyHidden, name, err)
	}
	if err != nil {
		return Err(err)
	}
	policy, ok := res["maxmemory-policy"]
	switch {
	case !ok:
		return fmt.Errorf("%w on %s: CONFIG GET answered without it", ErrPolicyHidden, name)
	case policy != noEviction:
		return fmt.Errorf("%w: %w: %s has maxmemory-policy %s, and an evicting Redis silently drops queued messages, tickets and dedupe markers: set maxmemory-policy %s",
			ErrUnavailable, ErrEvicting, name, policy, noEviction)
	}
	return nil
}

// serverName names the server a client talks to, for errors.
func serverName(rdb redis.UniversalClient) string {
	c, ok := rdb.(*redis.Client)
	if !ok {
		return "redis"
	}
	if addr := c.Options().Addr; addr != "FailoverClient" { // go-redis's placeholder for a Sentinel client
		return "redis " + addr
	}
	return "the redis master Sentinel names"
}
