package gateway

import (
	"context"
	"fmt"

	"github.com/gofiber/fiber/v2"
	"github.com/hookwall/hookwall/blocklist/queue"
	"github.com/hookwall/hookwall/blocklist/tickets"
)

func (g *Gateway) conversation(c *fiber.Ctx) error {
	ch, co, err := g.channelContact(c)
	if err != nil {
		return err
	}
	ctx, cancel := g.reqCtx(c)
	defer cancel()
	conv, err := g.store.GetConversation(ctx, ch.Adapter.ID(), co)
	if err != nil {
		return err
	}
	return c.JSON(conv)
}

func (g *Gateway) listTickets(c *fiber.Ctx) error {
	return listPage(g, c, func(ctx context.Context, q pageQuery) ([]tickets.Ticket, string, error) {
		return g.store.ListTickets(ctx, tickets.TicketListRequest{Channel: q.channel, Limit: q.limit, Cursor: q.cursor})
	})
}

// getTicket answers the ticket with one page of its messages, oldest first;
// limit and cursor page them as they page a listing.
func (g *Gateway) getTicket(c *fiber.Ctx) error {
	n, err := limit(c)
	if err != nil {
		return err
	}
	ctx, cancel := g.reqCtx(c)
	defer cancel()
	t, err := g.store.GetTicket(ctx, tickets.TicketRequest{ID: c.Params("id"), Limit: n, Cursor: c.Query("cursor")})
	if err != nil {
		return err
	}
	return c.JSON(t)
}

func (g *Gateway) releaseTicket(c *fiber.Ctx) error {
	if err := decodeBody(c, &struct{}{}, true); err != nil {
		return err
	}
	ctx, cancel := g.reqCtx(c)
	defer cancel()
	r, err := g.store.ReleaseTicket(ctx, c.Params("id"), actor(c))
	if err != nil {
		return err
	}
	g.log.Info("ticket released", "ticket", r.ID, "routed_to", r.RoutedTo, "messages", r.Messages, "actor", actor(c))
	return c.JSON(r)
}

func (g *Gateway) deleteTicket(c *fiber.Ctx) error {
	ctx, cancel := g.reqCtx(c)
	defer cancel()
	if err := g.store.DeleteTicket(ctx, c.Params("id"), actor(c)); err != nil {
		return err
	}
	g.log.Info("ticket deleted", "ticket", c.Params("id"), "actor", actor(c))
	return c.SendStatus(fiber.StatusNoContent)
}

// deadLetters lists parked deliveries; a channel filter is checked but the
// store keeps dead letters by time only, so it is refused when given.
func (g *Gateway) deadLetters(c *fiber.Ctx) error {
	return listPage(g, c, func(ctx context.Context, q pageQuery) ([]queue.DeadLetter, string, error) {
		if q.channel != "" {
			return nil, "", fmt.Errorf("%w: dead letters have no channel filter", errBadRequest)
		}
		return g.store.DeadLetters(ctx, q.limit, q.cursor)
	})
}

func (g *Gateway) retryDeadLetter(c *fiber.Ctx) error {
	ctx, cancel := g.reqCtx(c)
	defer cancel()
	dl, err := g.store.RetryDeadLetter(ctx, c.Params("id"), actor(c))
	if err != nil {
		return err
	}
	g.log.Info("dead letter queued again", "dead_letter", dl.ID, "actor", actor(c))
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"id": dl.ID, "envelope": dl.Delivery.ID, "status": "queued"})
}
