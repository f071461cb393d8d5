package whatsapp_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/hookwall/hookwall/channels"
	"github.com/hookwall/hookwall/channels/channelstest"
	"github.com/hookwall/hookwall/channels/whatsapp"
)

var payloadFiles = []string{
	"text.json", "image.json", "statuses.json", "status_failed.json",
	"multi_entry.json", "message_and_status.json", "other_field.json",
	"template_status_update.json", "errors.json", "missing_id.json",
}

// FuzzReceive checks that a body is authentic only with a right signature,
// that an authentic envelope is never refused, and that its events are well
// formed, each Raw a slice of the input. The committed seed corpus is
// in testdata/fuzz/FuzzReceive.
func FuzzReceive(f *testing.F) {
	for _, name := range payloadFiles {
		body := readTestdata(f, name)
		f.Add(body, sign(appSecret, body))
	}
	ch := newChannel(f, func(c *whatsapp.Config) { c.AppSecrets = []string{appSecret, oldAppSecret} })
	f.Fuzz(func(t *testing.T, body []byte, header string) {
		// As sent: hex is case-insensitive, so only a header equal to a right
		// signature up to case may pass.
		_, err := ch.Receive(headerWith(header), body)
		if !strings.EqualFold(header, sign(appSecret, body)) && !strings.EqualFold(header, sign(oldAppSecret, body)) {
			if !errors.Is(err, channels.ErrBadSignature) {
				t.Fatalf("unsigned body: error = %v, want %v", err, channels.ErrBadSignature)
			}
		}

		// Signed (with the older secret, as during a rotation): a body that
		// is a Cloud API envelope is never refused; anything else is
		// malformed.
		events, err := ch.Receive(headerWith(sign(oldAppSecret, body)), body)
		envelope := channelstest.CloudEnvelope(body)
		if err != nil {
			if envelope || !errors.Is(err, channels.ErrMalformed) || errors.Is(err, channels.ErrBadSignature) {
				t.Fatalf("signed body (envelope %v): error = %v", envelope, err)
			}
			if events != nil {
				t.Fatalf("%d events with an error", len(events))
			}
			return
		}
		if !envelope {
			t.Fatalf("signed body that is no envelope: %d events", len(events))
		}
		if want := channelstest.CloudEvents(body); len(events) != want {
			t.Fatalf("signed envelope of %d events: %d events", want, len(events))
		}
		for i, ev := range events {
			if ev.Channel != channelID || ev.ChannelType != "whatsapp" || ev.ID == "" || ev.Type == "" {
				t.Fatalf("event %d: incomplete %s", i, dumpEvent(ev))
			}
			if ev.Contact != "" {
				switch ev.Type {
				case "message":
					if ev.Message == nil || (ev.Message.ID != ev.ID && !strings.HasPrefix(ev.ID, channels.ContentIDPrefix)) {
						t.Fatalf("event %d: message event %s", i, dumpEvent(ev))
					}
				case "status":
					if ev.Message != nil {
						t.Fatalf("event %d: status event %s", i, dumpEvent(ev))
					}
				default:
					t.Fatalf("event %d: type %q with a contact", i, ev.Type)
				}
			} else if ev.Message != nil {
				t.Fatalf("event %d: passthrough with a message %s", i, dumpEvent(ev))
			}
			if !json.Valid(ev.Raw) || !bytes.Contains(body, ev.Raw) {
				t.Fatalf("event %d: Raw %q is not a JSON slice of the body", i, ev.Raw)
			}
			// The gateway stores events as JSON; every event must encode.
			if _, err := json.Marshal(ev); err != nil {
				t.Fatalf("event %d does not encode: %v", i, err)
			}
		}
	})
}

// FuzzHandshake checks that only subscribe with a configured verify token
// and a challenge is answered, with exactly that challenge. The committed
// seed corpus is in testdata/fuzz/FuzzHandshake.
func FuzzHandshake(f *testing.F) {
	f.Add("subscribe", verifyToken, "1158201444")
	f.Add("subscribe", oldVerify, "challenge")
	f.Add("subscribe", "wrong", "1158201444")
	f.Add("unsubscribe", verifyToken, "1158201444")
	ch := newChannel(f, nil)
	f.Fuzz(func(t *testing.T, mode, token, challenge string) {
		q := url.Values{"hub.mode": {mode}, "hub.verify_token": {token}, "hub.challenge": {challenge}}
		got, err := ch.Handshake(q)
		accept := mode == "subscribe" && (token == verifyToken || token == oldVerify) && challenge != ""
		if accept {
			if err != nil || got != challenge {
				t.Fatalf("Handshake = %q, %v; want %q", got, err, challenge)
			}
			return
		}
		if !errors.Is(err, channels.ErrHandshake) || got != "" {
			t.Fatalf("Handshake = %q, %v; want %v", got, err, channels.ErrHandshake)
		}
	})
}
