// Package channelstest tells, for tests, whether a body is a platform's
// envelope as the contract defines it — the bodies hookwall must never
// refuse when they are authentic. It decodes into generic values, another
// way than the adapters read bodies, so that a test does not check an
// adapter against itself.
package channelstest

import (
	"bytes"
	"encoding/json"

	"golang.org/x/text/cases"
)

// LINEEnvelope reports whether body is one JSON object whose "events" member
// is an array, and the array's length.
func LINEEnvelope(body []byte) (ok bool, events int) {
	obj, _ := object(body)
	evs, ok := obj["events"].([]any)
	return ok, len(evs)
}

// CloudEnvelope reports whether body is one JSON object whose "object" is
// "whatsapp_business_account" and whose "entry" is an array.
func CloudEnvelope(body []byte) bool {
	obj, _ := object(body)
	_, entries := obj["entry"].([]any)
	return obj["object"] == "whatsapp_business_account" && entries
}

// CloudEvents counts the events hookwall must keep of a Cloud API envelope:
// every message and status of a "messages" change, and one for every other
// change, and for every entry without a changes array.
func CloudEvents(body []byte) int {
	obj, _ := object(body)
	entries, _ := obj["entry"].([]any)
	n := 0
	for _, e := range entries {
		entry, _ := e.(map[string]any)
		changes, ok := entry["changes"].([]any)
		if !ok {
			n++
			continue
		}
		for _, c := range changes {
			n += cloudChange(c)
		}
	}
	return n
}

// cloudChange counts the events of one change: its messages and statuses,
// or 1 for a change that carries neither or does not read.
func cloudChange(c any) int {
	change, _ := c.(map[string]any)
	value, ok := change["value"].(map[string]any)
	if change["field"] != "messages" || !ok {
		return 1
	}
	n := 0
	for _, key := range []string{"messages", "statuses"} {
		switch parts := value[key].(type) {
		case nil:
		case []any:
			n += len(parts)
		default:
			return 1
		}
	}
	return max(n, 1)
}

// WebchatEnvelope reports whether body is one JSON object.
func WebchatEnvelope(body []byte) bool {
	_, ok := object(body)
	return ok
}

func object(body []byte) (map[string]any, bool) {
	var v any
	if json.Unmarshal(body, &v) != nil {
		return nil, false
	}
	obj, ok := v.(map[string]any)
	return obj, ok
}

// Ambiguous reports whether one object of body has two members whose names
// are equal under case folding: the bodies hookwall refuses whole, however
// authentic. Names are read with encoding/json's tokenizer, which replaces
// invalid UTF-8 as the adapters' decoders do, and compared folded.
func Ambiguous(body []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	type level struct {
		object bool
		key    bool // the next string of this object is a name
		names  map[string]bool
	}
	var stack []*level
	fold := cases.Fold()
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		var top *level
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, &level{object: true, key: true, names: map[string]bool{}})
			case '[':
				stack = append(stack, &level{})
			default:
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].object {
					stack[len(stack)-1].key = true
				}
			}
			continue
		case string:
			if top != nil && top.object && top.key {
				name := fold.String(t)
				if top.names[name] {
					return true
				}
				top.names[name] = true
				top.key = false
				continue
			}
		}
		if top != nil && top.object {
			top.key = true
		}
	}
}
