package whatsapp_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
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
			name:   "only other fields: no events",
			body:   readTestdata(t, "other_field.json"),
			header: sign(appSecret, readTestdata(t, "other_field.json")),
			want:   []channels.Event{},
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

func TestReceiveMalformed(t *testing.T) {
	const (
		env   = `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":%s}]}]}`
		okMsg = `{"from":"1","id":"wamid.A","timestamp":"1750000000","type":"text","text":{"body":"hi"}}`
		okSt  = `{"id":"wamid.B","status":"sent","timestamp":"1750000000","recipient_id":"1"}`
	)
	value := func(v string) string { return fmt.Sprintf(env, v) }
	tests := []struct {
		name string
		body string
	}{
		{"empty body", ``},
		{"not json", `hello`},
		{"trailing garbage", value(`{"messages":[`+okMsg+`]}`) + `x`},
		{"array", `[]`},
		{"null", `null`},
		{"other object", `{"object":"page","entry":[]}`},
		{"no object", `{"entry":[]}`},
		{"no entry", `{"object":"whatsapp_business_account"}`},
		{"entry not an array", `{"object":"whatsapp_business_account","entry":{}}`},
		{"changes not an array", `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":"x"}]}`},
		{"value missing", `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages"}]}]}`},
		{"value null", value(`null`)},
		{"value a string", value(`"x"`)},
		{"messages not an array", value(`{"messages":{}}`)},
		{"message null", value(`{"messages":[null]}`)},
		{"message missing id", value(`{"messages":[{"from":"1","timestamp":"1750000000","type":"text"}]}`)},
		{"message missing from", value(`{"messages":[{"id":"wamid.A","timestamp":"1750000000","type":"text"}]}`)},
		{"message id a number", value(`{"messages":[{"from":"1","id":7,"timestamp":"1750000000","type":"text"}]}`)},
		{"message text not an object", value(`{"messages":[{"from":"1","id":"wamid.A","timestamp":"1750000000","type":"text","text":"hi"}]}`)},
		{"message timestamp missing", value(`{"messages":[{"from":"1","id":"wamid.A","type":"text"}]}`)},
		{"message timestamp a number", value(`{"messages":[{"from":"1","id":"wamid.A","timestamp":1750000000,"type":"text"}]}`)},
		{"message timestamp not decimal", value(`{"messages":[{"from":"1","id":"wamid.A","timestamp":"0x10","type":"text"}]}`)},
		{"message timestamp after year 9999", value(`{"messages":[{"from":"1","id":"wamid.A","timestamp":"253402300800","type":"text"}]}`)},
		{"status missing id", value(`{"statuses":[{"status":"sent","timestamp":"1750000000","recipient_id":"1"}]}`)},
		{"status missing status", value(`{"statuses":[{"id":"wamid.B","timestamp":"1750000000","recipient_id":"1"}]}`)},
		{"status missing recipient", value(`{"statuses":[{"id":"wamid.B","status":"sent","timestamp":"1750000000"}]}`)},
		{"status negative timestamp", value(`{"statuses":[{"id":"wamid.B","status":"sent","timestamp":"-1","recipient_id":"1"}]}`)},
		{"bad message after good ones", value(`{"messages":[` + okMsg + `,{"id":"wamid.C"}],"statuses":[` + okSt + `]}`)},
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
