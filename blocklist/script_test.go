package blocklist

import (
	"io/fs"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestLuaScripts checks every script file against the struct that names its
// keys and arguments and against the library: a script reads only the
// names its structs give (K.x, A.x), never KEYS[n] or ARGV[n]; each name
// its structs give is used; and only the library writes a delivery stream
// entry (lib/entry.lua) or an audit record (lib/audit.lua), so that every
// writer writes them alike.
func TestLuaScripts(t *testing.T) {
	files, err := fs.Glob(luaFiles, "lua/*.lua")
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]composedScript{}
	for _, c := range composed {
		byName[c.name] = c
	}
	ref := regexp.MustCompile(`\b([KA])\.([a-z_]+)`)
	libs, _ := fs.Glob(luaFiles, "lua/lib/*.lua")
	for _, f := range libs {
		if src := string(mustLua(f)); strings.Contains(src, "KEYS[") || strings.Contains(src, "ARGV[") {
			t.Errorf("%s: a library function reads KEYS or ARGV; pass it what it needs", f)
		}
	}
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(f, "lua/"), ".lua")
		c, ok := byName[name]
		if !ok {
			t.Errorf("%s: no script is made of it", f)
			continue
		}
		src := string(mustLua(f))
		if strings.Contains(src, "KEYS[") || strings.Contains(src, "ARGV[") {
			t.Errorf("%s: reads KEYS or ARGV by position", f)
		}
		used := map[string]bool{}
		for _, m := range ref.FindAllStringSubmatch(src, -1) {
			names, list := c.keys, "keys"
			if m[1] == "A" {
				names, list = c.args, "arguments"
			}
			if !slices.Contains(names, m[2]) {
				t.Errorf("%s: %s.%s is not among its %s %v", f, m[1], m[2], list, names)
			}
			used[m[1]+"."+m[2]] = true
		}
		for _, k := range c.keys {
			if !used["K."+k] {
				t.Errorf("%s: key %s is passed but never used", f, k)
			}
		}
		for _, a := range c.args {
			if !used["A."+a] {
				t.Errorf("%s: argument %s is passed but never used", f, a)
			}
		}
		if xadd.MatchString(src) {
			t.Errorf("%s: writes a stream entry itself; use the library (xaddEntry, enqueue, notice, audit)", f)
		}
	}
	for _, lib := range []struct{ file, writes string }{
		{"lua/lib/entry.lua", "delivery entries"}, {"lua/lib/audit.lua", "audit records"},
	} {
		if n := len(xadd.FindAllString(string(mustLua(lib.file)), -1)); n != 1 {
			t.Errorf("%s: %d XADDs; the one place that writes %s has one", lib.file, n, lib.writes)
		}
	}
}

// xadd finds a command that adds a stream entry, however quoted or cased.
var xadd = regexp.MustCompile(`(?i)['"]xadd['"]`)

// TestEntryCodec: the delivery entry's writer (lua/lib/entry.lua) and reader
// (deliveryFrom) agree: the library writes exactly entryFieldNames, in order,
// and the reader gives each of them its own place in a Delivery.
func TestEntryCodec(t *testing.T) {
	src := string(mustLua("lua/lib/entry.lua"))
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
		base := deliveryFrom(0, redis.XMessage{ID: "1-1", Values: values})
		values[f] = "1"
		if d := deliveryFrom(0, redis.XMessage{ID: "1-1", Values: values}); reflect.DeepEqual(d, base) {
			t.Errorf("the reader ignores the field %s", f)
		}
	}
}
