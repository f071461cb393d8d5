package store

import (
	"time"
)

// Targets of a delivery.
const (
	TargetBot      = "bot"
	TargetHelpdesk = "helpdesk"
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

// Release returns the target and queue name released messages go to.
func (c ChannelInfo) Release() (target, queue string) {
	if c.Bot {
		return TargetBot, "bot"
	}
	return TargetHelpdesk, "unassigned"
}
