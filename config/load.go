package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// fieldError is a problem with one field. Its message is one line:
// "config: [line N: ]path: msg".
type fieldError struct {
	line int    // 0 when unknown
	path string // "channels[1].helpdesk.url"; empty for the file as a whole
	msg  string
}

func (e *fieldError) Error() string {
	var b strings.Builder
	b.WriteString("config: ")
	if e.line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.line)
	}
	if e.path != "" {
		b.WriteString(e.path)
		b.WriteString(": ")
	}
	b.WriteString(e.msg)
	return b.String()
}

func errorf(path, format string, args ...any) error {
	return &fieldError{path: path, msg: fmt.Sprintf(format, args...)}
}

// Load reads, resolves and validates the configuration file at path, taking
// ${NAME} secrets from the process environment.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data, os.LookupEnv)
}

// Parse decodes one YAML document, replaces ${NAME} secrets with
// getenv(NAME), applies the defaults and validates the result. The error, if
// any, is one line naming the offending field.
func Parse(data []byte, getenv func(string) (string, bool)) (*Config, error) {
	if getenv == nil {
		return nil, errors.New("config: nil getenv")
	}
	root, err := parseDocument(data)
	if err != nil {
		return nil, err
	}
	// Check the tree against the schema first: it knows the path of every
	// node, so its messages name the field. The strict decode below is the
	// authority; its messages are only a fallback.
	if err := (&checker{}).node(root, reflect.TypeFor[Config](), ""); err != nil {
		return nil, err
	}
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return nil, yamlError(err)
	}
	if err := cfg.resolveEnv(getenv); err != nil {
		return nil, err
	}
	cfg.applyDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// parseDocument returns the top-level mapping of the only document in data.
func parseDocument(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &fieldError{msg: "the file is empty"}
		}
		return nil, yamlError(err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, yamlError(err)
	default:
		return nil, &fieldError{line: next.Line, msg: "a second YAML document starts here; the file must hold exactly one"}
	}
	root := doc.Content[0]
	for root.Kind == yaml.AliasNode {
		root = root.Alias
	}
	if isNull(root) {
		return nil, &fieldError{line: root.Line, msg: "the file holds no settings"}
	}
	if root.Kind != yaml.MappingNode {
		return nil, &fieldError{line: root.Line, msg: "the top level must be a mapping of settings such as \"listen:\" and \"channels:\", not " + kindName(root)}
	}
	return root, nil
}

// yamlError rewrites an error of the yaml package as one line.
func yamlError(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg := te.Errors[0]
		if n := len(te.Errors) - 1; n > 0 {
			msg += fmt.Sprintf(" (and %d more)", n)
		}
		return errors.New("config: " + msg)
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.ReplaceAll(msg, "\n", " ")
	return errors.New("config: " + msg)
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// checker walks a YAML tree against the Go type it will be decoded into and
// reports, with its line and path, the first unknown or repeated key and the
// first value of the wrong kind. Secret values are never quoted.
type checker struct {
	// done holds the nodes already checked against a type. Aliases make the
	// tree a graph: without it a file of nested aliases or merges could
	// take exponential time, and a merge that includes itself forever.
	done map[checked]bool
}

type checked struct {
	n *yaml.Node
	t reflect.Type
}

func (c *checker) node(n *yaml.Node, t reflect.Type, path string) error {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if c.done == nil {
		c.done = map[checked]bool{}
	}
	k := checked{n, t}
	if c.done[k] {
		return nil
	}
	c.done[k] = true
	if isNull(n) {
		return nil
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return checkLeaf(n, t, path)
	}
	switch t.Kind() {
	case reflect.Pointer:
		return c.node(n, t.Elem(), path)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return &fieldError{line: n.Line, path: path, msg: "must be a mapping, not " + kindName(n)}
		}
		fields := yamlFields(t)
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i], n.Content[i+1]
			if key.Tag == "!!merge" {
				if err := c.merge(val, t, path); err != nil {
					return err
				}
				continue
			}
			name := key.Value
			p := joinPath(path, name)
			if key.Kind != yaml.ScalarNode {
				return &fieldError{line: key.Line, path: path, msg: "keys must be plain names"}
			}
			f, ok := fields[name]
			if !ok {
				msg := "unknown field"
				if s := suggest(name, fields); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				}
				return &fieldError{line: key.Line, path: p, msg: msg}
			}
			if first, dup := seen[name]; dup {
				return &fieldError{line: key.Line, path: p, msg: fmt.Sprintf("set twice (first on line %d)", first)}
			}
			seen[name] = key.Line
			if err := c.node(val, f.Type, p); err != nil {
				return err
			}
		}
		return nil
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return &fieldError{line: n.Line, path: path, msg: "must be a list, not " + kindName(n)}
		}
		for i, item := range n.Content {
			if err := c.node(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	default:
		return checkLeaf(n, t, path)
	}
}

// merge checks the value of a "<<" key: a mapping, an alias of one, or a
// list of them. Keys merged in may be overridden by the mapping itself, so
// they are checked on their own.
func (c *checker) merge(n *yaml.Node, t reflect.Type, path string) error {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.SequenceNode {
		k := checked{n, t}
		if c.done[k] {
			return nil
		}
		c.done[k] = true
		for _, item := range n.Content {
			if err := c.merge(item, t, path); err != nil {
				return err
			}
		}
		return nil
	}
	return c.node(n, t, path)
}

// checkLeaf decodes a scalar into a fresh value of type t to see whether it
// fits.
func checkLeaf(n *yaml.Node, t reflect.Type, path string) error {
	err := n.Decode(reflect.New(t).Interface())
	if err == nil {
		return nil
	}
	var msg string
	var te *yaml.TypeError
	switch {
	case !errors.As(err, &te):
		msg = err.Error() // from an UnmarshalYAML of this package
	case n.Kind != yaml.ScalarNode:
		msg = "must be a single value, not " + kindName(n)
	case t.Kind() == reflect.Bool:
		msg = fmt.Sprintf("must be true or false, got %q", n.Value)
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		msg = fmt.Sprintf("must be an integer, got %q", n.Value)
	default:
		msg = "has the wrong type"
	}
	return &fieldError{line: n.Line, path: path, msg: msg}
}

// yamlFields maps the YAML key of every field of struct type t to it.
func yamlFields(t reflect.Type) map[string]reflect.StructField {
	fields := make(map[string]reflect.StructField, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = f
	}
	return fields
}

// suggest returns the known key closest to an unknown one, if it is close
// enough to be a typo.
func suggest(name string, fields map[string]reflect.StructField) string {
	best, bestDist := "", 3
	for k := range fields {
		if d := editDistance(strings.ToLower(name), k); d < bestDist || (d == bestDist && best != "" && k < best) {
			best, bestDist = k, d
		}
	}
	if bestDist > 2 || bestDist >= len(name) {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	default:
		return "a single value"
	}
}
