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

// unblockScript removes the block entry and its index member, releases or
// deletes the contact's open blocked ticket, tells the helpdesk and appends
// the audit record, all or nothing. Unblock is idempotent: unblocking a
// contact that is not blocked and has no ticket changes nothing but the audit
// trail.
//
// KEYS: 1 block, 2 blocked index, 3 audit, 4 ticket, 5 ticket messages,
// 6 tickets index, 7 channel tickets index, 8 delivery stream, 9 conversation
// ARGV: 1 channel, 2 contact, 3 index member, 4 actor, 5 now ms, 6 mode,
// 7 channel type, 8 target, 9 queue, 10 ticket notice id, 11 its payload,
// 12 contact.unblocked id, 13 its payload, 14 ticket id key prefix
var unblockScript = redis.NewScript(`
local existed = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[3])
local kt, ktm, kidx, kcidx, kq = KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local conv = redis.call('HGET', KEYS[9], 'id') or ''
local ch, ct, co, target, queue, nid, np = ARGV[1], ARGV[7], ARGV[2], ARGV[8], ARGV[9], ARGV[10], ARGV[11]
local released, deleted, n = 0, 0, 0
local tid = redis.call('HGET', kt, 'id')
local dropped = redis.call('HGET', kt, 'dropped') or '0'
if tid then
  local ktidkey = ARGV[14] .. tid
  if ARGV[6] == 'release' then
` + releaseLua + `
    released = 1
  else
` + deleteLua + `
    deleted = 1
  end
end
if existed == 1 then
  redis.call('XADD', kq, '*', 'id', ARGV[12], 'tgt', 'helpdesk', 'type', 'contact.unblocked',
    'ch', ch, 'ct', ct, 'co', co, 'conv', conv, 'route', 'helpdesk', 'queue', 'unassigned',
    'auto', '0', 'blk', '0', 'ev', ARGV[13])
end
local detail = 'tickets=' .. ARGV[6]
if tid then detail = detail .. ' ticket=' .. tid .. ' messages=' .. n .. ' dropped=' .. dropped end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', '` + strconv.Itoa(auditMaxLen) + `', '*',
  'at', ARGV[5], 'actor', ARGV[4], 'action', 'unblock', 'channel', ch, 'contact', co,
  'ticket', tid or '', 'detail', detail)
return {existed, released, deleted}
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
	info, err := s.channel(channel)
	if err != nil {
		return UnblockResult{}, err
	}
	target, queue := info.release()
	now := s.now()
	typ := "ticket.released"
	if mode == TicketsDelete {
		typ = "ticket.deleted"
	}
	nid, np := notice(typ, now, map[string]any{"routed_to": queue, "reason": "contact.unblocked"})
	uid, up := notice("contact.unblocked", now, map[string]any{"actor": actor, "tickets": mode})
	k := keysOf(channel, contact)
	res, err := unblockScript.Run(ctx, s.rdb,
		[]string{k.block, k.blocked, k.audit, k.ticket, k.ticketMessages, k.tickets, k.channelTickets(channel), k.queue, k.conv},
		channel, contact, member(channel, contact), actor, ms(now), string(mode), info.Type,
		target, queue, nid, np, uid, up, k.ticketID(""),
	).Int64Slice()
	if err != nil {
		return UnblockResult{}, storeErr(err)
	}
	return UnblockResult{Unblocked: res[0] == 1, Released: int(res[1]), Deleted: int(res[2])}, nil
}
