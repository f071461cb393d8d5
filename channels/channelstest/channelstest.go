// Package channelstest tells, for tests, whether a body is a platform's
// envelope as the contract defines it — the bodies hookwall must never
// refuse when they are authentic. It decodes into generic values, another
// way than the adapters read bodies, so that a test does not check an
// adapter against itself.
package channelstest

import "encoding/json"

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
