package channels_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hookwall/hookwall/channels"
)

// TestUnambiguous: a body is refused as malformed exactly when one of its
// objects, at any depth, has two members whose names are the same or differ
// only in case; names may repeat across objects, and values are not names.
func TestUnambiguous(t *testing.T) {
	for _, tc := range []struct {
		body string
		ok   bool
	}{
		{`{"events":[{"source":{"userId":"U1"}}]}`, true},
		{`{"a":{"k":1},"b":{"k":1},"k":"K"}`, true}, // the same name in different objects
		{`{"k":"K","K2":"k"}`, true},                // a value equal to a name
		{`["userId","UserId"]`, true},               // array strings are not names
		{`{"a":[{"k":1},{"k":2}]}`, true},           // each element its own object
		{`{"k":1,"k":2}`, false},                    // exact duplicate
		{`{"events":[{"source":{"userId":"U1","userId":"U2"}}]}`, false},
		{`{"events":[{"source":{"userId":"U1","UserId":"U2"}}]}`, false},
		{`{"tickets":"release","TICKETS":"delete"}`, false},
		{`{"a":{"b":{"c":{"x":1,"X":2}}}}`, false},
		{`{"K":1,"k":2}`, false},
		{"{\"stra\u00dfe\":1,\"STRASSE\":2}", false}, // full case folding: ß folds to ss
		{`{"a":1}{"a":1}`, true},                     // one object each: not this check's business
		{`{"a":`, false},                             // not JSON at all
	} {
		err := channels.Unambiguous([]byte(tc.body))
		if tc.ok && err != nil {
			t.Errorf("%s: %v; want accepted", tc.body, err)
		}
		if !tc.ok && !errors.Is(err, channels.ErrMalformed) {
			t.Errorf("%s: %v; want ErrMalformed", tc.body, err)
		}
	}
}

// BenchmarkUnambiguous is what the check adds to every authentic webhook:
// one more pass over the body, on LINE's batch of events.
func BenchmarkUnambiguous(b *testing.B) {
	body, err := os.ReadFile(filepath.Join("line", "testdata", "batch.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := channels.Unambiguous(body); err != nil {
			b.Fatal(err)
		}
	}
}
