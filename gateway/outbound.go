package gateway

import (
	"fmt"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
)

// maxReplyRunes bounds an outbound text; LINE's own limit is 5000 characters.
const maxReplyRunes = 5000

type replyBody struct {
	Text string `json:"text"`
}

// sendMessage sends an agent's reply through the channel's platform, unless
// the contact is blocked (and the feature is on).
func (g *Gateway) sendMessage(c *fiber.Ctx) error {
	ch, co, err := g.channelContact(c)
	if err != nil {
		return err
	}
	var body replyBody
	if err := decodeBody(c, &body, false); err != nil {
		return err
	}
	if body.Text == "" || !utf8.ValidString(body.Text) || utf8.RuneCountInString(body.Text) > maxReplyRunes {
		return fmt.Errorf("%w: text must be 1 to %d characters of UTF-8", errBadRequest, maxReplyRunes)
	}
	ctx, cancel := g.reqCtx(c)
	defer cancel()
	blocked, err := g.store.IsBlocked(ctx, ch.Adapter.ID(), co)
	if err != nil {
		return err
	}
	if blocked {
		g.log.Info("reply refused: contact blocked", "channel", ch.Adapter.ID(), "contact", co, "actor", actor(c))
		return fmt.Errorf("%w: %s on %s", errContactBlocked, co, ch.Adapter.ID())
	}
	id, err := ch.Adapter.Send(ctx, co, body.Text)
	if err != nil {
		return &sendError{channel: ch.Adapter.ID(), platform: ch.Adapter.Type(), err: err}
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"id": id})
}
