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

// releaseLua moves the open ticket's messages, in order, to the delivery
// stream, tells the helpdesk, and removes the ticket. It is shared by the
// ticket release and by unblock's Unblock All; it expects the locals kt
// (ticket), ktm (ticket messages), kidx, kcidx (indexes), kq (stream), conv,
// ch, ct, co, target, queue, nid and np (notice id and payload) and sets n.
const releaseLua = `
local tid = redis.call('HGET', kt, 'id')
local msgs = redis.call('LRANGE', ktm, 0, -1)
for _, m in ipairs(msgs) do
  local p = cjson.decode(m)
  redis.call('XADD', kq, '*', 'id', p['id'], 'tgt', target, 'type', p['type'], 'ch', ch, 'ct', ct,
    'co', co, 'conv', conv, 'route', target, 'queue', queue, 'auto', '1', 'blk', '1', 'ev', m)
end
n = #msgs
redis.call('XADD', kq, '*', 'id', nid, 'tgt', 'helpdesk', 'type', 'ticket.released', 'ch', ch,
  'ct', ct, 'co', co, 'conv', conv, 'route', 'helpdesk', 'queue', 'unassigned', 'auto', '0',
  'blk', '1', 'ev', np)
redis.call('DEL', kt, ktm, ktidkey)
redis.call('ZREM', kidx, tid)
redis.call('ZREM', kcidx, tid)
`

// deleteLua removes the open ticket and its messages for good and tells the
// helpdesk. Same locals as releaseLua.
const deleteLua = `
local tid = redis.call('HGET', kt, 'id')
n = redis.call('LLEN', ktm)
redis.call('XADD', kq, '*', 'id', nid, 'tgt', 'helpdesk', 'type', 'ticket.deleted', 'ch', ch,
  'ct', ct, 'co', co, 'conv', conv, 'route', 'helpdesk', 'queue', 'unassigned', 'auto', '0',
  'blk', '1', 'ev', np)
redis.call('DEL', kt, ktm, ktidkey)
redis.call('ZREM', kidx, tid)
redis.call('ZREM', kcidx, tid)
`

// ticketScript releases or deletes one ticket by id and audits it.
//
// KEYS: 1 ticket, 2 ticket messages, 3 tickets index, 4 channel tickets
// index, 5 ticket id key, 6 delivery stream, 7 conversation, 8 audit
// ARGV: 1 ticket id, 2 op (release|delete), 3 channel, 4 channel type,
// 5 contact, 6 target, 7 queue, 8 notice id, 9 notice payload, 10 actor,
// 11 now ms
var ticketScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] then return -1 end
local kt, ktm, kidx, kcidx, ktidkey, kq = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local conv = redis.call('HGET', KEYS[7], 'id') or ''
local ch, ct, co, target, queue, nid, np = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]
local n, dropped = 0, redis.call('HGET', kt, 'dropped') or '0'
if ARGV[2] == 'release' then
` + releaseLua + `
else
` + deleteLua + `
end
redis.call('XADD', KEYS[8], 'MAXLEN', '~', '` + strconv.Itoa(auditMaxLen) + `', '*',
  'at', ARGV[11], 'actor', ARGV[10], 'action', 'ticket.' .. ARGV[2], 'channel', ch, 'contact', co,
  'ticket', ARGV[1], 'detail', 'messages=' .. n .. ' dropped=' .. dropped .. ' routed_to=' .. queue)
return n
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
// contact stays blocked.
func (s *Store) ReleaseTicket(ctx context.Context, id, actor string) (Release, error) {
	n, queue, err := s.ticketOp(ctx, id, actor, "release")
	if err != nil {
		return Release{}, err
	}
	return Release{ID: id, RoutedTo: queue, Messages: n}, nil
}

// DeleteTicket removes a ticket and its messages for good.
func (s *Store) DeleteTicket(ctx context.Context, id, actor string) error {
	_, _, err := s.ticketOp(ctx, id, actor, "delete")
	return err
}

func (s *Store) ticketOp(ctx context.Context, id, actor, op string) (int, string, error) {
	ch, co, err := s.ticketRef(ctx, id)
	if err != nil {
		return 0, "", err
	}
	info, err := s.channel(ch)
	if err != nil {
		return 0, "", err
	}
	target, queue := info.release()
	now := s.now()
	nid, np := notice("ticket."+op+"d", now, map[string]any{"ticket": id, "routed_to": queue})
	if op == "delete" {
		queue = ""
	}
	k := keysOf(ch, co)
	n, err := ticketScript.Run(ctx, s.rdb,
		[]string{k.ticket, k.ticketMessages, k.tickets, k.channelTickets(ch), k.ticketID(id), k.queue, k.conv, k.audit},
		id, op, ch, info.Type, co, target, queue, nid, np, actor, ms(now),
	).Int()
	if err != nil {
		return 0, "", storeErr(err)
	}
	if n < 0 {
		return 0, "", fmt.Errorf("%w: ticket %q", ErrNotFound, id)
	}
	return n, queue, nil
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
