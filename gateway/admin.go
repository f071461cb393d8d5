package gateway

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/hookwall/hookwall/blocklist/blocks"
	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/hookwall/hookwall/blocklist/tickets"
)

type settingsBody struct {
	BlockContactEnabled *bool `json:"block_contact_enabled"`
}

func (g *Gateway) getSettings(c *fiber.Ctx) error {
	ctx, cancel := g.reqCtx(c)
	defer cancel()
	on, err := g.store.Enabled(ctx)
	if err != nil {
		return err
	}
	return c.JSON(settingsBody{BlockContactEnabled: &on})
}

func (g *Gateway) putSettings(c *fiber.Ctx) error {
	var body settingsBody
	if err := decodeBody(c, &body, false); err != nil {
		return err
	}
	if body.BlockContactEnabled == nil {
		return fmt.Errorf("%w: block_contact_enabled is required", errBadRequest)
	}
	ctx, cancel := g.reqCtx(c)
	defer cancel()
	if err := g.store.SetEnabled(ctx, actor(c), *body.BlockContactEnabled); err != nil {
		return err
	}
	return c.JSON(body)
}

type blockBody struct {
	Note      string     `json:"note"`
	Action    string     `json:"action"`
	ExpiresAt *time.Time `json:"expires_at"`
}

func (g *Gateway) block(c *fiber.Ctx) error {
	ch, co, err := g.channelContact(c)
	if err != nil {
		return err
	}
	var body blockBody
	if err := decodeBody(c, &body, true); err != nil {
		return err
	}
	action := ch.BlockedAction
	if body.Action != "" {
		action = blocks.Action(body.Action)
	}
	ctx, cancel := g.reqCtx(c)
	defer cancel()
	res, err := g.store.Block(ctx, blocks.BlockRequest{
		Channel: ch.Adapter.ID(), Contact: co, Note: body.Note, Action: action,
		Actor: actor(c), ExpiresAt: body.ExpiresAt,
	})
	if err != nil {
		return err
	}
	g.log.Info("contact blocked", "channel", ch.Adapter.ID(), "contact", co, "action", action, "actor", actor(c))
	return c.JSON(res.Entry)
}

type unblockBody struct {
	// Tickets is nil when the request does not say (absent or null): the
	// default, release, applies then.
	Tickets *string `json:"tickets"`
}

// ticketsNeed is the role that may release or delete blocked tickets: they
// are the supervisors' review queue, like the blocked-tickets routes.
const ticketsNeed = RoleSupervisor

// ticketsWhat is what needs ticketsNeed, in a refusal's detail.
const ticketsWhat = "releasing or deleting blocked tickets"

func (g *Gateway) unblock(c *fiber.Ctx) error {
	ch, co, err := g.channelContact(c)
	if err != nil {
		return err
	}
	var body unblockBody
	if err := decodeBody(c, &body, true); err != nil {
		return err
	}
	mode := blocks.TicketsRelease
	if body.Tickets != nil {
		mode = blocks.TicketMode(*body.Tickets)
		if !mode.Valid() {
			return fmt.Errorf("%w: tickets must be release or delete", errBadRequest)
		}
	}
	if whoami(c).role < ticketsNeed {
		// A request that names a tickets action asks to release or delete
		// tickets, and is refused on its word, whatever the contact has.
		if body.Tickets != nil {
			return roleError{what: ticketsWhat, need: ticketsNeed}
		}
		// One that names none gets the default, release, which acts on the
		// contact's open ticket: the store refuses it when the contact has
		// one, in the same step as the unblock, so no ticket opens between
		// the check and the unblock.
		mode = blocks.TicketsNone
	}
	ctx, cancel := g.reqCtx(c)
	defer cancel()
	res, err := g.store.Unblock(ctx, ch.Adapter.ID(), co, actor(c), mode)
	if errors.Is(err, store.ErrHasTicket) {
		return roleError{why: "the contact has an open blocked ticket, which unblocking releases", what: ticketsWhat, need: ticketsNeed}
	}
	if err != nil {
		return err
	}
	g.log.Info("contact unblocked", "channel", ch.Adapter.ID(), "contact", co, "tickets", mode, "actor", actor(c))
	return c.JSON(res)
}

type contactStatus struct {
	Channel string        `json:"channel"`
	Contact string        `json:"contact"`
	Blocked bool          `json:"blocked"`
	Block   *blocks.Entry `json:"block"`
	// Enforced says whether blocks apply now (block_contact_enabled).
	Enforced bool `json:"enforced"`
	// OpenTicket is the contact's open blocked ticket, without its
	// messages: what Unblock All would release and Delete All delete.
	OpenTicket *tickets.Ticket `json:"open_ticket"`
}

func (g *Gateway) contactStatus(c *fiber.Ctx) error {
	ch, co, err := g.channelContact(c)
	if err != nil {
		return err
	}
	ctx, cancel := g.reqCtx(c)
	defer cancel()
	on, err := g.store.Enabled(ctx)
	if err != nil {
		return err
	}
	st := contactStatus{Channel: ch.Adapter.ID(), Contact: co, Enforced: on}
	e, err := g.store.Get(ctx, ch.Adapter.ID(), co)
	switch {
	case err == nil:
		st.Blocked, st.Block = true, &e
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	t, err := g.store.OpenTicket(ctx, ch.Adapter.ID(), co)
	switch {
	case err == nil:
		st.OpenTicket = &t
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	return c.JSON(st)
}

// limit parses the limit query parameter: default 50, 1 to MaxListLimit.
func limit(c *fiber.Ctx) (int, error) {
	v := c.Query("limit")
	if v == "" {
		return 50, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > store.MaxListLimit {
		return 0, fmt.Errorf("%w: limit must be a whole number from 1 to %d", errBadRequest, store.MaxListLimit)
	}
	return n, nil
}

type page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

// pageQuery is a listing's query: a channel filter (checked), a limit and a
// cursor.
type pageQuery struct {
	channel, cursor string
	limit           int
}

// listPage answers one page of a listing: it checks the query, calls list
// with a bounded context and writes an empty page as [] rather than null.
func listPage[T any](g *Gateway, c *fiber.Ctx, list func(context.Context, pageQuery) ([]T, string, error)) error {
	n, err := limit(c)
	if err != nil {
		return err
	}
	channel, err := g.channelFilter(c)
	if err != nil {
		return err
	}
	ctx, cancel := g.reqCtx(c)
	defer cancel()
	items, next, err := list(ctx, pageQuery{channel: channel, cursor: c.Query("cursor"), limit: n})
	if err != nil {
		return err
	}
	if items == nil {
		items = []T{}
	}
	return c.JSON(page[T]{Items: items, NextCursor: next})
}

func (g *Gateway) blockedContacts(c *fiber.Ctx) error {
	return listPage(g, c, func(ctx context.Context, q pageQuery) ([]blocks.Entry, string, error) {
		return g.store.List(ctx, blocks.ListRequest{Channel: q.channel, Limit: q.limit, Cursor: q.cursor})
	})
}

// audit pages the audit trail, newest first; a client that sends no cursor
// gets the first page, as before cursors. It has no channel filter, and a
// channel parameter is ignored as it always was.
func (g *Gateway) audit(c *fiber.Ctx) error {
	n, err := limit(c)
	if err != nil {
		return err
	}
	ctx, cancel := g.reqCtx(c)
	defer cancel()
	items, next, err := g.store.Audit(ctx, n, c.Query("cursor"))
	if err != nil {
		return err
	}
	if items == nil {
		items = []blocks.AuditRecord{}
	}
	return c.JSON(page[blocks.AuditRecord]{Items: items, NextCursor: next})
}

// recentContacts lists who wrote lately, newest first (the console's Recent
// contacts).
func (g *Gateway) recentContacts(c *fiber.Ctx) error {
	return listPage(g, c, func(ctx context.Context, q pageQuery) ([]blocks.RecentContact, string, error) {
		return g.store.RecentContacts(ctx, blocks.RecentRequest{Channel: q.channel, Limit: q.limit, Cursor: q.cursor})
	})
}

// meBody is who the bearer token is.
type meBody struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

func (g *Gateway) me(c *fiber.Ctx) error {
	p := whoami(c)
	return c.JSON(meBody{Name: p.name, Role: p.role.String()})
}

// channelItem is a configured channel as the console shows it.
type channelItem struct {
	ID            string        `json:"id"`
	Type          string        `json:"type"`
	BlockedAction blocks.Action `json:"blocked_action"`
	// Bot says where released tickets go: the bot when true, else the
	// helpdesk's unassigned queue.
	Bot bool `json:"bot"`
}

// listChannels lists the configured channels in configuration order.
func (g *Gateway) listChannels(c *fiber.Ctx) error {
	items := make([]channelItem, len(g.order))
	for i, id := range g.order {
		ch := g.channels[id]
		items[i] = channelItem{ID: id, Type: ch.Adapter.Type(), BlockedAction: ch.BlockedAction, Bot: ch.Bot}
	}
	return c.JSON(fiber.Map{"items": items})
}

// channelFilter returns the channel query parameter, which must name a
// configured channel when set.
func (g *Gateway) channelFilter(c *fiber.Ctx) (string, error) {
	channel := c.Query("channel")
	if channel != "" {
		if _, ok := g.channels[channel]; !ok {
			return "", fmt.Errorf("%w: %q", errUnknownChannel, channel)
		}
	}
	return channel, nil
}
