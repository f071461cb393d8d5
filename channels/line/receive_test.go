package line_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hookwall/hookwall/channels"
	"github.com/hookwall/hookwall/channels/line"
)

const (
	channelID = "line-main"
	secret    = "8c570fa6dd201bb328f1c1eac23a96d8"
	oldSecret = "0b9a2f3e4d5c6b7a8f9e0d1c2b3a4f5e"
	newSecret = "f1e2d3c4b5a697887766554433221100"

	alice = "U4af4980629a8b8a4c6f3e2d1c0b9a8f7"
	bob   = "U3c28a70ed7c5e7ce2ad3e2d1c0b9a8f7"
	carol = "U91eeaf62d901234567890123456789ab"
	dave  = "U206d25c2ea6bd87c17655609a1c37cb8"
)

// sign computes X-Line-Signature the way the LINE Platform does, without the
// SDK, so the tests do not check the adapter against itself.
func sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func header(sig string) http.Header {
	h := http.Header{}
	if sig != "" {
		h.Set("X-Line-Signature", sig)
	}
	return h
}

func newChannel(t *testing.T, secrets ...string) *line.Channel {
	t.Helper()
	ch, err := line.New(line.Config{ID: channelID, Secrets: secrets, AccessToken: "test-access-token"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return ch
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// eventsAt returns each element of the body's "events" array as the exact
// byte range it occupies in body, found by offsets while streaming tokens:
// another way than Receive's to cut them out.
func eventsAt(t *testing.T, body []byte) [][]byte {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		if key != "events" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if _, err := dec.Token(); err != nil {
			t.Fatal(err)
		}
		for dec.More() {
			start := dec.InputOffset()
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				t.Fatal(err)
			}
			seg := bytes.TrimLeft(body[start:dec.InputOffset()], " \t\r\n,")
			if !bytes.Equal(seg, v) {
				t.Fatalf("offsets cut %q, decoder saw %q", seg, v)
			}
			out = append(out, seg)
		}
		if _, err := dec.Token(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// want is the normalized part of an expected event; Channel, ChannelType
// and Raw are filled in by expect.
type want struct {
	contact    string
	id         string
	typ        string
	ms         int64
	redelivery bool
	msg        *channels.Message
}

func expect(t *testing.T, body []byte, ws []want) []channels.Event {
	t.Helper()
	raws := eventsAt(t, body)
	if len(raws) != len(ws) {
		t.Fatalf("fixture has %d events, table %d", len(raws), len(ws))
	}
	out := make([]channels.Event, len(ws))
	for i, w := range ws {
		if w.id == derived {
			w.id = channels.ContentID(raws[i], "deliveryContext")
		}
		out[i] = channels.Event{
			Channel:     channelID,
			ChannelType: "line",
			Contact:     w.contact,
			ID:          w.id,
			Type:        w.typ,
			Message:     w.msg,
			Timestamp:   time.UnixMilli(w.ms).UTC(),
			Redelivery:  w.redelivery,
			Raw:         json.RawMessage(raws[i]),
		}
	}
	return out
}

var fixtures = []struct {
	file string
	want []want
}{
	{"text.json", []want{{alice, "01HF3Z7Q4W2V9K8M1N6P5R3T0A", "message", 1700000000123, false,
		&channels.Message{ID: "468789577898262530", Type: "text", Text: "Hello, world こんにちは (love)"}}}},
	{"image.json", []want{{alice, "01FZ74A0TDDPYRVKNK77XKC3ZR", "message", 1627356924513, false,
		&channels.Message{ID: "354718705033693861", Type: "image"}}}},
	{"sticker.json", []want{{alice, "01FZ74A0TDDPYRVKNK77XKC3ZS", "message", 1625665242211, false,
		&channels.Message{ID: "1501597916", Type: "sticker"}}}},
	{"follow.json", []want{{bob, "01HMQGW40RZJPJM3RAJP7BHC2Q", "follow", 1705891467176, false, nil}}},
	{"unfollow.json", []want{{bob, "01FZ74A0TDDPYRVKNK77XKC3ZT", "unfollow", 1462629479859, false, nil}}},
	{"postback.json", []want{{carol, "01FZ74A0TDDPYRVKNK77XKC3ZV", "postback", 1513669370317, false, nil}}},
	{"group_message.json", []want{{alice, "01FZ74A0TDDPYRVKNK77XKC3ZW", "message", 1462629479859, false,
		&channels.Message{ID: "444573844083572737", Type: "text", Text: "@All @example Good Morning!!"}}}},
	// The bot joining a group has no user: Contact is empty.
	{"group_join.json", []want{{"", "01FZ74A0TDDPYRVKNK77XKC3ZX", "join", 1462629479859, false, nil}}},
	{"redelivery.json", []want{{alice, "01HF3Z9A0B1C2D3E4F5G6H7J8K", "message", 1700000060000, true,
		&channels.Message{ID: "468789600012345678", Type: "text", Text: "are you there?"}}}},
	{"verify.json", []want{}},
	{"batch.json", []want{
		{dave, "01HF3ZA0000000000000000001", "message", 1700000100000, false,
			&channels.Message{ID: "468789577898262531", Type: "text", Text: "first"}},
		{"", "01HF3ZA0000000000000000002", "memberJoined", 1700000100100, false, nil},
		{dave, "01HF3ZA0000000000000000003", "message", 1700000100200, false,
			&channels.Message{ID: "325708", Type: "location"}},
		{"", "01HF3ZA0000000000000000004", "leave", 1700000100300, false, nil},
	}},
	// One event of every type the SDK models, then a message type and an
	// event type it does not.
	{"all_types.json", []want{
		{alice, "01HX0000000000000000000001", "message", 1700000200001, false, &channels.Message{ID: "100", Type: "text", Text: "hi"}},
		{alice, "01HX0000000000000000000002", "follow", 1700000200002, false, nil},
		{alice, "01HX0000000000000000000003", "unfollow", 1700000200003, false, nil},
		{alice, "01HX0000000000000000000004", "postback", 1700000200004, false, nil},
		{"", "01HX0000000000000000000005", "join", 1700000200005, false, nil},
		{"", "01HX0000000000000000000006", "leave", 1700000200006, false, nil},
		{"", "01HX0000000000000000000007", "memberJoined", 1700000200007, false, nil},
		{"", "01HX0000000000000000000008", "memberLeft", 1700000200008, false, nil},
		{alice, "01HX0000000000000000000009", "unsend", 1700000200009, false, nil},
		{alice, "01HX0000000000000000000010", "videoPlayComplete", 1700000200010, false, nil},
		{alice, "01HX0000000000000000000011", "beacon", 1700000200011, false, nil},
		{alice, "01HX0000000000000000000012", "accountLink", 1700000200012, false, nil},
		{alice, "01HX0000000000000000000013", "things", 1700000200013, false, nil},
		{alice, "01HX0000000000000000000014", "membership", 1700000200014, false, nil},
		{"", "01HX0000000000000000000015", "module", 1700000200015, false, nil},
		{alice, "01HX0000000000000000000016", "activated", 1700000200016, false, nil},
		{alice, "01HX0000000000000000000017", "deactivated", 1700000200017, false, nil},
		{"", "01HX0000000000000000000018", "botSuspended", 1700000200018, false, nil},
		{"", "01HX0000000000000000000019", "botResumed", 1700000200019, false, nil},
		{alice, "01HX0000000000000000000020", "delivery", 1700000200020, false, nil},
		{alice, "01HX0000000000000000000021", "message", 1700000200021, false, &channels.Message{ID: "101", Type: "hologram"}},
		// A type the SDK does not know is a passthrough: no contact.
		{"", "01HX0000000000000000000022", "futureEvent", 1700000200022, false, nil},
	}},
	// The LINE SDK's own sample (linebot/webhook/httphandler_test.go) has no
	// webhookEventId: the id is derived from the event.
	{"sdk_sample.json", []want{{"u206d25c2ea6bd87c17655609a1c37cb8", derived, "message", 1462629479859, false,
		&channels.Message{ID: "325708", Type: "text", Text: "Hello, world"}}}},
	// That event next to one with a webhookEventId: both are kept.
	{"mixed_no_event_id.json", []want{
		{"u206d25c2ea6bd87c17655609a1c37cb8", derived, "message", 1462629479859, false,
			&channels.Message{ID: "325708", Type: "text", Text: "Hello, world"}},
		{bob, "01HMQGW40RZJPJM3RAJP7BHC2Q", "follow", 1705891467176, false, nil},
	}},
}

// derived in a want stands for the id Receive derives from the event's
// content (channels.ContentID without deliveryContext).
const derived = "(derived)"

func TestReceive(t *testing.T) {
	// tamper changes the body after signing without making it invalid JSON:
	// the signature covers the raw bytes, not their meaning.
	tamper := func(b []byte) []byte { return append([]byte{' '}, b...) }

	modes := []struct {
		name    string
		secrets []string
		sign    func(body []byte) (http.Header, []byte)
		ok      bool
	}{
		{"valid signature", []string{secret}, func(b []byte) (http.Header, []byte) {
			return header(sign(secret, b)), b
		}, true},
		{"rotated secret", []string{oldSecret, newSecret}, func(b []byte) (http.Header, []byte) {
			return header(sign(newSecret, b)), b
		}, true},
		{"tampered body", []string{secret}, func(b []byte) (http.Header, []byte) {
			return header(sign(secret, b)), tamper(b)
		}, false},
		{"missing header", []string{secret}, func(b []byte) (http.Header, []byte) {
			return header(""), b
		}, false},
		{"wrong secret", []string{secret}, func(b []byte) (http.Header, []byte) {
			return header(sign("not-the-channel-secret", b)), b
		}, false},
		{"signature not base64", []string{secret}, func(b []byte) (http.Header, []byte) {
			return header("not base64!"), b
		}, false},
	}

	for _, fx := range fixtures {
		for _, mode := range modes {
			t.Run(fx.file+"/"+mode.name, func(t *testing.T) {
				body := readFixture(t, fx.file)
				h, sent := mode.sign(body)
				got, err := newChannel(t, mode.secrets...).Receive(h, sent)
				if !mode.ok {
					if !errors.Is(err, channels.ErrBadSignature) {
						t.Fatalf("Receive error = %v, want ErrBadSignature", err)
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
					t.Fatal("Receive returned a nil slice, want an empty one at least")
				}
				wantEvents := expect(t, body, fx.want)
				if len(got) != len(wantEvents) {
					t.Fatalf("Receive returned %d events, want %d", len(got), len(wantEvents))
				}
				for i := range got {
					if !reflect.DeepEqual(got[i], wantEvents[i]) {
						t.Errorf("event %d:\n got %+v\nwant %+v", i, got[i], wantEvents[i])
					}
				}
			})
		}
	}
}

func TestReceiveRawOutlivesBody(t *testing.T) {
	body := readFixture(t, "text.json")
	orig := bytes.Clone(body)
	got, err := newChannel(t, secret).Receive(header(sign(secret, body)), body)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	// A framework reusing its request buffer overwrites the body.
	for i := range body {
		body[i] = 'x'
	}
	if want := eventsAt(t, orig)[0]; !bytes.Equal(got[0].Raw, want) {
		t.Errorf("Raw changed with the request buffer: %s", got[0].Raw)
	}
}

func TestReceiveVerifiesBeforeParsing(t *testing.T) {
	ch := newChannel(t, secret)
	tests := []struct {
		name string
		h    channels.Header
		body []byte
	}{
		{"malformed body, no signature", header(""), []byte(`{"events":[`)},
		{"malformed body, wrong signature", header(sign("other", []byte(`{`))), []byte(`{`)},
		{"nil header", nil, []byte(`{"destination":"U1","events":[]}`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ch.Receive(tc.h, tc.body); !errors.Is(err, channels.ErrBadSignature) {
				t.Fatalf("Receive error = %v, want ErrBadSignature", err)
			}
		})
	}
}

// TestReceiveMalformed: only a body that as a whole is not LINE's envelope
// is refused.
func TestReceiveMalformed(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"empty body", ``},
		{"truncated", `{"destination":"U1","events":[`},
		{"trailing data", `{"events":[]} {}`},
		{"top level array", `[]`},
		{"top level null", `null`},
		{"top level string", `"events"`},
		{"no events", `{"destination":"U1"}`},
		{"events null", `{"destination":"U1","events":null}`},
		{"events object", `{"destination":"U1","events":{}}`},
		{"events string", `{"events":"[]"}`},
	}
	ch := newChannel(t, secret)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(tc.body)
			got, err := ch.Receive(header(sign(secret, body)), body)
			if !errors.Is(err, channels.ErrMalformed) {
				t.Fatalf("Receive = %d events, %v; want ErrMalformed", len(got), err)
			}
			if errors.Is(err, channels.ErrBadSignature) {
				t.Errorf("error %v is both malformed and bad signature", err)
			}
		})
	}
}

// TestReceiveOddEvents: inside the envelope every event is kept. One that
// does not decode as its type is read member by member: an event of a type
// the SDK knows with a readable source.userId stays that user's (the
// blocklist decides it), anything else has no contact (the gateway forwards
// it to the helpdesk as it is). Type is its own, ID its webhookEventId or one
// derived from its content.
func TestReceiveOddEvents(t *testing.T) {
	tests := []struct {
		name    string
		event   string
		contact string
		typ     string
		id      string // derived: channels.ContentID of the event
		ms      int64
		msg     *channels.Message
	}{
		// No contact: a passthrough.
		{"event null", `null`, "", "unknown", derived, 0, nil},
		{"event not an object", `"message"`, "", "unknown", derived, 0, nil},
		{"event without type", `{"webhookEventId":"01A","timestamp":1,"source":{"type":"user","userId":"U1"}}`, "", "unknown", "01A", 1, nil},
		{"event with empty type", `{"type":"","webhookEventId":"01A","timestamp":1}`, "", "unknown", "01A", 1, nil},
		{"event type not a string", `{"type":7,"webhookEventId":"01A","source":{"type":"user","userId":"U1"}}`, "", "unknown", "01A", 0, nil},
		{"unknown type", `{"type":"futureEvent","webhookEventId":"01A","timestamp":5,"source":{"type":"user","userId":"U1"}}`, "", "futureEvent", "01A", 5, nil},
		{"unknown type without webhookEventId", `{"type":"futureEvent","timestamp":1}`, "", "futureEvent", derived, 1, nil},
		{"unknown type, webhookEventId not a string", `{"type":"futureEvent","webhookEventId":7}`, "", "futureEvent", derived, 0, nil},
		{"message with empty type, no source", `{"type":"message","webhookEventId":"01A","message":{"type":"","id":"1"}}`, "", "message", "01A", 0, nil},
		{"source not an object", `{"type":"follow","webhookEventId":"01A","source":"U1"}`, "", "follow", "01A", 0, nil},
		{"source null", `{"type":"follow","webhookEventId":"01A","source":null}`, "", "follow", "01A", 0, nil},
		{"userId not a string", `{"type":"follow","webhookEventId":"01A","source":{"type":"bot","userId":5}}`, "", "follow", "01A", 0, nil},
		// A readable user: still the user's, whatever else is odd.
		{"message event without message", `{"type":"message","webhookEventId":"01A","timestamp":1,"source":{"type":"user","userId":"U1"}}`, "U1", "message", "01A", 1, nil},
		{"message null", `{"type":"message","webhookEventId":"01A","message":null,"source":{"type":"user","userId":"U1"}}`, "U1", "message", "01A", 0, nil},
		{"message without type", `{"type":"message","webhookEventId":"01A","message":{"id":"1","text":"x"},"source":{"type":"user","userId":"U1"}}`, "U1", "message", "01A", 0, nil},
		{"timestamp not a number", `{"type":"follow","webhookEventId":"01A","timestamp":"soon","source":{"type":"user","userId":"U1"}}`, "U1", "follow", "01A", 0, nil},
		{"unknown message, id not a string", `{"type":"message","webhookEventId":"01A","message":{"type":"hologram","id":5},"source":{"type":"user","userId":"U1"}}`, "U1", "message", "01A", 0,
			&channels.Message{Type: "hologram"}},
		{"emojis not an array", `{"type":"message","webhookEventId":"01A","timestamp":1,"source":{"type":"user","userId":"U1"},"message":{"type":"text","id":"1","text":"hi","emojis":"x"}}`, "U1", "message", "01A", 1,
			&channels.Message{ID: "1", Type: "text", Text: "hi"}},
		{"mode a number", `{"type":"message","mode":5,"webhookEventId":"01A","source":{"type":"user","userId":"U1"},"message":{"type":"text","id":"1","text":"hi"}}`, "U1", "message", "01A", 0,
			&channels.Message{ID: "1", Type: "text", Text: "hi"}},
		{"quoteToken a number, no webhookEventId", `{"type":"message","source":{"type":"group","groupId":"C1","userId":"U1"},"message":{"type":"text","id":"1","text":"hi","quoteToken":5}}`, "U1", "message", derived, 0,
			&channels.Message{ID: "1", Type: "text", Text: "hi"}},
	}
	ch := newChannel(t, secret)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// After an ordinary event, which stays as it is.
			body := []byte(`{"destination":"U0","events":[{"type":"unfollow","webhookEventId":"01Z","source":{"type":"user","userId":"U1"}},` + tc.event + `]}`)
			got, err := ch.Receive(header(sign(secret, body)), body)
			if err != nil {
				t.Fatalf("Receive: %v", err)
			}
			if len(got) != 2 {
				t.Fatalf("Receive returned %d events, want 2", len(got))
			}
			if got[0].Contact != "U1" || got[0].ID != "01Z" || got[0].Type != "unfollow" {
				t.Errorf("ordinary event: %+v", got[0])
			}
			id := tc.id
			if id == derived {
				id = channels.ContentID([]byte(tc.event), "deliveryContext")
			}
			want := channels.Event{Channel: channelID, ChannelType: "line", Contact: tc.contact, ID: id, Type: tc.typ,
				Message: tc.msg, Raw: json.RawMessage(tc.event)}
			if tc.ms != 0 {
				want.Timestamp = time.UnixMilli(tc.ms).UTC()
			}
			if !reflect.DeepEqual(got[1], want) {
				t.Errorf("odd event:\n got %+v\nwant %+v", got[1], want)
			}
		})
	}
}

// TestReceiveDerivedID: an event without webhookEventId has the same id when
// LINE redelivers it (isRedelivery flipped, however the JSON is spaced or
// ordered), and another id when its content differs.
func TestReceiveDerivedID(t *testing.T) {
	ch := newChannel(t, secret)
	receive := func(name string) []channels.Event {
		body := readFixture(t, name)
		evs, err := ch.Receive(header(sign(secret, body)), body)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return evs
	}
	first, again := receive("mixed_no_event_id.json"), receive("mixed_no_event_id_redelivered.json")
	if !strings.HasPrefix(first[0].ID, channels.ContentIDPrefix) {
		t.Fatalf("derived id %q", first[0].ID)
	}
	if first[0].ID != again[0].ID {
		t.Errorf("redelivery has id %q, first delivery %q", again[0].ID, first[0].ID)
	}
	if !again[1].Redelivery || first[1].ID != again[1].ID {
		t.Errorf("the follow event: %+v, then %+v", first[1], again[1])
	}
	// The same message at another time is another event.
	other := []byte(strings.Replace(string(readFixture(t, "mixed_no_event_id.json")), "1462629479859", "1462629479860", 1))
	evs, err := ch.Receive(header(sign(secret, other)), other)
	if err != nil {
		t.Fatal(err)
	}
	if evs[0].ID == first[0].ID {
		t.Errorf("a later message has the same id %q", evs[0].ID)
	}
}

func TestReceiveLenient(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []channels.Event
	}{
		{
			// The SDK reads the exact key "events"; a case variant is an
			// unknown field, so both Raw and the parsed fields come from
			// "events".
			name: "case variant of events key ignored",
			body: `{"events":[],"Events":[{"type":"follow","webhookEventId":"01A"}]}`,
			want: []channels.Event{},
		},
		{
			name: "unknown source type keeps its userId",
			body: `{"events":[{"type":"follow","webhookEventId":"01A","source":{"type":"square","userId":"U1"}}]}`,
			want: []channels.Event{{Channel: channelID, ChannelType: "line", Contact: "U1", ID: "01A", Type: "follow",
				Raw: json.RawMessage(`{"type":"follow","webhookEventId":"01A","source":{"type":"square","userId":"U1"}}`)}},
		},
		{
			// LINE leaves userId out for users who have not consented to
			// share profile information.
			name: "group message without userId",
			body: `{"events":[{"type":"message","webhookEventId":"01A","timestamp":1462629479859,"source":{"type":"group","groupId":"C1"},"message":{"type":"text","id":"1","text":"x"}}]}`,
			want: []channels.Event{{Channel: channelID, ChannelType: "line", ID: "01A", Type: "message",
				Message: &channels.Message{ID: "1", Type: "text", Text: "x"}, Timestamp: time.UnixMilli(1462629479859).UTC(),
				Raw: json.RawMessage(`{"type":"message","webhookEventId":"01A","timestamp":1462629479859,"source":{"type":"group","groupId":"C1"},"message":{"type":"text","id":"1","text":"x"}}`)}},
		},
		{
			name: "no source, no timestamp, no deliveryContext",
			body: `{"events":[{"type":"botResumed","webhookEventId":"01A"}]}`,
			want: []channels.Event{{Channel: channelID, ChannelType: "line", ID: "01A", Type: "botResumed",
				Raw: json.RawMessage(`{"type":"botResumed","webhookEventId":"01A"}`)}},
		},
	}
	ch := newChannel(t, secret)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(tc.body)
			got, err := ch.Receive(header(sign(secret, body)), body)
			if err != nil {
				t.Fatalf("Receive: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Receive:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
