// Package blocks is the blocked contacts and the feature's setting: blocking
// and unblocking (whose script releases or deletes the contact's open
// blocked ticket with the library's release functions, package tickets then
// moving a release's messages in chunks), the block_contact_enabled setting,
// the listings of blocked and recent contacts, their counts, and the audit
// trail of admin actions.
package blocks

import (
	"context"
	"embed"
	"errors"

	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/redis/go-redis/v9"
)

//go:embed lua
var luaFiles embed.FS

// Registry is the blocked contacts and the setting on the store.
type Registry struct {
	db      *store.Core
	rdb     redis.UniversalClient
	tickets Releaser
}

// Releaser moves a contact's ticket release in progress to the delivery
// stream (tickets.Desk).
type Releaser interface {
	FinishRelease(ctx context.Context, channel, contact string) error
}

// New returns a Registry on db; an unblock's release is moved by tickets.
func New(db *store.Core, tickets Releaser) (*Registry, error) {
	if db == nil || tickets == nil {
		return nil, errors.New("blocks: nil store or tickets")
	}
	return &Registry{db: db, rdb: db.Redis(), tickets: tickets}, nil
}
