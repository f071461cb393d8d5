package channels_test

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/hookwall/hookwall/channels"
)

func TestContentID(t *testing.T) {
	// The canonical form written out by hand: keys sorted at every level,
	// no white space, numbers as written, the omitted member gone.
	const canonical = `{"a":[1.50,"x",{"c":true,"d":null}],"b":12345678901234567890}`
	sum := sha256.Sum256([]byte(canonical))
	want := "sha256:" + hex.EncodeToString(sum[:])

	tests := []struct {
		name string
		raw  string
		omit []string
	}{
		{"canonical already", canonical, nil},
		{"spaced and reordered", "{ \"b\": 12345678901234567890,\n \"a\": [1.50, \"x\", {\"d\": null, \"c\": true}] }", nil},
		{"omitted member", `{"deliveryContext":{"isRedelivery":true},"b":12345678901234567890,"a":[1.50,"x",{"c":true,"d":null}]}`, []string{"deliveryContext"}},
		{"escaped the other way", `{"a":[1.50,"\u0078",{"c":true,"d":null}],"b":12345678901234567890}`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := channels.ContentID([]byte(tc.raw), tc.omit...); got != want {
				t.Errorf("ContentID = %s, want %s", got, want)
			}
		})
	}

	// Only the named top-level member is left out, and content counts.
	for _, other := range []string{
		`{"a":[1.5,"x",{"c":true,"d":null}],"b":12345678901234567890}`,
		`{"a":[1.50,"x",{"c":true,"d":null}],"b":12345678901234567890,"deliveryContext":{}}`,
	} {
		if got := channels.ContentID([]byte(other)); got == want {
			t.Errorf("ContentID(%s) = the id of other content", other)
		}
	}
	// Not JSON: the bytes themselves.
	sum = sha256.Sum256([]byte("not json"))
	if got := channels.ContentID([]byte("not json")); got != "sha256:"+hex.EncodeToString(sum[:]) {
		t.Errorf("ContentID(not json) = %s", got)
	}
}
