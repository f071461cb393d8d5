package whatsapp_test

import (
	"github.com/hookwall/hookwall/channels/whatsapp"
	"github.com/hookwall/hookwall/gateway"
)

// The adapter does not import gateway; these guards keep it satisfying the
// interfaces the gateway declares.
var (
	_ gateway.Channel    = (*whatsapp.Channel)(nil)
	_ gateway.Handshaker = (*whatsapp.Channel)(nil)
)
