package blocklist

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// Decision is what happened to one inbound event.
type Decision string

// The decisions of the contract.
const (
	Forwarded Decision = "forwarded"
	Recorded  Decision = "recorded"
	Queued    Decision = "queued"
	Duplicate Decision = "duplicate"
)

// Targets of a delivery.
const (
	TargetBot      = "bot"
	TargetHelpdesk = "helpdesk"
)

// MaxEventIDBytes bounds a platform event id used for de-duplication.
const MaxEventIDBytes = 256

// conversationTTL is how long a conversation and its recorded messages are
// kept after its last message.
const conversationTTL = 30 * 24 * time.Hour

// conversationMessages bounds the messages kept on one conversation.
const conversationMessages = 1000

// DefaultTicketMessages is how many messages a blocked ticket keeps (the
// newest) unless Config.TicketMessages says otherwise.
const DefaultTicketMessages = 1000

// Bounds of the recent-contacts index (see RecentContacts).
const (
	// DefaultRecentContacts is how many contacts of a channel the index keeps
	// per bucket: 16 000 per channel over the Buckets buckets.
	DefaultRecentContacts = 1000
	// RecentContactsAge is how long a contact stays listed after its latest
	// event.
	RecentContactsAge = 30 * 24 * time.Hour
	// PreviewRunes bounds the preview of a contact's latest message.
	PreviewRunes = 100
)

// ChannelInfo is what the store needs to know of a configured channel.
type ChannelInfo struct {
	// Type is the platform: line, whatsapp or webchat.
	Type string
	// Bot is true when the channel has an enabled bot.
	Bot bool
	// DedupeWindow is how long an event id is remembered.
	DedupeWindow time.Duration
}

// Event is an inbound event as the store decides and keeps it.
type Event struct {
	// Channel and Contact say whose event it is; Contact is empty for a
	// passthrough, which is forwarded to the helpdesk without a blocklist
	// check or a conversation.
	Channel, Contact string
	// ID is the platform's event id, the dedupe key.
	ID string
	// Type is the event type ("message", "follow", ...).
	Type string
	// Message is the message part as JSON, or nil.
	Message json.RawMessage
	// Text is the message's text, if any; the recent-contacts index keeps
	// its first PreviewRunes characters.
	Text string
	// ReceivedAt is when hookwall received the event.
	ReceivedAt time.Time
	// Raw is the platform's own event; it must be valid JSON (the adapters
	// decoded it) and is stored and delivered byte for byte.
	Raw json.RawMessage
	// TraceParent is the W3C trace context of the inbound request, passed on
	// to the delivery.
	TraceParent string
}

// Outcome is the decision on one event and where it went.
type Outcome struct {
	// Decision is what happened.
	Decision Decision
	// Envelope is the id of the delivery envelope (empty for duplicates).
	Envelope string
	// Conversation is the conversation the event is on, if any.
	Conversation string
	// Ticket is the blocked ticket the event was queued on, if any.
	Ticket string
	// Dropped is how many of the ticket's oldest messages it let go to keep
	// its bound when the event was queued: 0 or 1, more for a ticket stored
	// when the bound was larger.
	Dropped int
}

// ingestScript decides one event and stores the result, all in one round trip
// on the contact's slot: dedupe marker, the recent-contacts index, then (when
// the feature is on) the block entry, then either the blocked ticket (queue),
// or the delivery entry and the conversation (record, forward).
//
// The recent-contacts index of the contact's channel and bucket is a sorted
// set (member channel \0 contact, score the time received) and a hash of
// previews by the same members. Every message of a contact (not its status
// receipts, follows or other events: the index is of who wrote) moves its member
// to now (never back, should replicas' clocks disagree) and sets its preview;
// then the members older than the age bound and, past the size bound, the
// oldest are trimmed from both. They are the lowest ranks, so the script
// reads their names (ZRANGEBYSCORE, ZRANGE) for HDEL and removes them with one
// ZREMRANGEBYRANK. An event adds at most one member, so a trim is usually of
// none or one: cheap, and the hash never holds a preview the set does not
// list. Both keys expire when the channel's bucket has had no event for the
// age bound; the listing also leaves out members older than it, so the age
// bound holds between events too.
//
// A queued message goes to the end of the ticket, which then drops its
// oldest messages past the bound and counts them (the field dropped). A
// ticket stored before the bound, or when it was larger, shrinks by at most
// 100 per message, so that no decision runs long.
//
// The delivery entry of a contact with a ticket release in progress waits at
// the end of the release (emit; see release.go).
//
// KEYS: 1 settings, 2 dedupe, 3 block, 4 conversation, 5 conversation
// messages, 6 open ticket, 7 ticket messages, 8 tickets index, 9 channel
// tickets index, 10 new ticket id, 11 delivery stream, 12 recent contacts,
// 13 recent previews, 14 release, 15 release list
// ARGV: 1 channel, 2 contact, 3 dedupe ms, 4 now ms, 5 default enabled,
// 6 envelope id, 7 payload, 8 forward target, 9 new conversation id, 10 new
// ticket id, 11 channel type, 12 event type, 13 conversation ttl ms,
// 14 conversation max messages, 15 traceparent, 16 payload without the raw
// event (what the conversation keeps), 17 preview, 18 recent contacts kept,
// 19 oldest recent ms kept, 20 recent contacts age ms, 21 ticket bound
//
// It returns {decision, conversation, ticket, messages the ticket dropped}.
var ingestScript = redis.NewScript(entryLua + `
if not redis.call('SET', KEYS[2], ARGV[6], 'NX', 'PX', ARGV[3]) then
  return {'duplicate', '', '', '0'}
end
local contact = ARGV[2]
if contact ~= '' and ARGV[12] == 'message' then
  local m = ARGV[1] .. '\0' .. contact
  local cur = redis.call('ZSCORE', KEYS[12], m)
  if not cur or tonumber(cur) <= tonumber(ARGV[4]) then
    redis.call('ZADD', KEYS[12], ARGV[4], m)
    redis.call('HSET', KEYS[13], m, ARGV[17])
  end
  local gone = redis.call('ZRANGEBYSCORE', KEYS[12], '-inf', '(' .. ARGV[19])
  local over = redis.call('ZCARD', KEYS[12]) - #gone - tonumber(ARGV[18])
  if over > 0 then
    for _, x in ipairs(redis.call('ZRANGE', KEYS[12], #gone, #gone + over - 1)) do gone[#gone + 1] = x end
  end
  if #gone > 0 then
    redis.call('ZREMRANGEBYRANK', KEYS[12], 0, #gone - 1)
    for i = 1, #gone, 500 do redis.call('HDEL', KEYS[13], unpack(gone, i, math.min(i + 499, #gone))) end
  end
  redis.call('PEXPIRE', KEYS[12], ARGV[20])
  redis.call('PEXPIRE', KEYS[13], ARGV[20])
end
local action = false
if contact ~= '' then
  local enabled = redis.call('HGET', KEYS[1], 'block_contact_enabled') or ARGV[5]
  if enabled == '1' then action = redis.call('HGET', KEYS[3], 'action') end
end
if action == 'queue' then
  local tid = redis.call('HGET', KEYS[6], 'id')
  if not tid then
    tid = ARGV[10]
    redis.call('HSET', KEYS[6], 'id', tid, 'channel', ARGV[1], 'contact', contact, 'first_at', ARGV[4], 'count', 0)
    redis.call('SET', KEYS[10], ARGV[1] .. '\0' .. contact)
    redis.call('ZADD', KEYS[8], ARGV[4], tid)
    redis.call('ZADD', KEYS[9], ARGV[4], tid)
  end
  local kept = redis.call('RPUSH', KEYS[7], ARGV[7])
  local dropped = math.min(kept - tonumber(ARGV[21]), 100)
  if dropped > 0 then
    redis.call('LTRIM', KEYS[7], dropped, -1)
    redis.call('HINCRBY', KEYS[6], 'dropped', dropped)
    kept = kept - dropped
  else
    dropped = 0
  end
  redis.call('HSET', KEYS[6], 'count', kept, 'last_at', ARGV[4])
  return {'queued', '', tid, tostring(dropped)}
end
local conv = ''
local decision, target, queue, auto, blk = 'forwarded', ARGV[8], 'unassigned', '1', '0'
if ARGV[8] == 'bot' then queue = 'bot' end
if action then
  decision, target, queue, auto, blk = 'recorded', 'helpdesk', 'unassigned', '0', '1'
  conv = redis.call('HGET', KEYS[4], 'id') or ''
elseif contact ~= '' then
  conv = redis.call('HGET', KEYS[4], 'id')
  if not conv or redis.call('HGET', KEYS[4], 'status') ~= 'open' then
    conv = ARGV[9]
    redis.call('DEL', KEYS[4], KEYS[5])
    redis.call('HSET', KEYS[4], 'id', conv, 'channel', ARGV[1], 'contact', contact, 'status', 'open', 'started_at', ARGV[4])
  end
end
if conv ~= '' then
  redis.call('RPUSH', KEYS[5], '{"decision":"' .. decision .. '","message":' .. ARGV[16] .. '}')
  redis.call('LTRIM', KEYS[5], -tonumber(ARGV[14]), -1)
  redis.call('HSET', KEYS[4], 'last_at', ARGV[4])
  redis.call('PEXPIRE', KEYS[4], ARGV[13])
  redis.call('PEXPIRE', KEYS[5], ARGV[13])
end
emit(KEYS[11], KEYS[14], KEYS[15], {'id', ARGV[6], 'tgt', target, 'type', ARGV[12], 'ch', ARGV[1],
  'ct', ARGV[11], 'co', contact, 'conv', conv, 'route', target, 'queue', queue, 'auto', auto,
  'blk', blk, 'ev', ARGV[7], 'tp', ARGV[15]})
return {decision, conv, '', '0'}
`)

// Ingest decides and stores a batch of events, pipelined in one round trip
// per Redis node. It returns one outcome per event, in order, only when every
// event is stored; on error some events may have been stored and the caller
// must not acknowledge the batch: the platform's retry is deduplicated.
func (s *Store) Ingest(ctx context.Context, events []Event) ([]Outcome, error) {
	if len(events) == 0 {
		return nil, nil
	}
	now := s.now()
	type call struct {
		keys []string
		args []any
		env  string
	}
	calls := make([]call, len(events))
	for i, e := range events {
		info, ok := s.channels[e.Channel]
		if !ok {
			return nil, fmt.Errorf("%w: unknown channel %q", ErrInvalid, e.Channel)
		}
		if e.ID == "" || len(e.ID) > MaxEventIDBytes {
			return nil, fmt.Errorf("%w: event id must be 1 to %d bytes", ErrInvalid, MaxEventIDBytes)
		}
		if e.Contact != "" {
			if err := ValidateContact(e.Contact); err != nil {
				return nil, err
			}
		}
		env := newID("evt_")
		p := appendPayload(make([]byte, 0, 256+len(e.Message)+len(e.Raw)), env, e.Type, e.Message, e.ReceivedAt, e.Raw, nil)
		// An event without a contact is a passthrough: only the helpdesk
		// hears of it, never the bot.
		target := TargetHelpdesk
		if info.Bot && e.Contact != "" {
			target = TargetBot
		}
		k := keysOf(e.Channel, e.Contact)
		tid := newTicketID(k.bucket)
		calls[i] = call{
			keys: []string{
				k.settings, k.dedupe(e.Channel, e.ID), k.block, k.conv, k.convMessages,
				k.ticket, k.ticketMessages, k.tickets, k.channelTickets(e.Channel), k.ticketID(tid), k.queue,
				k.recent(e.Channel), k.recentPreview(e.Channel), k.release, k.releaseMessages,
			},
			args: []any{
				e.Channel, e.Contact, info.DedupeWindow.Milliseconds(), ms(now), boolFlag(s.defaultEnabled),
				env, p, target, newID("conv_"), tid, info.Type, e.Type,
				conversationTTL.Milliseconds(), conversationMessages, e.TraceParent,
				appendPayload(make([]byte, 0, 128+len(e.Message)), env, e.Type, e.Message, e.ReceivedAt, nil, nil),
				preview(e.Text), s.recentMax, ms(now.Add(-RecentContactsAge)), RecentContactsAge.Milliseconds(),
				s.ticketMax,
			},
			env: env,
		}
	}
	sc := make([]scriptCall, len(calls))
	for i, c := range calls {
		sc[i] = scriptCall{script: ingestScript, keys: c.keys, args: c.args}
	}
	if err := s.batch.do(ctx, sc); err != nil {
		return nil, storeErr(err)
	}
	for _, c := range sc {
		if err := c.cmd.Err(); err != nil {
			return nil, storeErr(err)
		}
	}
	cmds := make([]*redis.Cmd, len(sc))
	for i := range sc {
		cmds[i] = sc[i].cmd
	}
	out := make([]Outcome, len(cmds))
	for i, c := range cmds {
		res, err := c.StringSlice()
		if err != nil || len(res) != 4 {
			return nil, storeErr(fmt.Errorf("ingest result: %v", errors.Join(err, c.Err())))
		}
		dropped, _ := strconv.Atoi(res[3])
		out[i] = Outcome{Decision: Decision(res[0]), Conversation: res[1], Ticket: res[2], Dropped: dropped}
		if out[i].Decision != Duplicate {
			out[i].Envelope = calls[i].env
		}
	}
	return out, nil
}

// preview returns the first PreviewRunes characters of text.
func preview(text string) string {
	n := 0
	for i := range text {
		if n == PreviewRunes {
			return text[:i]
		}
		n++
	}
	return text
}

func isNoScript(err error) bool {
	return err != nil && len(err.Error()) >= 8 && err.Error()[:8] == "NOSCRIPT"
}

// newID returns a time-ordered unique id with the prefix.
func newID(prefix string) string {
	u := uuid.Must(uuid.NewV7())
	return prefix + hexNoDash(u)
}

// newTicketID returns a ticket id that names its bucket, so the ticket's keys
// are found from the id alone.
func newTicketID(bucket int) string {
	return "tkt_" + strconv.Itoa(bucket) + "_" + hexNoDash(uuid.Must(uuid.NewV7()))
}

func hexNoDash(u uuid.UUID) string {
	const hx = "0123456789abcdef"
	b := make([]byte, 32)
	for i, c := range u {
		b[2*i], b[2*i+1] = hx[c>>4], hx[c&15]
	}
	return string(b)
}
