package blocklist

import (
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"
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
		if strings.Contains(src, "'XADD'") {
			t.Errorf("%s: writes a stream entry itself; use the library (xaddEntry, enqueue, notice, audit)", f)
		}
	}
	for _, lib := range []struct{ file, writes string }{
		{"lua/lib/entry.lua", "delivery entries"}, {"lua/lib/audit.lua", "audit records"},
	} {
		if n := strings.Count(string(mustLua(lib.file)), "'XADD'"); n != 1 {
			t.Errorf("%s: %d XADDs; the one place that writes %s has one", lib.file, n, lib.writes)
		}
	}
}
