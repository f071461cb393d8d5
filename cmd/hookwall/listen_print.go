package main

// How hookwall listen prints what it takes. Everything printed may come
// from strangers, so nothing of it reaches the terminal unescaped.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// print prints an accepted delivery: one line, or with --json the body.
func (in *inbox) print(label string, dup bool, body []byte, d *incoming) {
	if in.json {
		var b bytes.Buffer
		_ = json.Compact(&b, body) // parseDelivery has read it as JSON
		b.WriteByte('\n')
		_, _ = in.out.Write(terminalSafe(b.Bytes()))
		if dup {
			in.logf("%s (duplicate) webhook-id already seen", label)
		}
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %-8s ", in.now().Format(time.TimeOnly), label)
	if dup {
		b.WriteString("(duplicate) ")
	}
	d.describe(&b)
	b.WriteByte('\n')
	_, _ = io.WriteString(in.out, b.String())
}

// incoming is what listen reads of a body: a hookwall envelope (contact a
// string) or a web chat reply (contact an object with its id).
type incoming struct {
	Type         string          `json:"type"`
	Channel      string          `json:"channel"`
	Contact      json.RawMessage `json:"contact"`
	Conversation string          `json:"conversation"`
	Route        string          `json:"route"`
	Queue        string          `json:"queue"`
	Automation   bool            `json:"automation"`
	Blocked      bool            `json:"blocked"`
	Message      *struct {
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"message"`
	Data json.RawMessage `json:"data"`
	Raw  json.RawMessage `json:"raw"`

	contact string // the contact's id
	reply   bool   // a web chat reply
}

var errShape = errors.New("the body is not a JSON object of an envelope or a web chat reply")

// parseDelivery reads a body that passed verification.
func parseDelivery(body []byte) (*incoming, error) {
	var d incoming
	if t := bytes.TrimSpace(body); len(t) == 0 || t[0] != '{' || json.Unmarshal(t, &d) != nil {
		return nil, errShape
	}
	switch c := bytes.TrimSpace(d.Contact); {
	case len(c) == 0 || string(c) == "null":
	case c[0] == '"':
		_ = json.Unmarshal(c, &d.contact)
	case c[0] == '{':
		var o struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(c, &o) != nil {
			return nil, errShape
		}
		d.contact, d.reply = o.ID, true
	default:
		return nil, errShape
	}
	return &d, nil
}

// describe writes the delivery's line after the time and the target.
// Everything in it may come from strangers (contacts, texts, notes), so
// every value is written plain only when it is a harmless token and quoted
// with Go escapes otherwise: control characters and ANSI sequences show as
// \x1b and never reach the terminal.
func (d *incoming) describe(b *strings.Builder) {
	if d.reply {
		fmt.Fprintf(b, "reply to contact=%s", field(d.contact))
		if d.Message != nil {
			fmt.Fprintf(b, " text=%s", quoteText(d.Message.Text))
		}
		return
	}
	fmt.Fprintf(b, "%s %s ", field(d.Type), field(d.Channel))
	if d.contact == "" {
		// A passthrough: an event hookwall forwards without tying it to a
		// contact (the platform named none, or its type is unknown).
		b.WriteString("(no contact)")
	} else {
		fmt.Fprintf(b, "contact=%s", field(d.contact))
	}
	if d.Conversation != "" {
		fmt.Fprintf(b, " conversation=%s", field(d.Conversation))
	}
	fmt.Fprintf(b, " route=%s queue=%s automation=%s blocked=%s",
		field(d.Route), field(d.Queue), onOff(d.Automation), yesNo(d.Blocked))
	if m := d.Message; m != nil {
		if m.Text != "" || m.Type == "text" {
			fmt.Fprintf(b, " text=%s", quoteText(m.Text))
		} else {
			fmt.Fprintf(b, " message=%s", field(m.Type))
		}
	}
	if present(d.Data) {
		// The block entry of contact.blocked repeats the channel and the
		// contact; leave them out.
		b.WriteString(" data: ")
		brief(b, d.Data, map[string]string{"channel": d.Channel, "contact": d.contact})
	}
	if d.contact == "" && present(d.Raw) {
		b.WriteString(" raw: ")
		brief(b, d.Raw, nil)
	}
}

// present reports whether a member was sent and is not null.
func present(raw json.RawMessage) bool {
	return len(raw) > 0 && string(raw) != "null"
}

func onOff(v bool) string {
	if v {
		return "on"
	}
	return "off"
}

func yesNo(v bool) string {
	if v {
		return "yes"
	}
	return "no"
}

// field writes a value plain when it is a harmless token (ids, types,
// channels), else quoted with Go escapes.
func field(s string) string {
	if s == "" {
		return `""`
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.:/@+#", c) >= 0) {
			return strconv.Quote(s)
		}
	}
	return s
}

// maxTextRunes bounds the message text on a line; --json shows all of it.
const maxTextRunes = 500

// quoteText quotes a message text with Go escapes, cut at maxTextRunes.
func quoteText(s string) string {
	n := utf8.RuneCountInString(s)
	if n <= maxTextRunes {
		return strconv.Quote(s)
	}
	cut, i := 0, 0
	for cut = range s {
		if i == maxTextRunes {
			break
		}
		i++
	}
	return fmt.Sprintf("%s (+%d characters)", strconv.Quote(s[:cut]), n-maxTextRunes)
}

// maxBriefBytes bounds a brief rendering of data or raw.
const maxBriefBytes = 240

// brief writes a JSON value shortly, as key=value pairs with keys sorted,
// values written by field, null members and the members of omit holding
// their given value left out, cut after maxBriefBytes.
func brief(b *strings.Builder, raw json.RawMessage, omit map[string]string) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		b.WriteString("(not JSON)")
		return
	}
	var w strings.Builder
	if obj, ok := v.(map[string]any); ok {
		for k, want := range omit {
			if s, ok := obj[k].(string); ok && s == want {
				delete(obj, k)
			}
		}
		briefMembers(&w, obj)
	} else {
		briefValue(&w, v)
	}
	s := w.String()
	if len(s) > maxBriefBytes {
		cut := maxBriefBytes
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	b.WriteString(s)
}

func briefMembers(w *strings.Builder, obj map[string]any) {
	keys := make([]string, 0, len(obj))
	for k, v := range obj {
		if v != nil {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for i, k := range keys {
		if w.Len() > maxBriefBytes {
			return
		}
		if i > 0 {
			w.WriteByte(' ')
		}
		w.WriteString(field(k))
		w.WriteByte('=')
		briefValue(w, obj[k])
	}
}

func briefValue(w *strings.Builder, v any) {
	switch v := v.(type) {
	case map[string]any:
		w.WriteByte('{')
		briefMembers(w, v)
		w.WriteByte('}')
	case []any:
		w.WriteByte('[')
		for i, e := range v {
			if w.Len() > maxBriefBytes {
				break
			}
			if i > 0 {
				w.WriteByte(' ')
			}
			briefValue(w, e)
		}
		w.WriteByte(']')
	case string:
		w.WriteString(field(v))
	case nil:
		w.WriteString("null")
	default: // json.Number, bool
		fmt.Fprint(w, v)
	}
}

// terminalSafe escapes, in compact JSON, what a terminal could take as a
// control or use to disguise a line: DEL, C1 controls and every other rune
// that is not printable (bidi overrides, zero-width characters; C0 controls
// are always escaped in JSON strings), and bytes that are not UTF-8, which
// become U+FFFD. Outside strings compact JSON has none of them, so the
// result is the same JSON.
func terminalSafe(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		switch {
		case r == utf8.RuneError && size == 1:
			out = append(out, `\ufffd`...)
		case r >= 0x7f && !unicode.IsPrint(r):
			// DEL, C1 controls, and the format characters that reorder
			// what a terminal shows (U+202E): as JSON escapes.
			for _, u := range utf16.Encode([]rune{r}) {
				out = fmt.Appendf(out, `\u%04x`, u)
			}
		default:
			out = append(out, b[:size]...)
		}
		b = b[size:]
	}
	return out
}
