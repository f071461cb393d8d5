package store

import (
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestEntryCodec: the delivery entry's writer (lua/lib/entry.lua) and reader
// (DeliveryFrom) agree: the library writes exactly entryFieldNames, in order,
// and the reader gives each of them its own place in a Delivery.
func TestEntryCodec(t *testing.T) {
	src := Lib("entry")
	body := src[strings.Index(src, "local function entryFields(e)"):]
	body = body[:strings.Index(body, "\nend")]
	var written []string
	for _, m := range regexp.MustCompile(`'([a-z]+)', e\.`).FindAllStringSubmatch(body, -1) {
		written = append(written, m[1])
	}
	if !slices.Equal(written, entryFieldNames) {
		t.Fatalf("entry.lua writes %v; the reader knows %v", written, entryFieldNames)
	}
	// Each field set alone changes the Delivery read.
	for _, f := range entryFieldNames {
		values := map[string]any{}
		for _, g := range entryFieldNames {
			values[g] = "0"
		}
		base := DeliveryFrom(0, redis.XMessage{ID: "1-1", Values: values})
		values[f] = "1"
		if d := DeliveryFrom(0, redis.XMessage{ID: "1-1", Values: values}); reflect.DeepEqual(d, base) {
			t.Errorf("the reader ignores the field %s", f)
		}
	}
}
