package blocklist

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Ticket is a blocked ticket: the messages a contact sent while blocked with
// action queue, waiting for a supervisor. A ticket keeps its newest messages,
// up to the store's bound (Config.TicketMessages), and counts the older ones
// it let go.
type Ticket struct {
	// ID names the ticket.
	ID string `json:"id"`
	// Channel and Contact name the contact.
	Channel string `json:"channel"`
	Contact string `json:"contact"`
	// MessageCount is the number of messages on the ticket.
	MessageCount int `json:"message_count"`
	// DroppedCount is the number of the ticket's oldest messages it let go
	// to keep its bound.
	DroppedCount int `json:"dropped_count"`
	// FirstMessageAt and LastMessageAt bound the messages' arrival;
	// FirstMessageAt is when the ticket's first message arrived, dropped
	// or not.
	FirstMessageAt time.Time `json:"first_message_at"`
	LastMessageAt  time.Time `json:"last_message_at"`
}

// TicketDetail is a ticket with one page of its messages.
type TicketDetail struct {
	Ticket
	// Messages are a page of the ticket's messages, oldest first.
	Messages []json.RawMessage `json:"messages"`
	// NextCursor is the cursor of the next page, "" after the last.
	NextCursor string `json:"next_cursor"`
}

// Release says where a released ticket went.
type Release struct {
	// ID is the ticket.
	ID string `json:"id"`
	// RoutedTo is "bot" or "unassigned".
	RoutedTo string `json:"routed_to"`
	// Messages is the number of messages released.
	Messages int `json:"messages"`
}

// ticketScript releases or deletes one ticket by id and audits it. A release
// only starts here (detachLua; release.go moves the messages): it answers
// busy, changing nothing, while the contact has a release in progress, which
// the caller finishes first.
//
// KEYS: 1 ticket, 2 ticket messages, 3 tickets index, 4 channel tickets
// index, 5 ticket id key, 6 delivery stream, 7 conversation, 8 audit,
// 9 release, 10 release list, 11 releases index
// ARGV: 1 ticket id, 2 op (release|delete), 3 channel, 4 channel type,
// 5 contact, 6 target, 7 queue, 8 notice id, 9 notice payload, 10 actor,
// 11 now ms, 12 index member
// It returns {"busy", ticket, messages, queue} of the release in progress,
// {"missing"}, or {"ok", messages}.
var ticketScript = redis.NewScript(entryLua + `
local kt, ktm, kidx, kcidx, kq = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[6]
local krel, krl, krels = KEYS[9], KEYS[10], KEYS[11]
if ARGV[2] == 'release' and redis.call('EXISTS', krel) == 1 then
  local r = redis.call('HMGET', krel, 'ticket', 'n', 'queue')
  return {'busy', r[1] or '', r[2] or '0', r[3] or ''}
end
if redis.call('HGET', kt, 'id') ~= ARGV[1] then return {'missing'} end
local tid, member, now = ARGV[1], ARGV[12], ARGV[11]
local conv = redis.call('HGET', KEYS[7], 'id') or ''
local ch, ct, co, target, queue = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local f = {'id', ARGV[8], 'tgt', 'helpdesk', 'type', 'ticket.' .. ARGV[2] .. 'd', 'ch', ch, 'ct', ct,
  'co', co, 'conv', conv, 'route', 'helpdesk', 'queue', 'unassigned', 'auto', '0', 'blk', '1', 'ev', ARGV[9]}
local n, dropped = 0, '0'
if ARGV[2] == 'release' then
` + detachLua + `
  redis.call('RPUSH', krl, packEntry(f))
else
  n = redis.call('LLEN', ktm)
  dropped = redis.call('HGET', kt, 'dropped') or '0'
  redis.call('UNLINK', kt, ktm, KEYS[5])
  redis.call('ZREM', kidx, tid)
  redis.call('ZREM', kcidx, tid)
  emit(kq, krel, krl, f)
end
redis.call('XADD', KEYS[8], 'MAXLEN', '~', '` + strconv.Itoa(auditMaxLen) + `', '*',
  'at', now, 'actor', ARGV[10], 'action', 'ticket.' .. ARGV[2], 'channel', ch, 'contact', co,
  'ticket', tid, 'detail', 'messages=' .. n .. ' dropped=' .. dropped .. ' routed_to=' .. queue)
return {'ok', tostring(n)}
`)

// ticketRef finds the channel and contact of a ticket id.
func (s *Store) ticketRef(ctx context.Context, id string) (channel, contact string, err error) {
	b, ok := ticketBucket(id)
	if !ok {
		return "", "", fmt.Errorf("%w: %q is not a ticket id", ErrInvalid, id)
	}
	v, err := s.rdb.Get(ctx, keysOfBucket(b).ticketID(id)).Result()
	if err != nil {
		if err == redis.Nil {
			return "", "", fmt.Errorf("%w: ticket %q", ErrNotFound, id)
		}
		return "", "", storeErr(err)
	}
	channel, contact, _ = strings.Cut(v, "\x00")
	return channel, contact, nil
}

// ticketBucket reads the bucket out of a ticket id "tkt_<bucket>_<hex>".
func ticketBucket(id string) (int, bool) { return idBucket(id, "tkt_") }

// idBucket reads the bucket out of an id "<prefix><bucket>_<rest>": ticket
// and dead-letter ids name their bucket, so their keys are found from the id.
func idBucket(id, prefix string) (int, bool) {
	rest, ok := strings.CutPrefix(id, prefix)
	if !ok || len(id) > 64 {
		return 0, false
	}
	bs, _, ok := strings.Cut(rest, "_")
	b, err := strconv.Atoi(bs)
	if !ok || err != nil || b < 0 || b >= Buckets {
		return 0, false
	}
	return b, true
}

// TicketRequest asks for an open ticket with one page of its messages.
type TicketRequest struct {
	// ID names the ticket.
	ID string
	// Limit is the page size, 1 to MaxListLimit.
	Limit int
	// Cursor is the NextCursor of the previous page, or "".
	Cursor string
}

// ticketPageScript reads a ticket and one page of its messages at once.
// Messages are numbered from 1 in the order they came; the ticket drops the
// lowest numbers first, so message number m is at list index m - dropped - 1.
// KEYS: ticket, ticket messages; ARGV: ticket id, first number wanted, limit.
// It returns nil when the ticket is not open, else {the ticket's fields, the
// first number read, the list's length, the messages}.
var ticketPageScript = redis.NewScript(`
local t = redis.call('HGETALL', KEYS[1])
local h = {}
for i = 1, #t, 2 do h[t[i]] = t[i + 1] end
if h['id'] ~= ARGV[1] then return false end
local dropped = tonumber(h['dropped'] or '0')
local from = math.max(tonumber(ARGV[2]), dropped + 1)
local start = from - dropped - 1
local msgs = redis.call('LRANGE', KEYS[2], start, start + tonumber(ARGV[3]) - 1)
return {t, from, redis.call('LLEN', KEYS[2]), msgs}
`)

// GetTicket returns the open ticket with one page of its messages, oldest
// first. A page never repeats a message; messages the ticket drops while a
// client pages are skipped.
func (s *Store) GetTicket(ctx context.Context, req TicketRequest) (TicketDetail, error) {
	if req.Limit < 1 || req.Limit > MaxListLimit {
		return TicketDetail{}, fmt.Errorf("%w: limit must be 1 to %d", ErrInvalid, MaxListLimit)
	}
	from := int64(1)
	if req.Cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(req.Cursor)
		n, id, ok := strings.Cut(string(b), ":")
		v, perr := strconv.ParseInt(n, 10, 64)
		if err != nil || !ok || perr != nil || v < 1 || id != req.ID {
			return TicketDetail{}, fmt.Errorf("%w: bad cursor", ErrInvalid)
		}
		from = v
	}
	ch, co, err := s.ticketRef(ctx, req.ID)
	if err != nil {
		return TicketDetail{}, err
	}
	k := keysOf(ch, co)
	res, err := ticketPageScript.Run(ctx, s.rdb, []string{k.ticket, k.ticketMessages}, req.ID, from, req.Limit).Slice()
	if err == redis.Nil {
		return TicketDetail{}, fmt.Errorf("%w: ticket %q", ErrNotFound, req.ID)
	}
	if err != nil {
		return TicketDetail{}, storeErr(err)
	}
	fields, _ := res[0].([]any)
	first, _ := res[1].(int64)
	kept, _ := res[2].(int64)
	msgs, _ := res[3].([]any)
	h := make(map[string]string, len(fields)/2)
	for i := 0; i+1 < len(fields); i += 2 {
		key, _ := fields[i].(string)
		h[key], _ = fields[i+1].(string)
	}
	t, _ := ticketFrom(h)
	d := TicketDetail{Ticket: t, Messages: make([]json.RawMessage, len(msgs))}
	for i, m := range msgs {
		v, _ := m.(string)
		d.Messages[i] = json.RawMessage(v)
	}
	if next := first + int64(len(msgs)); len(msgs) > 0 && next <= int64(t.DroppedCount)+kept {
		d.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(next, 10) + ":" + req.ID))
	}
	return d, nil
}

// OpenTicket returns the contact's open blocked ticket without its messages,
// or ErrNotFound when it has none.
func (s *Store) OpenTicket(ctx context.Context, channel, contact string) (Ticket, error) {
	if err := ValidateContact(contact); err != nil {
		return Ticket{}, err
	}
	v, err := s.rdb.HGetAll(ctx, keysOf(channel, contact).ticket).Result()
	if err != nil {
		return Ticket{}, storeErr(err)
	}
	t, ok := ticketFrom(v)
	if !ok {
		return Ticket{}, ErrNotFound
	}
	return t, nil
}

func ticketFrom(v map[string]string) (Ticket, bool) {
	if v["id"] == "" {
		return Ticket{}, false
	}
	first, _ := strconv.ParseInt(v["first_at"], 10, 64)
	last, _ := strconv.ParseInt(v["last_at"], 10, 64)
	n, _ := strconv.Atoi(v["count"])
	dropped, _ := strconv.Atoi(v["dropped"])
	return Ticket{
		ID: v["id"], Channel: v["channel"], Contact: v["contact"], MessageCount: n, DroppedCount: dropped,
		FirstMessageAt: fromMS(first), LastMessageAt: fromMS(last),
	}, true
}

// ReleaseTicket releases a ticket: its messages go in order to the bot when
// the channel has one enabled, else to the helpdesk's unassigned queue. The
// contact stays blocked. The messages move in chunks (see release.go); an
// error may leave the release in progress, which the same call finishes when
// repeated, answering as the first would have.
func (s *Store) ReleaseTicket(ctx context.Context, id, actor string) (Release, error) {
	for {
		ch, co, res, queue, err := s.ticketOp(ctx, id, actor, "release")
		if err != nil {
			return Release{}, err
		}
		if err := s.finishRelease(ctx, ch, co); err != nil {
			return Release{}, err
		}
		if res[0] == "ok" {
			n, _ := strconv.Atoi(res[1])
			return Release{ID: id, RoutedTo: queue, Messages: n}, nil
		}
		// busy: the contact had a release in progress, finished now. It was
		// this ticket's (a repeated call), or an earlier one's, and this one
		// can start now.
		if res[1] == id {
			n, _ := strconv.Atoi(res[2])
			return Release{ID: id, RoutedTo: res[3], Messages: n}, nil
		}
	}
}

// DeleteTicket removes a ticket and its messages for good.
func (s *Store) DeleteTicket(ctx context.Context, id, actor string) error {
	_, _, _, _, err := s.ticketOp(ctx, id, actor, "delete")
	return err
}

// ticketOp runs ticketScript and returns the ticket's contact, the script's
// reply ("ok" or "busy") and the queue the messages go to ("" on delete).
func (s *Store) ticketOp(ctx context.Context, id, actor, op string) (channel, contact string, res []string, queue string, err error) {
	ch, co, err := s.ticketRef(ctx, id)
	if err != nil {
		return "", "", nil, "", err
	}
	info, err := s.channel(ch)
	if err != nil {
		return "", "", nil, "", err
	}
	target, queue := info.release()
	now := s.now()
	nid, np := notice("ticket."+op+"d", now, map[string]any{"ticket": id, "routed_to": queue})
	if op == "delete" {
		queue = ""
	}
	k := keysOf(ch, co)
	res, err = ticketScript.Run(ctx, s.rdb,
		[]string{k.ticket, k.ticketMessages, k.tickets, k.channelTickets(ch), k.ticketID(id), k.queue, k.conv, k.audit,
			k.release, k.releaseMessages, k.releases},
		id, op, ch, info.Type, co, target, queue, nid, np, actor, ms(now), member(ch, co),
	).StringSlice()
	if err != nil {
		return "", "", nil, "", storeErr(err)
	}
	if res[0] == "missing" {
		return "", "", nil, "", fmt.Errorf("%w: ticket %q", ErrNotFound, id)
	}
	return ch, co, res, queue, nil
}

// release returns the target and queue name released messages go to.
func (c ChannelInfo) release() (target, queue string) {
	if c.Bot {
		return TargetBot, "bot"
	}
	return TargetHelpdesk, "unassigned"
}

// TicketListRequest asks for one page of open tickets.
type TicketListRequest struct {
	// Channel, when set, keeps only that channel's tickets.
	Channel string
	// Limit is the page size, 1 to MaxListLimit.
	Limit int
	// Cursor is the NextCursor of the previous page, or "".
	Cursor string
}

// ListTickets returns open tickets, oldest first message first, and the
// cursor of the next page ("" after the last).
func (s *Store) ListTickets(ctx context.Context, req TicketListRequest) ([]Ticket, string, error) {
	key := func(b int) string {
		if req.Channel != "" {
			return keysOfBucket(b).channelTickets(req.Channel)
		}
		return keysOfBucket(b).tickets
	}
	valid := func(id string) bool { _, ok := ticketBucket(id); return ok }
	page, next, err := s.pageByScore(ctx, scoreIndex{keys: perBucket(key)}, req.Limit, req.Cursor, valid)
	if err != nil {
		return nil, "", err
	}
	out := make([]Ticket, 0, len(page))
	for _, m := range page {
		ch, co, err := s.ticketRef(ctx, m.id)
		if errors.Is(err, ErrNotFound) {
			continue // released or deleted meanwhile
		}
		if err != nil {
			return nil, "", err
		}
		v, err := s.rdb.HGetAll(ctx, keysOf(ch, co).ticket).Result()
		if err != nil {
			return nil, "", storeErr(err)
		}
		if t, ok := ticketFrom(v); ok && t.ID == m.id {
			out = append(out, t)
		}
	}
	return out, next, nil
}
