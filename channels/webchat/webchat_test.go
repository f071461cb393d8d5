package webchat_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hookwall/hookwall/channels"
	"github.com/hookwall/hookwall/channels/channelstest"
	"github.com/hookwall/hookwall/channels/webchat"
)

const (
	secretA = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	secretB = "whsec_aG9va3dhbGwtd2ViY2hhdC1yb3RhdGVkLWtleS0wMg=="
	// secretUnknown is configured on no channel.
	secretUnknown = "whsec_aG9va3dhbGwtd2ViY2hhdC11bmtub3duLWtleS0wMw=="
)

// now is the fixed clock of every test: 2026-11-25T10:00:00Z.
var now = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func newChannel(t testing.TB, mod func(*webchat.Config)) *webchat.Channel {
	t.Helper()
	cfg := webchat.Config{
		ID:          "web",
		Secrets:     []string{secretA, secretB},
		OutboundURL: "http://127.0.0.1:1/replies",
		Now:         func() time.Time { return now },
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := webchat.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sign returns the v1 signature of body under secret, made by the library.
func sign(t testing.TB, secret, id string, ts time.Time, body []byte) string {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := wh.Sign(id, ts, body)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func headers(id, ts, sig string) http.Header {
	h := http.Header{}
	if id != "" {
		h.Set("webhook-id", id)
	}
	if ts != "" {
		h.Set("webhook-timestamp", ts)
	}
	if sig != "" {
		h.Set("webhook-signature", sig)
	}
	return h
}

func unix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

func assertEvents(t *testing.T, got, want []channels.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d: %+v", len(got), len(want), got)
	}
	for i := range got {
		g, w := got[i], want[i]
		if !g.Timestamp.Equal(w.Timestamp) || g.Timestamp.Location() != time.UTC {
			t.Errorf("event %d: timestamp %v, want %v in UTC", i, g.Timestamp, w.Timestamp)
		}
		g.Timestamp, w.Timestamp = time.Time{}, time.Time{}
		if !bytes.Equal(g.Raw, w.Raw) {
			t.Errorf("event %d: raw is not the body byte for byte:\n got %q\nwant %q", i, g.Raw, w.Raw)
		}
		g.Raw, w.Raw = nil, nil
		if !reflect.DeepEqual(g, w) {
			t.Errorf("event %d:\n got %+v message %+v\nwant %+v message %+v", i, g, g.Message, w, w.Message)
		}
	}
}

func TestNew(t *testing.T) {
	valid := func() webchat.Config {
		return webchat.Config{ID: "web", Secrets: []string{secretA}, OutboundURL: "https://chat.example/replies"}
	}
	tests := []struct {
		name    string
		mod     func(*webchat.Config)
		wantErr bool
	}{
		{name: "valid", mod: func(*webchat.Config) {}},
		{name: "rotation list", mod: func(c *webchat.Config) { c.Secrets = []string{secretA, secretB} }},
		{name: "empty id", mod: func(c *webchat.Config) { c.ID = "" }, wantErr: true},
		{name: "no secrets", mod: func(c *webchat.Config) { c.Secrets = nil }, wantErr: true},
		{name: "secret without prefix", mod: func(c *webchat.Config) { c.Secrets = []string{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"} }, wantErr: true},
		{name: "secret not base64", mod: func(c *webchat.Config) { c.Secrets = []string{"whsec_not*base64!"} }, wantErr: true},
		{name: "secret with empty key", mod: func(c *webchat.Config) { c.Secrets = []string{"whsec_"} }, wantErr: true},
		{name: "second secret bad", mod: func(c *webchat.Config) { c.Secrets = []string{secretA, "whsec_%%"} }, wantErr: true},
		{name: "no outbound url", mod: func(c *webchat.Config) { c.OutboundURL = "" }, wantErr: true},
		{name: "relative outbound url", mod: func(c *webchat.Config) { c.OutboundURL = "/replies" }, wantErr: true},
		{name: "outbound url not http", mod: func(c *webchat.Config) { c.OutboundURL = "ftp://chat.example/x" }, wantErr: true},
		{name: "negative body limit", mod: func(c *webchat.Config) { c.MaxBodyBytes = -1 }, wantErr: true},
		{name: "negative timeout", mod: func(c *webchat.Config) { c.Timeout = -time.Second }, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := valid()
			tc.mod(&cfg)
			c, err := webchat.New(cfg)
			if tc.wantErr {
				if err == nil {
					t.Fatal("New accepted an invalid config")
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if c.ID() != "web" || c.Type() != "webchat" || c.MaxBodyBytes() != 256<<10 {
				t.Errorf("got id %q type %q max body %d", c.ID(), c.Type(), c.MaxBodyBytes())
			}
		})
	}
}

func TestNewSecretNotInError(t *testing.T) {
	_, err := webchat.New(webchat.Config{ID: "web", Secrets: []string{"whsec_s3cr3t!!"}, OutboundURL: "https://chat.example/"})
	if err == nil || bytes.Contains([]byte(err.Error()), []byte("s3cr3t")) {
		t.Fatalf("want an error that does not quote the secret, got %v", err)
	}
}

func TestMaxBodyBytes(t *testing.T) {
	c := newChannel(t, func(c *webchat.Config) { c.MaxBodyBytes = 4096 })
	if got := c.MaxBodyBytes(); got != 4096 {
		t.Errorf("MaxBodyBytes = %d, want 4096", got)
	}
}

// TestReceive covers authentication: every case but the failing ones yields
// the same event from testdata/text_message.json.
func TestReceive(t *testing.T) {
	body := readTestdata(t, "text_message.json")
	const id = "msg_2ZxK8bNq4vW7yT1pR3sD"
	sent := now.Add(-30 * time.Second)
	ts := unix(sent)
	good := sign(t, secretA, id, sent, body)

	want := []channels.Event{{
		Channel:     "web",
		ChannelType: "webchat",
		Contact:     "visitor_7f3a9c",
		ID:          id,
		Type:        "message",
		Message:     &channels.Message{ID: "m_01JD7Q6Z4KA", Type: "text", Text: "Hello, is anyone there?"},
		Timestamp:   time.Date(2026, 11, 25, 9, 59, 58, 0, time.UTC),
		Raw:         body,
	}}

	tampered := bytes.Replace(body, []byte("anyone"), []byte("anyon3"), 1)
	stale := now.Add(-6 * time.Minute)
	future := now.Add(6 * time.Minute)
	edge := now.Add(-5 * time.Minute)

	tests := []struct {
		name    string
		h       http.Header
		body    []byte
		wantErr error
	}{
		{name: "valid signature", h: headers(id, ts, good), body: body},
		{name: "tampered body", h: headers(id, ts, good), body: tampered, wantErr: channels.ErrBadSignature},
		{name: "missing webhook-id", h: headers("", ts, good), body: body, wantErr: channels.ErrBadSignature},
		{name: "missing webhook-timestamp", h: headers(id, "", good), body: body, wantErr: channels.ErrBadSignature},
		{name: "missing webhook-signature", h: headers(id, ts, ""), body: body, wantErr: channels.ErrBadSignature},
		{name: "other webhook-id", h: headers("msg_other", ts, good), body: body, wantErr: channels.ErrBadSignature},
		{name: "wrong secret", h: headers(id, ts, sign(t, secretUnknown, id, sent, body)), body: body, wantErr: channels.ErrBadSignature},
		{name: "rotated secret signs", h: headers(id, ts, sign(t, secretB, id, sent, body)), body: body},
		{
			name: "several signatures one matches",
			h:    headers(id, ts, "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,abc "+good+" v1a,x"),
			body: body,
		},
		{
			name:    "several signatures none matches",
			h:       headers(id, ts, "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= "+sign(t, secretUnknown, id, sent, body)),
			body:    body,
			wantErr: channels.ErrBadSignature,
		},
		{name: "right digest under wrong version", h: headers(id, ts, "v2,"+good[len("v1,"):]), body: body, wantErr: channels.ErrBadSignature},
		{name: "signature without version", h: headers(id, ts, good[len("v1,"):]), body: body, wantErr: channels.ErrBadSignature},
		{name: "stale timestamp", h: headers(id, unix(stale), sign(t, secretA, id, stale, body)), body: body, wantErr: channels.ErrBadSignature},
		{name: "future timestamp", h: headers(id, unix(future), sign(t, secretA, id, future, body)), body: body, wantErr: channels.ErrBadSignature},
		{name: "exactly at the window edge", h: headers(id, unix(edge), sign(t, secretA, id, edge, body)), body: body},
		{name: "non-numeric timestamp", h: headers(id, "2026-11-25T09:59:30Z", good), body: body, wantErr: channels.ErrBadSignature},
		{name: "non-canonical timestamp", h: headers(id, "+"+ts, good), body: body, wantErr: channels.ErrBadSignature},
		{name: "timestamp in milliseconds", h: headers(id, ts+"000", good), body: body, wantErr: channels.ErrBadSignature},
		{name: "timestamp overflows", h: headers(id, "99999999999999999999", good), body: body, wantErr: channels.ErrBadSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newChannel(t, nil)
			got, err := c.Receive(tc.h, tc.body)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if errors.Is(err, channels.ErrMalformed) {
					t.Errorf("err %v is also ErrMalformed", err)
				}
				if got != nil {
					t.Errorf("events %+v returned with an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Receive: %v", err)
			}
			assertEvents(t, got, want)
		})
	}
}

// TestReceiveRawIsCopied guards against aliasing the caller's buffer, which
// Fiber reuses after the handler returns.
func TestReceiveRawIsCopied(t *testing.T) {
	body := readTestdata(t, "text_message.json")
	orig := bytes.Clone(body)
	c := newChannel(t, nil)
	got, err := c.Receive(headers("msg_1", unix(now), sign(t, secretA, "msg_1", now, body)), body)
	if err != nil {
		t.Fatal(err)
	}
	clear(body)
	if !bytes.Equal(got[0].Raw, orig) {
		t.Errorf("Raw changed with the caller's buffer: %q", got[0].Raw)
	}
}

// TestReceivePayloads covers parsing of authentic bodies.
func TestReceivePayloads(t *testing.T) {
	sentAt := now.Add(-10 * time.Second)
	tests := []struct {
		name    string
		file    string // under testdata/
		body    string // used when file is empty
		want    *channels.Event
		wantErr error
	}{
		{
			name: "text message",
			file: "text_message.json",
			want: &channels.Event{
				Contact:   "visitor_7f3a9c",
				Message:   &channels.Message{ID: "m_01JD7Q6Z4KA", Type: "text", Text: "Hello, is anyone there?"},
				Timestamp: time.Date(2026, 11, 25, 9, 59, 58, 0, time.UTC),
			},
		},
		{
			name: "unicode text and unknown fields",
			file: "unicode_message.json",
			want: &channels.Event{
				Contact:   "visitor_b81e02",
				Message:   &channels.Message{ID: "m_01JD7Q7B2CB", Type: "text", Text: "สวัสดีค่ะ 👋 こんにちは — ça va? \"quoted\"\nsecond line"},
				Timestamp: time.Date(2026, 11, 25, 9, 59, 30, 250_000_000, time.UTC),
			},
		},
		// A body that names no contact, or is not a message, is forwarded
		// as it is (a passthrough: no contact, no message).
		{name: "missing contact", file: "missing_contact.json", want: &channels.Event{Timestamp: time.Date(2026, 11, 25, 9, 59, 40, 0, time.UTC)}},
		{name: "wrong type", file: "wrong_type.json", want: &channels.Event{Type: "typing", Timestamp: time.Date(2026, 11, 25, 9, 59, 50, 0, time.UTC)}},
		{
			name: "no timestamp falls back to webhook-timestamp",
			body: `{"type":"message","contact":{"id":"c1"},"message":{"id":"m1","text":"hi"}}`,
			want: &channels.Event{
				Contact:   "c1",
				Message:   &channels.Message{ID: "m1", Type: "text", Text: "hi"},
				Timestamp: sentAt,
			},
		},
		{
			name: "empty text",
			body: `{"type":"message","contact":{"id":"c1"},"message":{"text":""},"timestamp":"2026-11-25T09:59:00Z"}`,
			want: &channels.Event{
				Contact:   "c1",
				Message:   &channels.Message{Type: "text"},
				Timestamp: time.Date(2026, 11, 25, 9, 59, 0, 0, time.UTC),
			},
		},
		{name: "empty contact id", body: `{"type":"message","contact":{"id":""},"message":{"text":"hi"}}`, want: &channels.Event{Timestamp: sentAt}},
		{name: "null contact", body: `{"type":"message","contact":null,"message":{"text":"hi"}}`, want: &channels.Event{Timestamp: sentAt}},
		{name: "numeric contact id", body: `{"type":"message","contact":{"id":42},"message":{"text":"hi"}}`, want: &channels.Event{Timestamp: sentAt}},
		{name: "keys matched exactly", body: `{"Type":"message","CONTACT":{"ID":"c1"},"Message":{"Text":"hi"}}`, want: &channels.Event{Type: "unknown", Timestamp: sentAt}},
		{name: "contact id in another case", body: `{"type":"message","contact":{"ID":"c1"},"message":{"text":"hi"}}`, want: &channels.Event{Timestamp: sentAt}},
		{name: "missing type", body: `{"contact":{"id":"c1"},"message":{"text":"hi"}}`, want: &channels.Event{Type: "unknown", Timestamp: sentAt}},
		{name: "type not a string", body: `{"type":["message"],"contact":{"id":"c1"}}`, want: &channels.Event{Type: "unknown", Timestamp: sentAt}},
		// A contact's message keeps what it has of the rest.
		{name: "contact name not a string", body: `{"type":"message","contact":{"id":"c1","name":[]},"message":{"text":"hi"}}`,
			want: &channels.Event{Contact: "c1", Message: &channels.Message{Type: "text", Text: "hi"}, Timestamp: sentAt}},
		{name: "missing message", body: `{"type":"message","contact":{"id":"c1"}}`,
			want: &channels.Event{Contact: "c1", Message: &channels.Message{Type: "text"}, Timestamp: sentAt}},
		{name: "missing text", body: `{"type":"message","contact":{"id":"c1"},"message":{"id":"m1"}}`,
			want: &channels.Event{Contact: "c1", Message: &channels.Message{ID: "m1", Type: "text"}, Timestamp: sentAt}},
		{name: "numeric timestamp", body: `{"type":"message","contact":{"id":"c1"},"message":{"text":"hi"},"timestamp":1795600790}`,
			want: &channels.Event{Contact: "c1", Message: &channels.Message{Type: "text", Text: "hi"}, Timestamp: sentAt}},
		{name: "timestamp not RFC 3339", body: `{"type":"message","contact":{"id":"c1"},"message":{"text":"hi"},"timestamp":"25/11/2026"}`,
			want: &channels.Event{Contact: "c1", Message: &channels.Message{Type: "text", Text: "hi"}, Timestamp: sentAt}},
		{name: "top-level id not a string", body: `{"id":7,"type":"message","contact":{"id":"c1"},"message":{"text":"hi"}}`,
			want: &channels.Event{Contact: "c1", Message: &channels.Message{Type: "text", Text: "hi"}, Timestamp: sentAt}},
		// Only a body that is not a JSON object is refused.
		{name: "array body", body: `[{"type":"message"}]`, wantErr: channels.ErrMalformed},
		{name: "null body", body: `null`, wantErr: channels.ErrMalformed},
		{name: "empty body", body: ``, wantErr: channels.ErrMalformed},
		{name: "string body", body: `"message"`, wantErr: channels.ErrMalformed},
		{name: "trailing data", body: `{"type":"message","contact":{"id":"c1"},"message":{"text":"hi"}} {}`, wantErr: channels.ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(tc.body)
			if tc.file != "" {
				body = readTestdata(t, tc.file)
			}
			const id = "msg_payload_case"
			c := newChannel(t, nil)
			got, err := c.Receive(headers(id, unix(sentAt), sign(t, secretA, id, sentAt, body)), body)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || errors.Is(err, channels.ErrBadSignature) {
					t.Fatalf("err = %v, want only %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Receive: %v", err)
			}
			want := *tc.want
			want.Channel, want.ChannelType, want.ID, want.Raw = "web", "webchat", id, body
			if want.Type == "" {
				want.Type = "message"
			}
			assertEvents(t, got, []channels.Event{want})
		})
	}
}

// FuzzReceive feeds arbitrary headers and bodies, then the same body signed
// correctly so the parser is reached: an authentic JSON object is never
// refused. Seeds are in testdata/fuzz/FuzzReceive.
func FuzzReceive(f *testing.F) {
	c := newChannel(f, nil)
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		events, err := c.Receive(headers(id, ts, sig), body)
		check(t, id, body, events, err)

		const signedID = "msg_fuzz"
		sent := now.Add(-time.Second)
		events, err = c.Receive(headers(signedID, unix(sent), sign(t, secretA, signedID, sent, body)), body)
		if errors.Is(err, channels.ErrBadSignature) {
			t.Fatalf("correctly signed body refused: %v", err)
		}
		if object := channelstest.WebchatEnvelope(body); object != (err == nil) {
			t.Fatalf("signed body (a JSON object: %v): error %v", object, err)
		}
		check(t, signedID, body, events, err)
	})
}

// check asserts what holds for any Receive outcome.
func check(t *testing.T, id string, body []byte, events []channels.Event, err error) {
	t.Helper()
	if err != nil {
		if errors.Is(err, channels.ErrBadSignature) == errors.Is(err, channels.ErrMalformed) {
			t.Fatalf("err %v must wrap exactly one of ErrBadSignature and ErrMalformed", err)
		}
		if events != nil {
			t.Fatalf("events %+v returned with an error", events)
		}
		return
	}
	if len(events) != 1 {
		t.Fatalf("got %d events, want 1", len(events))
	}
	e := events[0]
	if e.Channel != "web" || e.ChannelType != "webchat" || e.Type == "" || e.ID != id || e.Timestamp.IsZero() {
		t.Fatalf("bad event %+v", e)
	}
	if !bytes.Equal(e.Raw, body) || !json.Valid(e.Raw) {
		t.Fatalf("raw %q is not the body", e.Raw)
	}
	// A JavaScript reader of Raw (the helpdesk) must see the same type,
	// contact and text as hookwall. Maps, unlike structs, match keys
	// exactly, as JavaScript does.
	var js map[string]any
	if err := json.Unmarshal(body, &js); err != nil {
		t.Fatalf("accepted body does not decode: %v", err)
	}
	contact, _ := js["contact"].(map[string]any)
	msg, _ := js["message"].(map[string]any)
	jsType, _ := js["type"].(string)
	jsContact, _ := contact["id"].(string)
	jsText, _ := msg["text"].(string)
	if jsType == "" {
		jsType = channels.UnknownType
	}
	if jsType != "message" {
		jsContact = ""
	}
	if e.Type != jsType || e.Contact != jsContact {
		t.Fatalf("type %q, contact %q read as %q, %q", jsType, jsContact, e.Type, e.Contact)
	}
	if (e.Contact != "") != (e.Message != nil) {
		t.Fatalf("contact %q with message %+v", e.Contact, e.Message)
	}
	if e.Message != nil && (e.Message.Type != "text" || e.Message.Text != jsText) {
		t.Fatalf("text %q read as %+v", jsText, e.Message)
	}
}
