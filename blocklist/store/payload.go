package store

import (
	"bytes"
	"encoding/json"
	"time"
)

// AppendPayload appends the stored form of an event or notice — the JSON
// object {"id","type","message"?,"received_at","raw"?,"data"?}, members in
// that order. message, raw and data are written as they are: they are JSON
// already (the adapters decoded them), and the platform's raw event must
// reach the targets unchanged, byte for byte.
func AppendPayload(b []byte, id, typ string, message json.RawMessage, at time.Time, raw, data json.RawMessage) []byte {
	b = appendPayloadHead(b, id, typ)
	if len(message) > 0 {
		b = append(b, `,"message":`...)
		b = append(b, message...)
	}
	b = append(b, `,"received_at":"`...)
	b = at.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if len(raw) > 0 {
		b = append(b, `,"raw":`...)
		b = append(b, raw...)
	}
	if len(data) > 0 {
		b = append(b, `,"data":`...)
		b = append(b, data...)
	}
	return append(b, '}')
}

func appendPayloadHead(b []byte, id, typ string) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, id)
	b = append(b, `,"type":`...)
	return appendJSONString(b, typ)
}

func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}

// PayloadMembers returns the members of a delivery's stored payload after its
// id and type — `,"message":...,"received_at":...,"raw":...}` — so that an
// envelope is built by appending, without decoding and encoding the
// platform's event again. ok is false for a payload not in the stored form.
func PayloadMembers(d Delivery) (rest []byte, ok bool) {
	head := appendPayloadHead(make([]byte, 0, 64+len(d.ID)+len(d.Type)), d.ID, d.Type)
	if !bytes.HasPrefix(d.Payload, head) {
		return nil, false
	}
	rest = d.Payload[len(head):]
	if len(rest) == 0 || (rest[0] != ',' && rest[0] != '}') {
		return nil, false
	}
	return rest, true
}

// Notice returns a new envelope id and the stored payload of a lifecycle
// notice to the helpdesk.
func Notice(typ string, now time.Time, data any) (string, []byte) {
	id := NewID("evt_")
	d, _ := json.Marshal(data)
	return id, AppendPayload(nil, id, typ, nil, now, nil, d)
}
