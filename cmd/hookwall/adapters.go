package main

import (
	"fmt"
	"time"

	"github.com/hookwall/hookwall/channels/line"
	"github.com/hookwall/hookwall/channels/webchat"
	"github.com/hookwall/hookwall/channels/whatsapp"
	"github.com/hookwall/hookwall/config"
	"github.com/hookwall/hookwall/gateway"
)

// adapters is the one list of the platforms hookwall speaks: a new platform
// is a package under channels/ plus one entry here.
var adapters = map[string]func(ch config.Channel, timeout time.Duration) (gateway.Channel, error){
	config.TypeLine: func(ch config.Channel, timeout time.Duration) (gateway.Channel, error) {
		return line.New(line.Config{
			ID: ch.ID, Secrets: ch.AllSecrets(), AccessToken: ch.AccessToken, APIBase: ch.APIBase,
			MaxBodyBytes: ch.MaxBodyBytes, Timeout: timeout,
		})
	},
	config.TypeWhatsApp: func(ch config.Channel, timeout time.Duration) (gateway.Channel, error) {
		return whatsapp.New(whatsapp.Config{
			ID: ch.ID, AppSecrets: ch.AllAppSecrets(), VerifyTokens: ch.AllVerifyTokens(),
			AccessToken: ch.AccessToken, PhoneNumberID: ch.PhoneNumberID, APIBase: ch.APIBase,
			MaxBodyBytes: ch.MaxBodyBytes, Timeout: timeout,
		})
	},
	config.TypeWebchat: func(ch config.Channel, timeout time.Duration) (gateway.Channel, error) {
		return webchat.New(webchat.Config{
			ID: ch.ID, Secrets: ch.AllSecrets(), OutboundURL: ch.OutboundURL,
			MaxBodyBytes: ch.MaxBodyBytes, Timeout: timeout,
		})
	},
}

// The adapters satisfy the gateway's interfaces; checked at compile time.
var (
	_ gateway.Channel    = (*line.Channel)(nil)
	_ gateway.Channel    = (*whatsapp.Channel)(nil)
	_ gateway.Handshaker = (*whatsapp.Channel)(nil)
	_ gateway.Channel    = (*webchat.Channel)(nil)
)

func newAdapter(ch config.Channel, timeout time.Duration) (gateway.Channel, error) {
	mk, ok := adapters[ch.Type]
	if !ok {
		return nil, fmt.Errorf("unknown channel type %q", ch.Type)
	}
	return mk(ch, timeout)
}
