package channels

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// ContentIDPrefix starts every id that hookwall derived itself rather than
// took from the platform.
const ContentIDPrefix = "sha256:"

// ContentID derives a dedupe id for an event the platform sent without one:
// "sha256:" and the hex SHA-256 of the event's JSON in a canonical form —
// object keys sorted, no insignificant white space, numbers as written —
// with the named top-level members left out. Leaving out what a platform
// changes on redelivery (LINE's deliveryContext) makes a redelivered event a
// duplicate of the first, however the platform spaced or ordered its JSON.
// raw that is not JSON is hashed as it is.
func ContentID(raw []byte, omit ...string) string {
	return HashID(canonical(raw, omit))
}

// HashID is "sha256:" and the hex SHA-256 of b: the id that stands for an
// id too long to keep, or for content.
func HashID(b []byte) string {
	sum := sha256.Sum256(b)
	return ContentIDPrefix + hex.EncodeToString(sum[:])
}

// canonical re-encodes raw with sorted keys and without the omitted
// top-level members; encoding/json sorts map keys and json.Number keeps each
// number's text.
func canonical(raw []byte, omit []string) []byte {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return raw
	}
	if obj, ok := v.(map[string]any); ok {
		for _, k := range omit {
			delete(obj, k)
		}
	}
	out, err := json.Marshal(v)
	if err != nil {
		return raw
	}
	return out
}

// StringMember returns obj[key] when it is a JSON string, else "": the
// lenient read of one member, for the parts of a platform's event that may
// be of another kind than documented.
func StringMember(obj map[string]json.RawMessage, key string) string {
	var v string
	if json.Unmarshal(obj[key], &v) != nil {
		return ""
	}
	return v
}
