package blocklist_test

import (
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"

	_ "github.com/hookwall/hookwall/blocklist" // every part's scripts
	"github.com/hookwall/hookwall/blocklist/store"
)

// TestLuaScripts checks every script of every part of the store against the
// structs that name its keys and arguments and against the library: a
// script reads only the names its structs give (K.x, A.x), never KEYS[n] or
// ARGV[n]; each name its structs give is used; it is composed with every
// library file whose functions it calls; every file in a part's lua/ is a
// script; and only the library writes a delivery stream entry
// (lib/entry.lua) or an audit record (lib/audit.lua), so that every writer
// writes them alike.
func TestLuaScripts(t *testing.T) {
	ref := regexp.MustCompile(`\b([KA])\.([a-z_]+)`)
	// The functions each library file defines, by file.
	defines := map[string][]string{}
	for _, lib := range store.LibNames() {
		src := store.Lib(lib)
		if strings.Contains(src, "KEYS[") || strings.Contains(src, "ARGV[") {
			t.Errorf("lib/%s.lua: a library function reads KEYS or ARGV; pass it what it needs", lib)
		}
		for _, m := range regexp.MustCompile(`(?m)^local function (\w+)`).FindAllStringSubmatch(src, -1) {
			defines[lib] = append(defines[lib], m[1])
		}
	}
	scripts := store.Scripts()
	made := map[fs.FS][]string{}
	for _, c := range scripts {
		made[c.Files] = append(made[c.Files], "lua/"+c.Name+".lua")
		src := c.Own
		f := c.Name + ".lua"
		if strings.Contains(src, "KEYS[") || strings.Contains(src, "ARGV[") {
			t.Errorf("%s: reads KEYS or ARGV by position", f)
		}
		used := map[string]bool{}
		for _, m := range ref.FindAllStringSubmatch(src, -1) {
			names, list := c.Keys, "keys"
			if m[1] == "A" {
				names, list = c.Args, "arguments"
			}
			if !slices.Contains(names, m[2]) {
				t.Errorf("%s: %s.%s is not among its %s %v", f, m[1], m[2], list, names)
			}
			used[m[1]+"."+m[2]] = true
		}
		for _, k := range c.Keys {
			if !used["K."+k] {
				t.Errorf("%s: key %s is passed but never used", f, k)
			}
		}
		for _, a := range c.Args {
			if !used["A."+a] {
				t.Errorf("%s: argument %s is passed but never used", f, a)
			}
		}
		// A call of a library function the script is not composed with, or
		// composed with only after the caller, would fail only when that
		// branch runs: a Lua local is nil before its definition.
		callers := append([]string{}, c.Libs...)
		callers = append(callers, "") // "" is the script's own file
		for i, caller := range callers {
			code := src
			if caller != "" {
				code = store.Lib(caller)
			}
			code = luaComment.ReplaceAllString(code, "")
			for lib, fns := range defines {
				if lib == caller {
					continue
				}
				for _, fn := range fns {
					if !regexp.MustCompile(`\b` + fn + `\(`).MatchString(code) {
						continue
					}
					at := slices.Index(c.Libs, lib)
					who := f
					if caller != "" {
						who = f + " (lib/" + caller + ".lua)"
					}
					switch {
					case at < 0:
						t.Errorf("%s: calls %s of lib/%s.lua but is not composed with it", who, fn, lib)
					case at >= i:
						t.Errorf("%s: calls %s of lib/%s.lua, which is composed after it", who, fn, lib)
					}
				}
			}
		}
		if xadd.MatchString(src) {
			t.Errorf("%s: writes a stream entry itself; use the library (xaddEntry, enqueue, notice, audit)", f)
		}
	}
	if len(made) < 4 {
		t.Errorf("scripts from %d packages; want those of blocks, decision, tickets and queue", len(made))
	}
	for files, names := range made {
		all, err := fs.Glob(files, "lua/*.lua")
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range all {
			if !slices.Contains(names, f) {
				t.Errorf("%s (beside %v): no script is made of it", f, names)
			}
		}
	}
	for _, lib := range []struct{ file, writes string }{
		{"entry", "delivery entries"}, {"audit", "audit records"},
	} {
		if n := len(xadd.FindAllString(store.Lib(lib.file), -1)); n != 1 {
			t.Errorf("lib/%s.lua: %d XADDs; the one place that writes %s has one", lib.file, n, lib.writes)
		}
	}
}

// luaComment is a Lua line comment.
var luaComment = regexp.MustCompile(`--[^\n]*`)

// xadd finds a command that adds a stream entry, however quoted or cased.
var xadd = regexp.MustCompile(`(?i)['"]xadd['"]`)
