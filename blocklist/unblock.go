package blocklist

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// TicketMode says what unblocking does with the contact's blocked tickets.
type TicketMode string

// The unblock options of the contract.
const (
	// TicketsRelease (Unblock All) releases every blocked ticket of the contact.
	TicketsRelease TicketMode = "release"
	// TicketsDelete (Delete All) removes them from the store for good.
	TicketsDelete TicketMode = "delete"
)

// Valid reports whether m is a known mode.
func (m TicketMode) Valid() bool { return m == TicketsRelease || m == TicketsDelete }

// UnblockResult says what an unblock changed.
type UnblockResult struct {
	// Unblocked is true when the contact was blocked before.
	Unblocked bool `json:"unblocked"`
	// Released counts tickets released to the bot or helpdesk.
	Released int `json:"released"`
	// Deleted counts tickets removed.
	Deleted int `json:"deleted"`
}

// unblockScript removes the block entry and its index member and appends the
// audit record, all or nothing. Unblock is idempotent: unblocking a contact
// that is not blocked changes nothing but the audit trail.
//
// KEYS: block, blocked index, audit
// ARGV: channel, contact, index member, actor, now ms, detail
var unblockScript = redis.NewScript(`
local existed = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[3])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', '` + strconv.Itoa(auditMaxLen) + `', '*',
  'at', ARGV[5], 'actor', ARGV[4], 'action', 'unblock', 'channel', ARGV[1], 'contact', ARGV[2],
  'ticket', '', 'detail', ARGV[6])
return {existed, 0, 0}
`)

// Unblock lifts the contact's block and handles its blocked tickets as mode
// says. It works whether or not the feature is enabled.
func (s *Store) Unblock(ctx context.Context, channel, contact, actor string, mode TicketMode) (UnblockResult, error) {
	if err := ValidateContact(contact); err != nil {
		return UnblockResult{}, err
	}
	if !mode.Valid() {
		return UnblockResult{}, fmt.Errorf("%w: tickets must be release or delete", ErrInvalid)
	}
	k := keysOf(channel, contact)
	res, err := unblockScript.Run(ctx, s.rdb, []string{k.block, k.blocked, k.audit},
		channel, contact, member(channel, contact), actor, ms(s.now()), "tickets="+string(mode),
	).Int64Slice()
	if err != nil {
		return UnblockResult{}, storeErr(err)
	}
	return UnblockResult{Unblocked: res[0] == 1, Released: int(res[1]), Deleted: int(res[2])}, nil
}
