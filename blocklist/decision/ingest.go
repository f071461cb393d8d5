package decision

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hookwall/hookwall/blocklist/store"
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

// outOfOrder is the decision script's answer for an event whose
// predecessor in the batch is not stored (see ingest.lua).
const outOfOrder = "outoforder"

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
	// PreviewRunes bounds the preview of a contact's latest message.
	PreviewRunes = 100
)

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
// the end of the release (enqueue; see tickets/release.go).
//
// It returns {decision, conversation, ticket, messages the ticket dropped}.
var ingestScript = store.NewScript[ingestKeys, ingestArgs](luaFiles, "ingest", "entry")

type ingestKeys struct {
	Settings        string `lua:"settings"`
	Dedupe          string `lua:"dedupe"`
	Block           string `lua:"block"`
	Conv            string `lua:"conv"`
	ConvMessages    string `lua:"conv_messages"`
	Ticket          string `lua:"ticket"` // the open ticket
	TicketMessages  string `lua:"ticket_messages"`
	Tickets         string `lua:"tickets"` // index of the bucket's tickets
	ChannelTickets  string `lua:"channel_tickets"`
	TicketID        string `lua:"ticket_id"` // key of NewTicket
	Stream          string `lua:"stream"`    // delivery stream
	Recent          string `lua:"recent"`
	RecentPreview   string `lua:"recent_preview"`
	Release         string `lua:"release"`
	ReleaseMessages string `lua:"release_messages"`
	// PrevDedupe is the dedupe marker of the contact's event before this
	// one in the same batch (HasPrev), which must be stored first.
	PrevDedupe string `lua:"prev_dedupe"`
}

type ingestArgs struct {
	Channel         string `lua:"channel"`
	Contact         string `lua:"contact"`
	DedupeMS        int64  `lua:"dedupe_ms"`
	Now             int64  `lua:"now"` // ms
	DefaultEnabled  bool   `lua:"default_enabled"`
	Envelope        string `lua:"envelope"` // id
	Payload         []byte `lua:"payload"`  // the envelope payload
	Target          string `lua:"target"`   // of a forwarded event: bot or helpdesk
	NewConversation string `lua:"new_conversation"`
	NewTicket       string `lua:"new_ticket"`
	ChannelType     string `lua:"channel_type"`
	EventType       string `lua:"event_type"`
	ConvTTLMS       int64  `lua:"conv_ttl_ms"`
	ConvMax         int    `lua:"conv_max"` // messages a conversation keeps
	TraceParent     string `lua:"traceparent"`
	ConvPayload     []byte `lua:"conv_payload"` // the payload without the raw event
	Preview         string `lua:"preview"`
	RecentKept      int    `lua:"recent_kept"`
	RecentOldest    int64  `lua:"recent_oldest"` // ms
	RecentAgeMS     int64  `lua:"recent_age_ms"`
	TicketMax       int    `lua:"ticket_max"`
	ReleaseTarget   string `lua:"release_target"` // where a release of the ticket sends it
	ReleaseQueue    string `lua:"release_queue"`
	HasPrev         bool   `lua:"has_prev"`
	AckDuplicate    bool   `lua:"ack_duplicate"` // with a replicated acknowledgement
}

// Ingest decides and stores a batch of events, pipelined in one round trip
// per Redis node. It returns one outcome per event, in order, only when every
// event is stored; on error some events may have been stored and the caller
// must not acknowledge the batch: the platform's retry is deduplicated.
func (s *Decider) Ingest(ctx context.Context, events []Event) ([]Outcome, error) {
	if len(events) == 0 {
		return nil, nil
	}
	now := s.db.Now()
	calls := make([]store.Call, len(events))
	envs := make([]string, len(events))
	// The id of each contact's latest event so far in the batch: an event
	// is stored only after the one before it (see ingest.lua).
	var prev map[[2]string]string // only a batch of several events needs it
	if len(events) > 1 {
		prev = make(map[[2]string]string, len(events))
	}
	for i, e := range events {
		info, err := s.db.Channel(e.Channel)
		if err != nil {
			return nil, err
		}
		if e.ID == "" || len(e.ID) > MaxEventIDBytes {
			return nil, fmt.Errorf("%w: event id must be 1 to %d bytes", store.ErrInvalid, MaxEventIDBytes)
		}
		if e.Contact != "" {
			if err := store.ValidateContact(e.Contact); err != nil {
				return nil, err
			}
		}
		env := store.NewID("evt_")
		envs[i] = env
		// An event without a contact is a passthrough: only the helpdesk
		// hears of it, never the bot.
		target := store.TargetHelpdesk
		if info.Bot && e.Contact != "" {
			target = store.TargetBot
		}
		k := store.KeysOf(e.Channel, e.Contact)
		prevID := ""
		if prev != nil && e.Contact != "" {
			who := [2]string{e.Channel, e.Contact}
			prevID = prev[who]
			prev[who] = e.ID
		}
		tid := store.NewTicketID(k.Bucket)
		relTarget, relQueue := info.Release()
		calls[i] = ingestScript.Call(
			ingestKeys{
				Settings: k.Settings, Dedupe: k.Dedupe(e.Channel, e.ID), Block: k.Block, Conv: k.Conv,
				PrevDedupe:   k.Dedupe(e.Channel, cmp.Or(prevID, e.ID)),
				ConvMessages: k.ConvMessages, Ticket: k.Ticket, TicketMessages: k.TicketMessages,
				Tickets: k.Tickets, ChannelTickets: k.ChannelTickets(e.Channel), TicketID: k.TicketID(tid),
				Stream: k.Queue, Recent: k.Recent(e.Channel), RecentPreview: k.RecentPreview(e.Channel),
				Release: k.Release, ReleaseMessages: k.ReleaseMessages,
			},
			ingestArgs{
				Channel: e.Channel, Contact: e.Contact, DedupeMS: info.DedupeWindow.Milliseconds(),
				Now: store.Millis(now), DefaultEnabled: s.db.DefaultEnabled(), Envelope: env,
				Payload: store.AppendPayload(make([]byte, 0, 256+len(e.Message)+len(e.Raw)), env, e.Type, e.Message, e.ReceivedAt, e.Raw, nil),
				Target:  target, NewConversation: store.NewID("conv_"), NewTicket: tid, ChannelType: info.Type,
				EventType: e.Type, ConvTTLMS: conversationTTL.Milliseconds(), ConvMax: conversationMessages,
				TraceParent: e.TraceParent, HasPrev: prevID != "", AckDuplicate: s.db.Ack().Replicas > 0,
				ConvPayload: store.AppendPayload(make([]byte, 0, 128+len(e.Message)), env, e.Type, e.Message, e.ReceivedAt, nil, nil),
				Preview:     preview(e.Text), RecentKept: s.recentMax, RecentOldest: store.Millis(now.Add(-store.RecentContactsAge)),
				RecentAgeMS: store.RecentContactsAge.Milliseconds(), TicketMax: s.ticketMax,
				ReleaseTarget: relTarget, ReleaseQueue: relQueue,
			},
		)
	}
	cmds, err := s.db.Write(ctx, calls...)
	if err != nil {
		return nil, err
	}
	out := make([]Outcome, len(cmds))
	for i, c := range cmds {
		res, err := c.StringSlice()
		if err != nil || len(res) != 4 {
			return nil, store.Err(fmt.Errorf("ingest result: %v", errors.Join(err, c.Err())))
		}
		dropped, _ := strconv.Atoi(res[3])
		if res[0] == outOfOrder {
			return nil, fmt.Errorf("%w: an event of %s/%s came before the one before it in the request was stored", store.ErrUnavailable, events[i].Channel, events[i].Contact)
		}
		out[i] = Outcome{Decision: Decision(res[0]), Conversation: res[1], Ticket: res[2], Dropped: dropped}
		if out[i].Decision != Duplicate {
			out[i].Envelope = envs[i]
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
