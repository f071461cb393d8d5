package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// The store's Lua scripts are files under each package's lua/: each
// script's own file, after the library files it uses (this package's
// lua/lib/), after a prelude generated from
// two Go structs that name its KEYS and ARGV. A script reads K.settings and
// A.channel, never KEYS[1] or ARGV[1] (a list of strings, the last
// argument, is the rest of ARGV); a caller fills the structs, never a
// list by position; and the struct is the one place that says what a script
// takes. Every key a script touches must be a field of its keys struct:
// Redis Cluster wants them all declared (TestScriptsDeclareKeys checks).
//
//go:embed lua/lib
var libFiles embed.FS

// Script is one of the store's scripts, run with the keys K and the
// arguments A. K's fields are strings; A's are strings, integers, booleans
// (sent as "1" or "0") or byte slices. Each field has a `lua:"name"` tag:
// the name the script knows it by.
type Script[K, A any] struct {
	script *redis.Script
}

// NewScript composes the script lua/<name>.lua of files (the calling
// package's embedded lua directory) after the library files lua/lib/<lib>.lua
// of this package, in the order given. It panics on a missing file or a
// struct field without a tag: both are programming errors, found by any test
// that loads the package.
func NewScript[K, A any](files fs.FS, name string, libs ...string) *Script[K, A] {
	own := mustRead(files, "lua/"+name+".lua")
	var b strings.Builder
	b.WriteString("-- " + name + ".lua, composed by blocklist/store/script.go\n")
	b.WriteString(prelude("K", "KEYS", reflect.TypeFor[K]()))
	b.WriteString(prelude("A", "ARGV", reflect.TypeFor[A]()))
	b.WriteString("local AUDIT_MAXLEN = " + strconv.Itoa(auditMaxLen) + "\n")
	for _, lib := range libs {
		b.WriteString(Lib(lib))
	}
	b.WriteString(own)
	composed = append(composed, ComposedScript{
		Name: name, Files: files, Libs: libs, Own: own, Source: b.String(),
		Keys: fieldNames(reflect.TypeFor[K]()), Args: fieldNames(reflect.TypeFor[A]()),
	})
	return &Script[K, A]{script: redis.NewScript(b.String())}
}

// ComposedScript is what NewScript made of a script, for the tests that
// check every script against its structs and the library.
type ComposedScript struct {
	// Name is the script's file name without .lua.
	Name string
	// Files holds the package's lua/ directory the script is from.
	Files fs.FS
	// Libs are the library files it is composed with.
	Libs []string
	// Keys and Args are the names its structs give KEYS and ARGV.
	Keys, Args []string
	// Own is the script's own file; Source the composed script.
	Own, Source string
}

var composed []ComposedScript

// Scripts returns every script made so far by NewScript: those of the
// packages loaded.
func Scripts() []ComposedScript { return slices.Clone(composed) }

// Lib returns the library file lua/lib/<name>.lua.
func Lib(name string) string { return mustRead(libFiles, "lua/lib/"+name+".lua") }

// LibNames returns the names of the library files.
func LibNames() []string {
	files, _ := fs.Glob(libFiles, "lua/lib/*.lua")
	for i, f := range files {
		files[i] = strings.TrimSuffix(strings.TrimPrefix(f, "lua/lib/"), ".lua")
	}
	return files
}

func fieldNames(t reflect.Type) []string {
	out := make([]string, t.NumField())
	for i := range out {
		out[i] = t.Field(i).Tag.Get("lua")
	}
	return out
}

func mustRead(files fs.FS, path string) string {
	src, err := fs.ReadFile(files, path)
	if err != nil {
		panic("store: " + err.Error())
	}
	return string(src)
}

// prelude is the Lua line that names the elements of KEYS or ARGV (list)
// after the fields of t: local K = {settings = KEYS[1], ...}.
func prelude(table, list string, t reflect.Type) string {
	var b strings.Builder
	b.WriteString("local " + table + " = {")
	for i := range t.NumField() {
		name := t.Field(i).Tag.Get("lua")
		if name == "" {
			panic(fmt.Sprintf("store: %s.%s has no lua tag", t.Name(), t.Field(i).Name))
		}
		if i > 0 {
			b.WriteString(", ")
		}
		f := t.Field(i)
		if f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.String {
			// A list of strings, the last field: the rest of the list.
			if i != t.NumField()-1 {
				panic(fmt.Sprintf("store: %s.%s: a list must be the last field", t.Name(), f.Name))
			}
			b.WriteString(name + " = {unpack(" + list + ", " + strconv.Itoa(i+1) + ")}")
			continue
		}
		b.WriteString(name + " = " + list + "[" + strconv.Itoa(i+1) + "]")
	}
	b.WriteString("}\n")
	return b.String()
}

// keys returns k's fields in order: the script's KEYS.
func keyList(k any) []string {
	v := reflect.ValueOf(k)
	out := make([]string, v.NumField())
	for i := range out {
		if v.Field(i).Kind() != reflect.String {
			panic(fmt.Sprintf("store: key %s.%s is not a string", v.Type().Name(), v.Type().Field(i).Name))
		}
		out[i] = v.Field(i).String()
	}
	return out
}

// argList returns a's fields in order: the script's ARGV. A list of strings
// (the last field) gives each of its elements.
func argList(a any) []any {
	v := reflect.ValueOf(a)
	out := make([]any, 0, v.NumField())
	for i := range v.NumField() {
		f := v.Field(i)
		switch {
		case f.Kind() == reflect.Bool:
			out = append(out, BoolFlag(f.Bool()))
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String:
			for j := range f.Len() {
				out = append(out, f.Index(j).String())
			}
		case f.Kind() == reflect.String: // a named string type too
			out = append(out, f.String())
		case f.CanInt():
			out = append(out, f.Int())
		default: // []byte
			out = append(out, f.Interface())
		}
	}
	return out
}

// Run runs the script on rdb, loading it when the server does not have it.
func (s *Script[K, A]) Run(ctx context.Context, rdb redis.Scripter, k K, a A) *redis.Cmd {
	return s.script.Run(ctx, rdb, keyList(k), argList(a)...)
}

// Call is the script with k and a, to be sent in a shared pipeline.
func (s *Script[K, A]) Call(k K, a A) Call {
	return Call{script: s.script, keys: keyList(k), args: argList(a)}
}

// BoolFlag is b as a script takes it: "1" or "0".
func BoolFlag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
