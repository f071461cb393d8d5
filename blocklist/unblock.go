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
	// TicketsNone unblocks a contact without an open blocked ticket, as
	// TicketsRelease would (releasing nothing), and refuses one with an
	// open ticket with ErrHasTicket, changing nothing. The check is part of
	// the unblock's script: no ticket opens between the two. It is for a
	// caller that may not release or delete tickets; it is not one of the
	// contract's modes, which Valid reports.
	TicketsNone TicketMode = "none"
)

// Valid reports whether m is one of the contract's modes: release or delete.
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

// unblockScript removes the block entry and its index member, starts the
// release of the contact's open blocked ticket (release.go moves its
// messages) or deletes it, tells the helpdesk and appends the audit record,
// all or nothing. Unblock is idempotent: unblocking a contact that is not
// blocked and has no ticket changes nothing but the audit trail. To release
// a ticket while the contact has a release in progress, it answers busy,
// changing nothing: the caller finishes that release first. With ARGV[15]
// "1" (TicketsNone) it answers hasticket, changing nothing, when the contact
// has an open ticket.
//
// Deleting the ticket removes its ticket id key, which Redis Cluster wants in
// KEYS like every key a script touches: the caller reads the open ticket's id
// first and passes it with its key. When the contact's open ticket is another
// by the time the script runs (one was opened, released or deleted since),
// the script answers changed, changing nothing, and the caller reads again.
//
// KEYS: 1 block, 2 blocked index, 3 audit, 4 ticket, 5 ticket messages,
// 6 tickets index, 7 channel tickets index, 8 delivery stream,
// 9 conversation, 10 release, 11 release list, 12 releases index,
// 13 ticket id key of ARGV[14]
// ARGV: 1 channel, 2 contact, 3 index member, 4 actor, 5 now ms, 6 mode,
// 7 channel type, 8 target, 9 queue, 10 ticket notice id, 11 its payload,
// 12 contact.unblocked id, 13 its payload, 14 the open ticket's id or "",
// 15 refuse an open ticket (1 or 0)
// It returns {"changed"}, {"hasticket"}, {"busy"} or {"ok", existed,
// released, deleted} (1 or 0 each).
var unblockScript = redis.NewScript(entryLua + `
local kt, ktm, kidx, kcidx, kq = KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local krel, krl, krels = KEYS[10], KEYS[11], KEYS[12]
local tid = redis.call('HGET', kt, 'id')
if (tid or '') ~= ARGV[14] then return {'changed'} end
if tid and ARGV[15] == '1' then return {'hasticket'} end
if tid and ARGV[6] == 'release' and redis.call('EXISTS', krel) == 1 then return {'busy'} end
local existed = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[3])
local conv = redis.call('HGET', KEYS[9], 'id') or ''
local ch, ct, co, target, queue = ARGV[1], ARGV[7], ARGV[2], ARGV[8], ARGV[9]
local member, now = ARGV[3], ARGV[5]
local released, deleted, n, dropped = 0, 0, 0, '0'
if tid then
  local typ = 'ticket.released'
  if ARGV[6] ~= 'release' then typ = 'ticket.deleted' end
  local f = {'id', ARGV[10], 'tgt', 'helpdesk', 'type', typ, 'ch', ch, 'ct', ct,
    'co', co, 'conv', conv, 'route', 'helpdesk', 'queue', 'unassigned', 'auto', '0', 'blk', '1', 'ev', ARGV[11]}
  if ARGV[6] == 'release' then
` + detachLua + `
    redis.call('RPUSH', krl, packEntry(f))
    released = 1
  else
    n = redis.call('LLEN', ktm)
    dropped = redis.call('HGET', kt, 'dropped') or '0'
    redis.call('UNLINK', kt, ktm, KEYS[13])
    redis.call('ZREM', kidx, tid)
    redis.call('ZREM', kcidx, tid)
    emit(kq, krel, krl, f)
    deleted = 1
  end
end
if existed == 1 then
  emit(kq, krel, krl, {'id', ARGV[12], 'tgt', 'helpdesk', 'type', 'contact.unblocked', 'ch', ch,
    'ct', ct, 'co', co, 'conv', conv, 'route', 'helpdesk', 'queue', 'unassigned', 'auto', '0',
    'blk', '0', 'ev', ARGV[13]})
end
local detail = 'tickets=' .. ARGV[6]
if tid then detail = detail .. ' ticket=' .. tid .. ' messages=' .. n .. ' dropped=' .. dropped end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', '` + strconv.Itoa(auditMaxLen) + `', '*',
  'at', now, 'actor', ARGV[4], 'action', 'unblock', 'channel', ch, 'contact', co,
  'ticket', tid or '', 'detail', detail)
return {'ok', tostring(existed), tostring(released), tostring(deleted)}
`)

// Unblock lifts the contact's block and handles its blocked tickets as mode
// says; with TicketsNone it refuses a contact with an open ticket
// (ErrHasTicket). It works whether or not the feature is enabled. A released
// ticket's messages move in chunks (see release.go): on an error the unblock
// may have happened with the release in progress, which a repeated call
// (answering unblocked false then), the contact's next release or
// FinishReleases finishes.
func (s *Store) Unblock(ctx context.Context, channel, contact, actor string, mode TicketMode) (UnblockResult, error) {
	if err := ValidateContact(contact); err != nil {
		return UnblockResult{}, err
	}
	refuse := "0"
	switch mode {
	case TicketsRelease, TicketsDelete:
	case TicketsNone:
		// The unblock of a contact without a ticket, which is what the
		// script lets through, is the default one (release) releasing
		// nothing: its audit and notice say so, as the contract has it.
		mode, refuse = TicketsRelease, "1"
	default:
		return UnblockResult{}, fmt.Errorf("%w: tickets must be release, delete or none", ErrInvalid)
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
	for changes := 0; ; {
		tid, err := s.rdb.HGet(ctx, k.ticket, "id").Result()
		if err != nil && err != redis.Nil {
			return UnblockResult{}, storeErr(err)
		}
		res, err := unblockScript.Run(ctx, s.rdb,
			[]string{k.block, k.blocked, k.audit, k.ticket, k.ticketMessages, k.tickets, k.channelTickets(channel), k.queue, k.conv,
				k.release, k.releaseMessages, k.releases, k.ticketID(tid)},
			channel, contact, member(channel, contact), actor, ms(now), string(mode), info.Type,
			target, queue, nid, np, uid, up, tid, refuse,
		).StringSlice()
		if err != nil {
			return UnblockResult{}, storeErr(err)
		}
		if res[0] == "hasticket" {
			return UnblockResult{}, ErrHasTicket
		}
		if res[0] == "changed" {
			if changes++; changes == maxChanges {
				return UnblockResult{}, fmt.Errorf("%w: the open ticket of %s/%s changed %d times during the unblock", ErrUnavailable, channel, contact, changes)
			}
			continue
		}
		// Move the release this started, or one left in progress before,
		// which held the unblock back (busy) or holds the contact's
		// deliveries.
		if err := s.finishRelease(ctx, channel, contact); err != nil {
			return UnblockResult{}, err
		}
		if res[0] == "ok" {
			released, _ := strconv.Atoi(res[2])
			deleted, _ := strconv.Atoi(res[3])
			return UnblockResult{Unblocked: res[1] == "1", Released: released, Deleted: deleted}, nil
		}
	}
}
