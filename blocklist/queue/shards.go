// Package queue is the delivery queue: one stream per bucket (a shard), the
// lease that lets one replica at a time deliver a shard, the registry of
// replicas that share the shards, and the dead letters parked after their
// retries. Its entries are written through the store's library
// (store/lua/lib/entry.lua) by the decision, blocks and tickets packages and
// by this package's dead-letter retry; this package reads them
// (store.DeliveryFrom) and acknowledges them.
package queue

import (
	"embed"
	"errors"

	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/redis/go-redis/v9"
)

//go:embed lua
var luaFiles embed.FS

// Shards is the delivery queue on the store.
type Shards struct {
	db  *store.Core
	rdb redis.UniversalClient
}

// New returns the delivery queue on db.
func New(db *store.Core) (*Shards, error) {
	if db == nil {
		return nil, errors.New("queue: nil store")
	}
	return &Shards{db: db, rdb: db.Redis()}, nil
}
