// Package tickets is the supervisors' blocked tickets and the contacts'
// conversations: listing and reading tickets, releasing one to the bot or
// helpdesk (in chunks, see release.go) or deleting it, and reading a
// contact's latest conversation. The decision (package decision) opens
// tickets and conversations; unblocking (package blocks) releases or deletes
// a contact's ticket in its own script, and this package's FinishRelease
// moves the release's messages.
package tickets

import (
	"embed"
	"errors"

	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/redis/go-redis/v9"
)

//go:embed lua
var luaFiles embed.FS

// Config configures a Desk.
type Config struct {
	// ReleaseChunk is how many entries one script of a ticket release moves
	// to the delivery stream (at most ReleaseChunkBytes of them). Zero means
	// DefaultReleaseChunk; tests make it small.
	ReleaseChunk int
}

// Desk is the blocked tickets and conversations on the store.
type Desk struct {
	db           *store.Core
	rdb          redis.UniversalClient
	releaseChunk int
}

// New returns a Desk on db.
func New(cfg Config, db *store.Core) (*Desk, error) {
	if db == nil {
		return nil, errors.New("tickets: nil store")
	}
	if cfg.ReleaseChunk < 0 {
		return nil, errors.New("tickets: release chunk must not be negative")
	}
	if cfg.ReleaseChunk == 0 {
		cfg.ReleaseChunk = DefaultReleaseChunk
	}
	return &Desk{db: db, rdb: db.Redis(), releaseChunk: cfg.ReleaseChunk}, nil
}
