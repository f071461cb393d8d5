package tickets

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/redis/go-redis/v9"
)

// Ticket is a blocked ticket: the messages a contact sent while blocked with
// action queue, waiting for a supervisor. A ticket keeps its newest messages,
// up to the store's bound (decision.Config.TicketMessages), and counts the older ones
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

// ticketScript releases or deletes one ticket by id and audits it (see
// lua/ticket.lua).
var ticketScript = store.NewScript[ticketKeys, ticketArgs](luaFiles, "ticket", "entry", "audit", "release")

type ticketKeys struct {
	Ticket          string `lua:"ticket"`
	TicketMessages  string `lua:"ticket_messages"`
	Tickets         string `lua:"tickets"`
	ChannelTickets  string `lua:"channel_tickets"`
	TicketID        string `lua:"ticket_id"`
	Stream          string `lua:"stream"`
	Conv            string `lua:"conv"`
	Audit           string `lua:"audit"`
	Release         string `lua:"release"`
	ReleaseMessages string `lua:"release_messages"`
	Releases        string `lua:"releases"`
}

type ticketArgs struct {
	Ticket        string `lua:"ticket"` // id
	Op            string `lua:"op"`     // release or delete
	Channel       string `lua:"channel"`
	ChannelType   string `lua:"channel_type"`
	Contact       string `lua:"contact"`
	Target        string `lua:"target"` // where released messages go
	Queue         string `lua:"queue"`
	NoticeID      string `lua:"notice_id"`
	NoticePayload []byte `lua:"notice_payload"`
	Actor         string `lua:"actor"`
	Now           int64  `lua:"now"`
	Member        string `lua:"member"` // releases-index member
}

// ticketRef finds the channel and contact of a ticket id.
func (s *Desk) ticketRef(ctx context.Context, id string) (channel, contact string, err error) {
	b, ok := ticketBucket(id)
	if !ok {
		return "", "", fmt.Errorf("%w: %q is not a ticket id", store.ErrInvalid, id)
	}
	v, err := s.rdb.Get(ctx, store.KeysOfBucket(b).TicketID(id)).Result()
	if err != nil {
		if err == redis.Nil {
			return "", "", fmt.Errorf("%w: ticket %q", store.ErrNotFound, id)
		}
		return "", "", store.Err(err)
	}
	channel, contact, _ = strings.Cut(v, "\x00")
	return channel, contact, nil
}

// ticketBucket reads the bucket out of a ticket id "tkt_<bucket>_<hex>".
func ticketBucket(id string) (int, bool) { return store.IDBucket(id, "tkt_") }

// TicketRequest asks for an open ticket with one page of its messages.
type TicketRequest struct {
	// ID names the ticket.
	ID string
	// Limit is the page size, 1 to store.MaxListLimit.
	Limit int
	// Cursor is the NextCursor of the previous page, or "".
	Cursor string
}

// ticketPageScript reads a ticket and one page of its messages (see
// lua/ticket_page.lua).
var ticketPageScript = store.NewScript[ticketPageKeys, ticketPageArgs](luaFiles, "ticket_page", "entry")

type ticketPageKeys struct {
	Ticket         string `lua:"ticket"`
	TicketMessages string `lua:"ticket_messages"`
}

type ticketPageArgs struct {
	Ticket string `lua:"ticket"` // id
	From   int64  `lua:"from"`   // first message number wanted
	Limit  int    `lua:"limit"`
}

// GetTicket returns the open ticket with one page of its messages, oldest
// first. A page never repeats a message; messages the ticket drops while a
// client pages are skipped.
func (s *Desk) GetTicket(ctx context.Context, req TicketRequest) (TicketDetail, error) {
	if req.Limit < 1 || req.Limit > store.MaxListLimit {
		return TicketDetail{}, fmt.Errorf("%w: limit must be 1 to %d", store.ErrInvalid, store.MaxListLimit)
	}
	from := int64(1)
	if req.Cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(req.Cursor)
		n, id, ok := strings.Cut(string(b), ":")
		v, perr := strconv.ParseInt(n, 10, 64)
		if err != nil || !ok || perr != nil || v < 1 || id != req.ID {
			return TicketDetail{}, fmt.Errorf("%w: bad cursor", store.ErrInvalid)
		}
		from = v
	}
	ch, co, err := s.ticketRef(ctx, req.ID)
	if err != nil {
		return TicketDetail{}, err
	}
	k := store.KeysOf(ch, co)
	res, err := ticketPageScript.Run(ctx, s.rdb,
		ticketPageKeys{Ticket: k.Ticket, TicketMessages: k.TicketMessages},
		ticketPageArgs{Ticket: req.ID, From: from, Limit: req.Limit}).Slice()
	if err == redis.Nil {
		return TicketDetail{}, fmt.Errorf("%w: ticket %q", store.ErrNotFound, req.ID)
	}
	if err != nil {
		return TicketDetail{}, store.Err(err)
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
// or store.ErrNotFound when it has none.
func (s *Desk) OpenTicket(ctx context.Context, channel, contact string) (Ticket, error) {
	if err := store.ValidateContact(contact); err != nil {
		return Ticket{}, err
	}
	v, err := s.rdb.HGetAll(ctx, store.KeysOf(channel, contact).Ticket).Result()
	if err != nil {
		return Ticket{}, store.Err(err)
	}
	t, ok := ticketFrom(v)
	if !ok {
		return Ticket{}, store.ErrNotFound
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
		FirstMessageAt: store.FromMillis(first), LastMessageAt: store.FromMillis(last),
	}, true
}

// ReleaseTicket releases a ticket: its messages go in order to the bot when
// the channel has one enabled, else to the helpdesk's unassigned queue. The
// contact stays blocked. The messages move in chunks (see release.go); an
// error may leave the release in progress, which the same call finishes when
// repeated, answering as the first would have.
func (s *Desk) ReleaseTicket(ctx context.Context, id, actor string) (Release, error) {
	for {
		ch, co, res, queue, err := s.ticketOp(ctx, id, actor, "release")
		if err != nil {
			return Release{}, err
		}
		if err := s.FinishRelease(ctx, ch, co); err != nil {
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
func (s *Desk) DeleteTicket(ctx context.Context, id, actor string) error {
	_, _, _, _, err := s.ticketOp(ctx, id, actor, "delete")
	return err
}

// ticketOp runs ticketScript and returns the ticket's contact, the script's
// reply ("ok" or "busy") and the queue the messages go to ("" on delete).
func (s *Desk) ticketOp(ctx context.Context, id, actor, op string) (channel, contact string, res []string, queue string, err error) {
	ch, co, err := s.ticketRef(ctx, id)
	if err != nil {
		return "", "", nil, "", err
	}
	info, err := s.db.Channel(ch)
	if err != nil {
		return "", "", nil, "", err
	}
	target, queue := info.Release()
	now := s.db.Now()
	nid, np := store.Notice("ticket."+op+"d", now, map[string]any{"ticket": id, "routed_to": queue})
	if op == "delete" {
		queue = ""
	}
	k := store.KeysOf(ch, co)
	res, err = ticketScript.Write(ctx, s.db,
		ticketKeys{
			Ticket: k.Ticket, TicketMessages: k.TicketMessages, Tickets: k.Tickets,
			ChannelTickets: k.ChannelTickets(ch), TicketID: k.TicketID(id), Stream: k.Queue, Conv: k.Conv,
			Audit: k.Audit, Release: k.Release, ReleaseMessages: k.ReleaseMessages, Releases: k.Releases,
		},
		ticketArgs{
			Ticket: id, Op: op, Channel: ch, ChannelType: info.Type, Contact: co, Target: target,
			Queue: queue, NoticeID: nid, NoticePayload: np, Actor: actor, Now: store.Millis(now), Member: store.Member(ch, co),
		},
	).StringSlice()
	if err != nil {
		return "", "", nil, "", store.Err(err)
	}
	if res[0] == "missing" {
		return "", "", nil, "", fmt.Errorf("%w: ticket %q", store.ErrNotFound, id)
	}
	return ch, co, res, queue, nil
}

// TicketListRequest asks for one page of open tickets.
type TicketListRequest struct {
	// Channel, when set, keeps only that channel's tickets.
	Channel string
	// Limit is the page size, 1 to store.MaxListLimit.
	Limit int
	// Cursor is the NextCursor of the previous page, or "".
	Cursor string
}

// ListTickets returns open tickets, oldest first message first, and the
// cursor of the next page ("" after the last).
func (s *Desk) ListTickets(ctx context.Context, req TicketListRequest) ([]Ticket, string, error) {
	key := func(b int) string {
		if req.Channel != "" {
			return store.KeysOfBucket(b).ChannelTickets(req.Channel)
		}
		return store.KeysOfBucket(b).Tickets
	}
	valid := func(id string) bool { _, ok := ticketBucket(id); return ok }
	page, next, err := s.db.PageByScore(ctx, store.ScoreIndex{Keys: store.PerBucket(key)}, req.Limit, req.Cursor, valid)
	if err != nil {
		return nil, "", err
	}
	out := make([]Ticket, 0, len(page))
	for _, m := range page {
		ch, co, err := s.ticketRef(ctx, m.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue // released or deleted meanwhile
		}
		if err != nil {
			return nil, "", err
		}
		v, err := s.rdb.HGetAll(ctx, store.KeysOf(ch, co).Ticket).Result()
		if err != nil {
			return nil, "", store.Err(err)
		}
		if t, ok := ticketFrom(v); ok && t.ID == m.ID {
			out = append(out, t)
		}
	}
	return out, next, nil
}
