package channels

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
	"golang.org/x/text/cases"
)

// Unambiguous refuses, wrapping ErrMalformed, a body in which one JSON
// object has two members of the same name, or of names that differ only in
// case ("userId" and "UserId"). Readers disagree about such a body — one
// takes the first member, another the last, another the exact match where a
// case-insensitive one would also do (Go's encoding/json, and so the LINE
// SDK) — so whatever hookwall decided on, a proxy, bot or helpdesk reading
// the same bytes could see another contact or event. The whole body is
// refused: a platform never sends one, and keeping part of it would be
// deciding on one of the readings.
//
// The JSON decoder refuses an exact duplicate name itself; a case variant is
// a name whose Unicode case folding another member of the object already
// has. Full folding is deliberately stricter than encoding/json's simple
// folding ("ß" and "ss" are one name here): nothing a reader could take for
// one name passes, and platforms' member names are ASCII.
func Unambiguous(body []byte) error {
	dec := jsontext.NewDecoder(bytes.NewReader(body), jsontext.AllowInvalidUTF8(true))
	var (
		// open holds, per depth of open objects, the names of the object
		// open at that depth (folded → as sent); the maps are reused from
		// one object to the next at the same depth.
		open  []map[string]string
		depth int
		fold  *cases.Caser // made at the first name that is not ASCII
	)
	for {
		tok, err := dec.ReadToken()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		switch tok.Kind() {
		case '{':
			if depth == len(open) {
				open = append(open, map[string]string{})
			} else {
				clear(open[depth])
			}
			depth++
		case '}':
			depth--
		case '"':
			// A string is a member name when it leaves its object with an
			// odd count of names and values.
			if kind, n := dec.StackIndex(dec.StackDepth()); kind != '{' || n%2 == 0 {
				continue
			}
			name := tok.String()
			key := folded(&fold, name)
			names := open[depth-1]
			if first, seen := names[key]; seen {
				where := "the top level"
				if p := dec.StackPointer().Parent(); p != "" {
					where = string(p)
				}
				return fmt.Errorf("%w: members %q and %q differ only in case, at %s", ErrMalformed, first, name, where)
			}
			names[key] = name
		}
	}
}

// folded is name under Unicode case folding; ASCII, nearly every name, is
// folded by lowering it. fold is made on first use.
func folded(fold **cases.Caser, name string) string {
	for i := 0; i < len(name); i++ {
		if name[i] >= utf8.RuneSelf {
			if *fold == nil {
				c := cases.Fold()
				*fold = &c
			}
			return (*fold).String(name)
		}
	}
	return strings.ToLower(name)
}
