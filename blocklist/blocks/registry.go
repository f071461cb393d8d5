// Package blocks is the blocked contacts and the feature's setting: blocking
// and unblocking (which releases or deletes the contact's blocked tickets
// through package tickets), the block_contact_enabled setting, the listings
// of blocked and recent contacts, and the audit trail of admin actions.
package blocks

import (
	"embed"
	"errors"

	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/hookwall/hookwall/blocklist/tickets"
	"github.com/redis/go-redis/v9"
)

//go:embed lua
var luaFiles embed.FS

// Registry is the blocked contacts and the setting on the store.
type Registry struct {
	db      *store.Core
	rdb     redis.UniversalClient
	tickets *tickets.Desk
}

// New returns a Registry on db; unblocking releases tickets through desk.
func New(db *store.Core, desk *tickets.Desk) (*Registry, error) {
	if db == nil || desk == nil {
		return nil, errors.New("blocks: nil store or tickets")
	}
	return &Registry{db: db, rdb: db.Redis(), tickets: desk}, nil
}
