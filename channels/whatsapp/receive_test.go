package whatsapp_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hookwall/hookwall/channels"
	"github.com/hookwall/hookwall/channels/whatsapp"
)

const (
	textID    = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
	imageID   = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUZCMTY0MDc2MUYwNzBDNTY5MjQA"
	sentID    = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MDg1QjQwRDlEMjk1RkM0RTQA"
	failedID  = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDNDg0NjY4MTNEOEI2NTFGMEMA"
	thanksID  = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTFFRTVCRjg0QjQ1QjY2NUU5MAA="
	buttonID  = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTk1ODE1QkZCNkVFNjcwNkY0MQA="
	listID    = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUI3NjJCOUUyMjZGN0Q1N0Q2NAA="
	templID   = "wamid.HBgLMTY1MDU1NTk4NzYVAgASGBQzQTdEMTNGQTY1NUJCRDk2RTRFMgA="
	reactID   = "wamid.HBgMODE4MDEyMzQ1Njc4FQIAEhgUM0EwQjY5RjE2QkI4RjQ2QzYzNjMA"
	locID     = "wamid.HBgMODE4MDEyMzQ1Njc4FQIAEhgUM0FDNTg0RjNCMkFCMEE4QjI2NjgA"
	unsuppID  = "wamid.HBgMODE4MDEyMzQ1Njc4FQIAEhgUM0E4MUE1NDVDNTg3NjhGRjE0NTMA"
	sheena    = "16505551234"
	pablo     = "16505559876"
	aiko      = "818012345678"
	textRaw   = `{"from": "16505551234", "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=", "timestamp": "1749416383", "type": "text", "text": {"body": "Does it come in \"navy\"? Caf\u00e9 <b>"}}`
	textValue = "Does it come in \"navy\"? Caf\u00e9 <b>"
	// imageRaw keeps the indentation of testdata/image.json: Raw is the
	// object as sent, not a re-encoding.
	imageRaw = `{
                "from": "16505551234",
                "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUZCMTY0MDc2MUYwNzBDNTY5MjQA",
                "timestamp": "1750090702",
                "type": "image",
                "image": {
                  "caption": "Black jacket, size M",
                  "mime_type": "image/jpeg",
                  "sha256": "6MvUmo2Ed5dMwhE8GLk5WyMO2z+Yvd/3xbtN95jYrdo=",
                  "id": "1003383421387256",
                  "url": "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1003383421387256&ext=1750090702&hash=ATta"
                }
              }`
)

func messageEvent(contact, id, typ, text string, unix int64, raw string) channels.Event {
	return channels.Event{
		Channel:     channelID,
		ChannelType: "whatsapp",
		Contact:     contact,
		ID:          id,
		Type:        "message",
		Message:     &channels.Message{ID: id, Type: typ, Text: text},
		Timestamp:   time.Unix(unix, 0).UTC(),
		Raw:         json.RawMessage(raw),
	}
}

// passthroughEvent is a change forwarded whole, with the id derived from it
// and its entry's id, 102290129340398 in every payload file.
func passthroughEvent(typ, raw string) channels.Event {
	return channels.Event{
		Channel:     channelID,
		ChannelType: "whatsapp",
		ID:          channels.ContentID([]byte(`{"entry":"102290129340398","change":` + raw + `}`)),
		Type:        typ,
		Raw:         json.RawMessage(raw),
	}
}

// changes returns each change of the body byte for byte, in order.
func changes(t testing.TB, body []byte) []string {
	t.Helper()
	var p struct {
		Entry []struct {
			Changes []json.RawMessage `json:"changes"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range p.Entry {
		for _, c := range e.Changes {
			out = append(out, string(c))
		}
	}
	return out
}

func statusEvent(contact, id, status string, unix int64, raw string) channels.Event {
	return channels.Event{
		Channel:     channelID,
		ChannelType: "whatsapp",
		Contact:     contact,
		ID:          id + ":" + status,
		Type:        "status",
		Timestamp:   time.Unix(unix, 0).UTC(),
		Raw:         json.RawMessage(raw),
	}
}

func TestReceive(t *testing.T) {
	text := readTestdata(t, "text.json")
	statuses := readTestdata(t, "statuses.json")
	failed := readTestdata(t, "status_failed.json")
	multi := readTestdata(t, "multi_entry.json")
	mixed := readTestdata(t, "message_and_status.json")
	other := readTestdata(t, "other_field.json")
	template := readTestdata(t, "template_status_update.json")
	errs := readTestdata(t, "errors.json")
	missingID := readTestdata(t, "missing_id.json")
	textEvents := []channels.Event{messageEvent(sheena, textID, "text", textValue, 1749416383, textRaw)}

	tests := []struct {
		name    string
		body    []byte
		secrets []string // configured app secrets; appSecret when nil
		header  string   // X-Hub-Signature-256
		sent    []byte   // body as received, when it differs from the signed one
		wantErr error
		want    []channels.Event
	}{
		{
			name:   "valid signature",
			body:   text,
			header: sign(appSecret, text),
			want:   textEvents,
		},
		{
			name:    "rotated secret: signed with the old one",
			body:    text,
			secrets: []string{appSecret, oldAppSecret},
			header:  sign(oldAppSecret, text),
			want:    textEvents,
		},
		{
			name:    "rotated secret: signed with the new one",
			body:    text,
			secrets: []string{appSecret, oldAppSecret},
			header:  sign(appSecret, text),
			want:    textEvents,
		},
		{
			name:    "wrong secret",
			body:    text,
			header:  sign(oldAppSecret, text),
			wantErr: channels.ErrBadSignature,
		},
		{
			name:    "tampered body",
			body:    text,
			header:  sign(appSecret, text),
			sent:    bytes.Replace(text, []byte("navy"), []byte("pink"), 1),
			wantErr: channels.ErrBadSignature,
		},
		{
			name:    "re-encoded body",
			body:    text,
			header:  sign(appSecret, text),
			sent:    compact(t, text),
			wantErr: channels.ErrBadSignature,
		},
		{
			name:    "missing header",
			body:    text,
			header:  "",
			wantErr: channels.ErrBadSignature,
		},
		{
			name:    "sha1 prefix",
			body:    text,
			header:  "sha1=" + sign(appSecret, text)[len("sha256="):],
			wantErr: channels.ErrBadSignature,
		},
		{
			name:    "bare hex without prefix",
			body:    text,
			header:  sign(appSecret, text)[len("sha256="):],
			wantErr: channels.ErrBadSignature,
		},
		{
			name:    "bad hex",
			body:    text,
			header:  "sha256=" + string(bytes.Repeat([]byte("zz"), 32)),
			wantErr: channels.ErrBadSignature,
		},
		{
			name:    "truncated digest",
			body:    text,
			header:  sign(appSecret, text)[:40],
			wantErr: channels.ErrBadSignature,
		},
		{
			name:    "signed, malformed",
			body:    []byte(`{"object":`),
			header:  sign(appSecret, []byte(`{"object":`)),
			wantErr: channels.ErrMalformed,
		},
		{
			name:   "image with caption",
			body:   readTestdata(t, "image.json"),
			header: sign(appSecret, readTestdata(t, "image.json")),
			want:   []channels.Event{messageEvent(sheena, imageID, "image", "", 1750090702, imageRaw)},
		},
		{
			name:   "sent, delivered, read",
			body:   statuses,
			header: sign(appSecret, statuses),
			want: []channels.Event{
				statusEvent(sheena, sentID, "sent", 1750263773, rawLine(t, statuses, `"status": "sent"`)),
				statusEvent(sheena, sentID, "delivered", 1750263774, rawLine(t, statuses, `"status": "delivered"`)),
				statusEvent(sheena, sentID, "read", 1750263790, rawLine(t, statuses, `"status": "read"`)),
			},
		},
		{
			name:   "failed status with errors",
			body:   failed,
			header: sign(appSecret, failed),
			want: []channels.Event{
				statusEvent(sheena, failedID, "failed", 1750264401, rawLine(t, failed, `"status": "failed"`)),
			},
		},
		{
			name:   "several entries and changes, in order",
			body:   multi,
			header: sign(appSecret, multi),
			want: []channels.Event{
				messageEvent(sheena, buttonID, "interactive", "Change", 1750090800, rawLine(t, multi, `"id": "`+buttonID+`"`)),
				messageEvent(sheena, listID, "interactive", "Express Shipping", 1750090805, rawLine(t, multi, `"id": "`+listID+`"`)),
				passthroughEvent("message_template_status_update", changes(t, multi)[1]),
				messageEvent(pablo, templID, "button", "Stop promotions", 1750090811, rawLine(t, multi, `"id": "`+templID+`"`)),
				messageEvent(aiko, reactID, "reaction", "", 1750090820, rawLine(t, multi, `"id": "`+reactID+`"`)),
				messageEvent(aiko, locID, "location", "", 1750090826, rawLine(t, multi, `"id": "`+locID+`"`)),
				messageEvent(aiko, unsuppID, "unsupported", "", 1750090831, rawLine(t, multi, `"id": "`+unsuppID+`"`)),
			},
		},
		{
			name:   "message and status in one value: messages first",
			body:   mixed,
			header: sign(appSecret, mixed),
			want: []channels.Event{
				messageEvent(sheena, thanksID, "text", "Thanks!", 1750263801, rawLine(t, mixed, `"id": "`+thanksID+`"`)),
				statusEvent(sheena, sentID, "read", 1750263790, rawLine(t, mixed, `"status": "read"`)),
			},
		},
		{
			name:   "other fields: each change forwarded whole",
			body:   other,
			header: sign(appSecret, other),
			want: []channels.Event{
				passthroughEvent("account_update", changes(t, other)[0]),
				passthroughEvent("phone_number_quality_update", changes(t, other)[1]),
			},
		},
		{
			name:   "template status update",
			body:   template,
			header: sign(appSecret, template),
			want:   []channels.Event{passthroughEvent("message_template_status_update", changes(t, template)[0])},
		},
		{
			name:   "errors webhook: a messages change without messages or statuses",
			body:   errs,
			header: sign(appSecret, errs),
			want:   []channels.Event{passthroughEvent("errors", changes(t, errs)[0])},
		},
		{
			name:   "one of two messages without id: both kept, the id derived",
			body:   missingID,
			header: sign(appSecret, missingID),
			want: []channels.Event{
				messageEvent(sheena, textID, "text", "Does it come in another color?", 1749416383, rawLine(t, missingID, `"id": "`+textID+`"`)),
				func() channels.Event {
					raw := rawLine(t, missingID, `Or in navy?`)
					ev := messageEvent(sheena, "", "text", "Or in navy?", 1749416390, raw)
					// Derived from the message with its account and number.
					ev.ID = channels.ContentID([]byte(`{"entry":"102290129340398","phone_number_id":"106540352242922","message":` + raw + `}`))
					return ev
				}(),
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ch := newChannel(t, func(c *whatsapp.Config) {
				if tc.secrets != nil {
					c.AppSecrets = tc.secrets
				}
			})
			sent := tc.body
			if tc.sent != nil {
				sent = tc.sent
			}
			h := http.Header{}
			if tc.header != "" {
				h.Set("X-Hub-Signature-256", tc.header)
			}
			got, err := ch.Receive(h, sent)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Receive error = %v, want %v", err, tc.wantErr)
				}
				if got != nil {
					t.Errorf("Receive returned %d events with an error", len(got))
				}
				return
			}
			if err != nil {
				t.Fatalf("Receive: %v", err)
			}
			if got == nil {
				t.Fatal("Receive returned a nil slice, want an empty one")
			}
			for _, w := range tc.want {
				if !bytes.Contains(sent, w.Raw) {
					t.Fatalf("test bug: want Raw of %s is not a slice of the input", w.ID)
				}
			}
			checkEvents(t, got, tc.want)
		})
	}
}

// TestReceiveMalformed: only a body that as a whole is not a Cloud API
// envelope is refused.
func TestReceiveMalformed(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"empty body", ``},
		{"not json", `hello`},
		{"trailing garbage", `{"object":"whatsapp_business_account","entry":[]}x`},
		{"array", `[]`},
		{"null", `null`},
		{"other object", `{"object":"page","entry":[]}`},
		{"no object", `{"entry":[]}`},
		{"object not a string", `{"object":7,"entry":[]}`},
		{"no entry", `{"object":"whatsapp_business_account"}`},
		{"entry null", `{"object":"whatsapp_business_account","entry":null}`},
		{"entry not an array", `{"object":"whatsapp_business_account","entry":{}}`},
	}
	ch := newChannel(t, nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(tc.body)
			h := http.Header{"X-Hub-Signature-256": {sign(appSecret, body)}}
			got, err := ch.Receive(h, body)
			if !errors.Is(err, channels.ErrMalformed) {
				t.Fatalf("Receive error = %v, want %v", err, channels.ErrMalformed)
			}
			if errors.Is(err, channels.ErrBadSignature) {
				t.Errorf("Receive error %v also wraps ErrBadSignature", err)
			}
			if got != nil {
				t.Errorf("Receive returned %d events with an error", len(got))
			}
		})
	}
}

// TestReceiveKeepsEverything: inside the envelope nothing is refused. A part
// that does not read as a message or status of a contact is forwarded whole
// (no contact); a message or status without an id gets one derived from its
// content; a bad timestamp leaves the time zero.
func TestReceiveKeepsEverything(t *testing.T) {
	const (
		okMsg = `{"from":"1","id":"wamid.A","timestamp":"1750000000","type":"text","text":{"body":"hi"}}`
		okSt  = `{"id":"wamid.B","status":"sent","timestamp":"1750000000","recipient_id":"1"}`
	)
	change := func(v string) string { return `{"field":"messages","value":` + v + `}` }
	entry := func(c string) string { return `{"id":"1","changes":[` + c + `]}` }
	body := func(e string) string { return `{"object":"whatsapp_business_account","entry":[` + e + `]}` }
	derived := func(raw string) string { return channels.ContentID([]byte(raw)) }
	// A part's derived id is of the part with its entry's id ("1" here; the
	// values below have no metadata, so no phone number id).
	scoped := func(kind, raw string) string { return derived(`{"entry":"1","` + kind + `":` + raw + `}`) }
	changeID := func(raw string) string { return scoped("change", raw) }
	pass := func(typ, id, raw string) channels.Event {
		return channels.Event{Channel: channelID, ChannelType: "whatsapp", ID: id, Type: typ, Raw: json.RawMessage(raw)}
	}
	// msg is a text message of contact "1" without text; an id derived
	// from its content is no message id.
	msg := func(id, raw string, unix int64) channels.Event {
		ev := messageEvent("1", id, "text", "", unix, raw)
		if strings.HasPrefix(id, channels.ContentIDPrefix) {
			ev.Message.ID = ""
		}
		if unix == 0 {
			ev.Timestamp = time.Time{}
		}
		return ev
	}
	okMsgEvent := messageEvent("1", "wamid.A", "text", "hi", 1750000000, okMsg)
	type tcase struct {
		name string
		body string
		want []channels.Event
	}
	var tests []tcase
	// A whole entry or change that does not read.
	for _, c := range []struct{ name, entry string }{
		{"entry null", `null`},
		{"entry a string", `"x"`},
		{"entry without changes", `{"id":"1"}`},
		{"changes not an array", `{"id":"1","changes":"x"}`},
	} {
		tests = append(tests, tcase{c.name, body(c.entry), []channels.Event{pass("unknown", derived(c.entry), c.entry)}})
	}
	for _, c := range []struct{ name, change, typ string }{
		{"change null", `null`, "unknown"},
		{"change without field", `{"value":{}}`, "unknown"},
		{"field not a string", `{"field":1,"value":{}}`, "unknown"},
		{"value missing", `{"field":"messages"}`, "messages"},
		{"value null", change(`null`), "messages"},
		{"value a string", change(`"x"`), "messages"},
		{"value empty", change(`{}`), "messages"},
		{"messages not an array", change(`{"messages":{}}`), "messages"},
		{"statuses not an array", change(`{"messages":[` + okMsg + `],"statuses":7}`), "messages"},
	} {
		tests = append(tests, tcase{c.name, body(entry(c.change)), []channels.Event{pass(c.typ, changeID(c.change), c.change)}})
	}
	// One odd message or status among good ones: each is kept.
	for _, c := range []struct {
		name, odd string
		want      channels.Event
	}{
		{"message null", `null`, pass("message", scoped("message", `null`), `null`)},
		{"message missing from", `{"id":"wamid.C","timestamp":"1750000000","type":"text"}`,
			pass("message", "wamid.C", `{"id":"wamid.C","timestamp":"1750000000","type":"text"}`)},
		{"message from not a string", `{"from":1,"id":"wamid.C","type":"text"}`,
			pass("message", "wamid.C", `{"from":1,"id":"wamid.C","type":"text"}`)},
		// A readable sender keeps the message the sender's.
		{"message text not an object", `{"from":"1","id":"wamid.C","type":"text","text":"hi"}`,
			msg("wamid.C", `{"from":"1","id":"wamid.C","type":"text","text":"hi"}`, 0)},
		{"message id a number", `{"from":"1","id":7,"type":"text"}`,
			msg(scoped("message", `{"from":"1","id":7,"type":"text"}`), `{"from":"1","id":7,"type":"text"}`, 0)},
		{"message missing id", `{"from":"1","timestamp":"1750000000","type":"text"}`,
			msg(scoped("message", `{"from":"1","timestamp":"1750000000","type":"text"}`), `{"from":"1","timestamp":"1750000000","type":"text"}`, 1750000000)},
		{"message timestamp missing", `{"from":"1","id":"wamid.C","type":"text"}`, msg("wamid.C", `{"from":"1","id":"wamid.C","type":"text"}`, 0)},
		{"message timestamp a number", `{"from":"1","id":"wamid.C","timestamp":1750000000,"type":"text"}`,
			msg("wamid.C", `{"from":"1","id":"wamid.C","timestamp":1750000000,"type":"text"}`, 0)},
		{"message timestamp not decimal", `{"from":"1","id":"wamid.C","timestamp":"0x10","type":"text"}`,
			msg("wamid.C", `{"from":"1","id":"wamid.C","timestamp":"0x10","type":"text"}`, 0)},
		{"message timestamp after year 9999", `{"from":"1","id":"wamid.C","timestamp":"253402300800","type":"text"}`,
			msg("wamid.C", `{"from":"1","id":"wamid.C","timestamp":"253402300800","type":"text"}`, 0)},
	} {
		tests = append(tests, tcase{c.name, body(entry(change(`{"messages":[` + okMsg + `,` + c.odd + `],"statuses":[` + okSt + `]}`))),
			[]channels.Event{okMsgEvent, c.want, statusEvent("1", "wamid.B", "sent", 1750000000, okSt)}})
	}
	for _, c := range []struct {
		name, odd string
		want      channels.Event
	}{
		{"status missing id", `{"status":"sent","timestamp":"1750000000","recipient_id":"1"}`,
			statusWithID(scoped("status", `{"status":"sent","timestamp":"1750000000","recipient_id":"1"}`), `{"status":"sent","timestamp":"1750000000","recipient_id":"1"}`)},
		{"status missing status", `{"id":"wamid.D","timestamp":"1750000000","recipient_id":"1"}`,
			statusWithID(scoped("status", `{"id":"wamid.D","timestamp":"1750000000","recipient_id":"1"}`), `{"id":"wamid.D","timestamp":"1750000000","recipient_id":"1"}`)},
		{"status missing recipient", `{"id":"wamid.D","status":"sent","timestamp":"1750000000"}`,
			pass("status", scoped("status", `{"id":"wamid.D","status":"sent","timestamp":"1750000000"}`), `{"id":"wamid.D","status":"sent","timestamp":"1750000000"}`)},
		{"status negative timestamp", `{"id":"wamid.D","status":"sent","timestamp":"-1","recipient_id":"1"}`,
			func() channels.Event {
				ev := statusEvent("1", "wamid.D", "sent", 0, `{"id":"wamid.D","status":"sent","timestamp":"-1","recipient_id":"1"}`)
				ev.Timestamp = time.Time{}
				return ev
			}()},
	} {
		tests = append(tests, tcase{c.name, body(entry(change(`{"statuses":[` + okSt + `,` + c.odd + `]}`))),
			[]channels.Event{statusEvent("1", "wamid.B", "sent", 1750000000, okSt), c.want}})
	}

	ch := newChannel(t, nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := []byte(tc.body)
			got, err := ch.Receive(http.Header{"X-Hub-Signature-256": {sign(appSecret, b)}}, b)
			if err != nil {
				t.Fatalf("Receive: %v", err)
			}
			checkEvents(t, got, tc.want)
		})
	}
}

func statusWithID(id, raw string) channels.Event {
	ev := statusEvent("1", "", "", 1750000000, raw)
	ev.ID = id
	return ev
}

// TestReceiveDerivedIDs: a derived id is the same for the same content, and
// differs when the content or, for a change, the business account differs.
func TestReceiveDerivedIDs(t *testing.T) {
	ch := newChannel(t, nil)
	ids := func(body string) []string {
		b := []byte(body)
		evs, err := ch.Receive(http.Header{"X-Hub-Signature-256": {sign(appSecret, b)}}, b)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range evs {
			out = append(out, e.ID)
		}
		return out
	}
	const change = `{"field":"account_update","value":{"event":"VERIFIED_ACCOUNT"}}`
	a := ids(`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[` + change + `]}]}`)
	// Spaced and ordered otherwise: the same change.
	b := ids(`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[ {"value": {"event": "VERIFIED_ACCOUNT"}, "field": "account_update"} ]}]}`)
	other := ids(`{"object":"whatsapp_business_account","entry":[{"id":"2","changes":[` + change + `]}]}`)
	if a[0] != b[0] {
		t.Errorf("the same change has ids %q and %q", a[0], b[0])
	}
	if a[0] == other[0] {
		t.Errorf("the change of another account has the same id %q", a[0])
	}

	// A message and a status of the same content, and the same message to
	// two numbers of one account, are different events.
	value := func(phone, v string) string {
		return `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"` + phone + `"},` + v + `}}]}]}`
	}
	const odd = `{"from":"1","recipient_id":"1","type":"text"}`
	both := ids(value("100", `"messages":[`+odd+`],"statuses":[`+odd+`]`))
	again := ids(value("200", `"messages":[`+odd+`]`))
	if both[0] == both[1] || both[0] == again[0] {
		t.Errorf("ids %q (message, status, number 100) and %q (message, number 200) collide", both, again)
	}
}

// TestReceiveExactKeys: a sender is read by its exact key, as the helpdesk
// reading Raw in JavaScript reads it, not by a case variant.
func TestReceiveExactKeys(t *testing.T) {
	b := []byte(`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messages":[{"From":"2","from":"1","id":"wamid.A","type":"text"},{"From":"2","id":"wamid.B","type":"text"}]}}]}]}`)
	evs, err := newChannel(t, nil).Receive(http.Header{"X-Hub-Signature-256": {sign(appSecret, b)}}, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].Contact != "1" || evs[1].Contact != "" {
		t.Errorf("events %s", dumpEvents(evs))
	}
}

// The gateway's body buffer is reused after the handler returns; events must
// not alias it.
func TestReceiveRawOutlivesBody(t *testing.T) {
	body := readTestdata(t, "text.json")
	ch := newChannel(t, nil)
	got, err := ch.Receive(http.Header{"X-Hub-Signature-256": {sign(appSecret, body)}}, body)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	for i := range body {
		body[i] = 'x'
	}
	if string(got[0].Raw) != textRaw {
		t.Errorf("Raw changed with the body buffer: %s", got[0].Raw)
	}
}

// A nil Header is treated as one without the signature.
func TestReceiveNilHeader(t *testing.T) {
	body := readTestdata(t, "text.json")
	if _, err := newChannel(t, nil).Receive(nil, body); !errors.Is(err, channels.ErrBadSignature) {
		t.Fatalf("Receive error = %v, want %v", err, channels.ErrBadSignature)
	}
}

func checkEvents(t *testing.T, got, want []channels.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d:\n%s", len(got), len(want), dumpEvents(got))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("event %d:\n got %s\nwant %s", i, dumpEvent(got[i]), dumpEvent(want[i]))
		}
	}
}

func dumpEvents(evs []channels.Event) string {
	var b bytes.Buffer
	for _, e := range evs {
		b.WriteString(dumpEvent(e) + "\n")
	}
	return b.String()
}

func dumpEvent(e channels.Event) string {
	msg := "<nil>"
	if e.Message != nil {
		msg = fmt.Sprintf("%+v", *e.Message)
	}
	return fmt.Sprintf("{Channel:%q ChannelType:%q Contact:%q ID:%q Type:%q Message:%s Timestamp:%s Redelivery:%t Raw:%s}",
		e.Channel, e.ChannelType, e.Contact, e.ID, e.Type, msg, e.Timestamp.Format(time.RFC3339), e.Redelivery, e.Raw)
}

func compact(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
