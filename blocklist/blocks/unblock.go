package blocks

import (
	"context"
	"fmt"
	"strconv"

	"github.com/hookwall/hookwall/blocklist/store"
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
	// open ticket with store.ErrHasTicket, changing nothing. The check is part of
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
// release of the contact's open blocked ticket (tickets/release.go moves its
// messages) or deletes it, tells the helpdesk and appends the audit record,
// all or nothing. Unblock is idempotent: unblocking a contact that is not
// blocked and has no ticket changes nothing but the audit trail. To release
// a ticket while the contact has a release in progress, it answers busy,
// changing nothing: the caller finishes that release first. With
// RefuseTicket (TicketsNone) it answers hasticket, changing nothing, when the
// contact has an open ticket.
//
// Deleting the ticket removes its ticket id key, which Redis Cluster wants in
// KEYS like every key a script touches: the caller reads the open ticket's id
// first and passes it with its key. When the contact's open ticket is another
// by the time the script runs (one was opened, released or deleted since),
// the script answers changed, changing nothing, and the caller reads again.
//
// See lua/unblock.lua.
var unblockScript = store.NewScript[unblockKeys, unblockArgs](luaFiles, "unblock", "entry", "audit", "release")

type unblockKeys struct {
	Block           string `lua:"block"`
	Blocked         string `lua:"blocked"`
	Audit           string `lua:"audit"`
	Ticket          string `lua:"ticket"`
	TicketMessages  string `lua:"ticket_messages"`
	Tickets         string `lua:"tickets"`
	ChannelTickets  string `lua:"channel_tickets"`
	Stream          string `lua:"stream"`
	Conv            string `lua:"conv"`
	Release         string `lua:"release"`
	ReleaseMessages string `lua:"release_messages"`
	Releases        string `lua:"releases"`
	TicketID        string `lua:"ticket_id"` // of Ticket
}

type unblockArgs struct {
	Channel             string `lua:"channel"`
	Contact             string `lua:"contact"`
	Member              string `lua:"member"`
	Actor               string `lua:"actor"`
	Now                 int64  `lua:"now"`
	Mode                string `lua:"mode"` // release or delete
	ChannelType         string `lua:"channel_type"`
	Target              string `lua:"target"`
	Queue               string `lua:"queue"`
	TicketNoticeID      string `lua:"ticket_notice_id"`
	TicketNoticePayload []byte `lua:"ticket_notice_payload"`
	UnblockedID         string `lua:"unblocked_id"`
	UnblockedPayload    []byte `lua:"unblocked_payload"`
	Ticket              string `lua:"ticket"` // the open ticket's id, or ""
	RefuseTicket        bool   `lua:"refuse_ticket"`
}

// Unblock lifts the contact's block and handles its blocked tickets as mode
// says; with TicketsNone it refuses a contact with an open ticket
// (store.ErrHasTicket). It works whether or not the feature is enabled. A released
// ticket's messages move in chunks (see tickets/release.go): on an error the unblock
// may have happened with the release in progress, which a repeated call
// (answering unblocked false then), the contact's next release or
// FinishReleases finishes.
func (s *Registry) Unblock(ctx context.Context, channel, contact, actor string, mode TicketMode) (UnblockResult, error) {
	if err := store.ValidateContact(contact); err != nil {
		return UnblockResult{}, err
	}
	refuse := false
	switch mode {
	case TicketsRelease, TicketsDelete:
	case TicketsNone:
		// The unblock of a contact without a ticket, which is what the
		// script lets through, is the default one (release) releasing
		// nothing: its audit and notice say so, as the contract has it.
		mode, refuse = TicketsRelease, true
	default:
		return UnblockResult{}, fmt.Errorf("%w: tickets must be release, delete or none", store.ErrInvalid)
	}
	info, err := s.db.Channel(channel)
	if err != nil {
		return UnblockResult{}, err
	}
	target, queue := info.Release()
	now := s.db.Now()
	typ := "ticket.released"
	if mode == TicketsDelete {
		typ = "ticket.deleted"
	}
	nid, np := store.Notice(typ, now, map[string]any{"routed_to": queue, "reason": "contact.unblocked"})
	uid, up := store.Notice("contact.unblocked", now, map[string]any{"actor": actor, "tickets": mode})
	k := store.KeysOf(channel, contact)
	for changes := 0; ; {
		tid, err := s.rdb.HGet(ctx, k.Ticket, "id").Result()
		if err != nil && err != redis.Nil {
			return UnblockResult{}, store.Err(err)
		}
		res, err := unblockScript.Write(ctx, s.db,
			unblockKeys{
				Block: k.Block, Blocked: k.Blocked, Audit: k.Audit, Ticket: k.Ticket,
				TicketMessages: k.TicketMessages, Tickets: k.Tickets, ChannelTickets: k.ChannelTickets(channel),
				Stream: k.Queue, Conv: k.Conv, Release: k.Release, ReleaseMessages: k.ReleaseMessages,
				Releases: k.Releases, TicketID: k.TicketID(tid),
			},
			unblockArgs{
				Channel: channel, Contact: contact, Member: store.Member(channel, contact), Actor: actor,
				Now: store.Millis(now), Mode: string(mode), ChannelType: info.Type, Target: target, Queue: queue,
				TicketNoticeID: nid, TicketNoticePayload: np, UnblockedID: uid, UnblockedPayload: up,
				Ticket: tid, RefuseTicket: refuse,
			},
		).StringSlice()
		if err != nil {
			return UnblockResult{}, store.Err(err)
		}
		if res[0] == "hasticket" {
			return UnblockResult{}, store.ErrHasTicket
		}
		if res[0] == "changed" {
			if changes++; changes == maxChanges {
				return UnblockResult{}, fmt.Errorf("%w: the open ticket of %s/%s changed %d times during the unblock", store.ErrUnavailable, channel, contact, changes)
			}
			continue
		}
		// Move the release this started, or one left in progress before,
		// which held the unblock back (busy) or holds the contact's
		// deliveries.
		if err := s.tickets.FinishRelease(ctx, channel, contact); err != nil {
			return UnblockResult{}, err
		}
		if res[0] == "ok" {
			released, _ := strconv.Atoi(res[2])
			deleted, _ := strconv.Atoi(res[3])
			return UnblockResult{Unblocked: res[1] == "1", Released: released, Deleted: deleted}, nil
		}
	}
}

// maxChanges bounds how often an unblock reads the open ticket's id again
// because the ticket changed between its read and its script. Each change is
// another call's progress (a ticket opened, released or deleted), so it
// takes a contact under constant change to use them up.
const maxChanges = 10
