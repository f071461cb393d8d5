package line_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"

	"github.com/hookwall/hookwall/channels"
	"github.com/hookwall/hookwall/channels/channelstest"
	"github.com/hookwall/hookwall/channels/line"
)

// FuzzReceive feeds Receive random bodies and signatures, and asserts that
// only a right signature passes and that an authentic envelope is never
// refused. Seeds live in testdata/fuzz/FuzzReceive (the fixtures with their
// real signatures, and near-misses of LINE's shape).
func FuzzReceive(f *testing.F) {
	ch, err := line.New(line.Config{ID: channelID, Secrets: []string{oldSecret, secret}, AccessToken: "t"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, sig string) {
		// Whatever the signature, Receive never panics and never lets an
		// unsigned body through.
		_, err := ch.Receive(header(sig), body)
		switch {
		case err == nil:
			// Compared decoded: base64 decoding skips newlines and
			// ignores padding bits, which changes nothing of the MAC.
			got, _ := base64.StdEncoding.DecodeString(sig)
			if !bytes.Equal(got, mac(secret, body)) && !bytes.Equal(got, mac(oldSecret, body)) {
				t.Fatalf("accepted signature %q that no secret made", sig)
			}
		case !errors.Is(err, channels.ErrBadSignature) && !errors.Is(err, channels.ErrMalformed):
			t.Fatalf("error %v is neither ErrBadSignature nor ErrMalformed", err)
		}

		// Correctly signed, a body that is LINE's envelope — a JSON object
		// with an events array — always parses, every event kept; anything
		// else is malformed.
		evs, err := ch.Receive(header(sign(secret, body)), body)
		envelope, n := channelstest.LINEEnvelope(body)
		if err != nil {
			if envelope || !errors.Is(err, channels.ErrMalformed) {
				t.Fatalf("signed body (envelope %v): error %v", envelope, err)
			}
			if evs != nil {
				t.Fatalf("signed body: %d events with error %v", len(evs), err)
			}
			return
		}
		if !envelope {
			t.Fatalf("signed body that is no envelope: %d events", len(evs))
		}
		if len(evs) != n {
			t.Fatalf("signed envelope of %d events: %d events", n, len(evs))
		}
		for i, ev := range evs {
			if ev.Channel != channelID || ev.ChannelType != "line" {
				t.Errorf("event %d: channel %q/%q", i, ev.Channel, ev.ChannelType)
			}
			if ev.ID == "" || ev.Type == "" {
				t.Errorf("event %d: empty id %q or type %q", i, ev.ID, ev.Type)
			}
			if ev.Message != nil && (ev.Type != "message" || ev.Message.Type == "") {
				t.Errorf("event %d: type %q with message %+v", i, ev.Type, ev.Message)
			}
			if !json.Valid(ev.Raw) || !bytes.Contains(body, ev.Raw) {
				t.Errorf("event %d: raw %q is not a JSON part of the body", i, ev.Raw)
			}
		}
	})
}

func mac(secret string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return m.Sum(nil)
}
