// Package decision decides what happens to each inbound event — forwarded,
// recorded, queued on a blocked ticket, or a duplicate — and stores the
// decision with everything it implies in one script on the contact's slot:
// the dedupe marker, the recent-contacts index, the conversation, the
// ticket, the delivery entry.
package decision

import (
	"embed"
	"errors"

	"github.com/hookwall/hookwall/blocklist/store"
)

//go:embed lua
var luaFiles embed.FS

// Config configures a Decider.
type Config struct {
	// RecentContacts bounds the recent-contacts index: how many contacts of
	// a channel it keeps in each of the store.Buckets buckets, the most
	// recent. Zero means DefaultRecentContacts.
	RecentContacts int
	// TicketMessages bounds a blocked ticket: it keeps the newest
	// TicketMessages messages and counts the older ones it drops. Zero means
	// DefaultTicketMessages.
	TicketMessages int
}

// Decider decides and stores inbound events.
type Decider struct {
	db        *store.Core
	recentMax int
	ticketMax int
}

// New returns a Decider on db.
func New(cfg Config, db *store.Core) (*Decider, error) {
	if db == nil {
		return nil, errors.New("decision: nil store")
	}
	if cfg.RecentContacts < 0 || cfg.TicketMessages < 0 {
		return nil, errors.New("decision: recent contacts and ticket bounds must not be negative")
	}
	if cfg.RecentContacts == 0 {
		cfg.RecentContacts = DefaultRecentContacts
	}
	if cfg.TicketMessages == 0 {
		cfg.TicketMessages = DefaultTicketMessages
	}
	return &Decider{db: db, recentMax: cfg.RecentContacts, ticketMax: cfg.TicketMessages}, nil
}
