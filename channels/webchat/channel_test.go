package webchat_test

import (
	"github.com/hookwall/hookwall/channels/webchat"
	"github.com/hookwall/hookwall/gateway"
)

// The adapter satisfies the gateway's interface; checked here so that the
// package itself does not import gateway.
var _ gateway.Channel = (*webchat.Channel)(nil)
