package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"maps"
	"math/big"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/hookwall/hookwall/blocklist"
	"github.com/hookwall/hookwall/blocklist/blocks"
	"github.com/hookwall/hookwall/blocklist/queue"
	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/hookwall/hookwall/blocklist/tickets"
	"github.com/hookwall/hookwall/channels"
	"github.com/hookwall/hookwall/gateway"
	"github.com/hookwall/hookwall/internal/redistest"
	"github.com/hookwall/hookwall/internal/testkit"
	"go.yaml.in/yaml/v3"
)

// The OpenAPI test keeps the document (docs/openapi.yaml) and the code in
// step: the routes, the roles, the problem codes, the request and response
// shapes. Every request it makes is checked against the document: the status
// must be declared, and the body must match the declared schema, with no
// undocumented fields.

const openAPIPath = "../docs/openapi.yaml"

const (
	oaAgentToken      = "openapi-agent-token-0123456789"
	oaSupervisorToken = "openapi-supervisor-token-0123456789"
	oaAdminToken      = "openapi-admin-token-0123456789"
)

// oaRoles are the roles, lowest first, with their tokens.
var oaRoles = []struct{ name, token string }{
	{"agent", oaAgentToken},
	{"supervisor", oaSupervisorToken},
	{"admin", oaAdminToken},
}

type oaEnv struct {
	app   *fiber.App
	line  *testkit.Channel // line-main
	store *blocklist.Store
	doc   *oaDoc
}

func newOpenAPIEnv(t *testing.T) *oaEnv {
	t.Helper()
	doc := loadOpenAPI(t)
	srv := redistest.Start(t)
	bl, err := blocklist.New(blocklist.Config{DefaultEnabled: true, Channels: map[string]store.ChannelInfo{
		"line-main": {Type: "fake", DedupeWindow: time.Hour},
		"wa-main":   {Type: "fake", Bot: true, DedupeWindow: time.Hour},
	}}, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := bl.InitSettings(ctx); err != nil {
		t.Fatal(err)
	}
	if err := bl.EnsureQueues(ctx); err != nil {
		t.Fatal(err)
	}
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = io.WriteString(w, "# HELP openapi_test 1\nopenapi_test 1\n")
	})
	line := testkit.NewChannel("line-main", 4096)
	g, err := gateway.New(gateway.Config{
		Tokens: []gateway.Token{
			{Name: "alice", Role: gateway.RoleAgent, Secret: oaAgentToken},
			{Name: "sam", Role: gateway.RoleSupervisor, Secret: oaSupervisorToken},
			{Name: "root", Role: gateway.RoleAdmin, Secret: oaAdminToken},
		},
		Channels: []gateway.ChannelConfig{
			{Adapter: line, BlockedAction: blocks.ActionQueue},
			{Adapter: testkit.NewHandshakeChannel("wa-main", 4096, "verify-me"), BlockedAction: blocks.ActionRecord, Bot: true},
		},
		RequestTimeout: 5 * time.Second,
		// A middleware makes the webhook group register a "use" route, which
		// the route listing must leave out.
		WebhookMiddleware: []fiber.Handler{func(c *fiber.Ctx) error { return c.Next() }},
		Metrics:           metrics,
	}, bl, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return &oaEnv{app: g.App(), line: line, store: bl, doc: doc}
}

func TestOpenAPI(t *testing.T) {
	e := newOpenAPIEnv(t)
	// The probes change nothing in the store; the scenario, which does, runs
	// last.
	t.Run("routes match the document", e.testRoutes)
	t.Run("problem codes match errors.go", e.testProblemCodes)
	t.Run("roles and authentication", e.testRoles)
	t.Run("error responses are problems", e.testErrorResponses)
	t.Run("unknown request fields", e.testUnknownFields)
	t.Run("schemas match the Go types", e.testGoTypes)
	t.Run("answers conform to the document", e.testScenario)
}

// --- the document -----------------------------------------------------------

// oaDoc is the parsed OpenAPI document.
type oaDoc struct {
	root map[string]any
}

func loadOpenAPI(t *testing.T) *oaDoc {
	t.Helper()
	raw, err := os.ReadFile(openAPIPath)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := yaml.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s: %v", openAPIPath, err)
	}
	root, ok := normalizeYAML(v).(map[string]any)
	if !ok {
		t.Fatalf("%s: not a mapping", openAPIPath)
	}
	if v, _ := root["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
		t.Fatalf("%s: openapi is %q, want 3.1.x", openAPIPath, v)
	}
	return &oaDoc{root: root}
}

// normalizeYAML turns YAML's maps into map[string]any and its numbers into
// json.Number, so the document compares with decoded JSON answers.
func normalizeYAML(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, v := range x {
			out[k] = normalizeYAML(v)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, v := range x {
			out[fmt.Sprint(k)] = normalizeYAML(v)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, v := range x {
			out[i] = normalizeYAML(v)
		}
		return out
	case int:
		return json.Number(strconv.Itoa(x))
	case float64:
		return json.Number(strconv.FormatFloat(x, 'g', -1, 64))
	}
	return v
}

// pointer returns the node a local "#/..." reference names, or nil.
func (d *oaDoc) pointer(ref string) any {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil
	}
	var cur any = d.root
	for _, part := range strings.Split(rest, "/") {
		part = strings.NewReplacer("~1", "/", "~0", "~").Replace(part)
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}

// deref follows a chain of $ref (for responses, parameters, request bodies).
func (d *oaDoc) deref(n any) map[string]any {
	for range 16 {
		m, _ := n.(map[string]any)
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		n = d.pointer(ref)
	}
	return nil
}

var oaMethods = []string{"get", "put", "post", "delete", "patch", "head", "options", "trace"}

// operations returns every operation by "METHOD /path".
func (d *oaDoc) operations() map[string]map[string]any {
	out := map[string]map[string]any{}
	paths, _ := d.root["paths"].(map[string]any)
	for p, item := range paths {
		it, _ := item.(map[string]any)
		for _, m := range oaMethods {
			if op, ok := it[m].(map[string]any); ok {
				out[strings.ToUpper(m)+" "+p] = op
			}
		}
	}
	return out
}

func (d *oaDoc) operation(method, path string) map[string]any {
	return d.operations()[method+" "+path]
}

// security is the operation's effective security requirement list.
func (d *oaDoc) security(op map[string]any) []any {
	if s, ok := op["security"]; ok {
		l, _ := s.([]any)
		return l
	}
	l, _ := d.root["security"].([]any)
	return l
}

func (d *oaDoc) needsBearer(op map[string]any) bool {
	for _, req := range d.security(op) {
		if m, ok := req.(map[string]any); ok {
			if _, ok := m["bearerAuth"]; ok {
				return true
			}
		}
	}
	return false
}

// response returns the operation's declared response for status, or nil.
func (d *oaDoc) response(op map[string]any, status int) map[string]any {
	rs, _ := op["responses"].(map[string]any)
	if r, ok := rs[strconv.Itoa(status)]; ok {
		return d.deref(r)
	}
	if r, ok := rs[strconv.Itoa(status/100)+"XX"]; ok {
		return d.deref(r)
	}
	if r, ok := rs["default"]; ok {
		return d.deref(r)
	}
	return nil
}

// requestSchema returns the operation's application/json request schema.
func (d *oaDoc) requestSchema(op map[string]any) (schema any, required, ok bool) {
	rb := d.deref(op["requestBody"])
	if rb == nil {
		return nil, false, false
	}
	content, _ := rb["content"].(map[string]any)
	media, ok := content["application/json"].(map[string]any)
	if !ok {
		return nil, false, false
	}
	req, _ := rb["required"].(bool)
	return media["schema"], req, true
}

// --- routes ----------------------------------------------------------------

type oaRoute struct {
	method string
	fiber  string // Fiber's path, /webhooks/:channel
	path   string // OpenAPI's path, /webhooks/{channel}
}

var fiberParam = regexp.MustCompile(`:([A-Za-z0-9_]+)`)

// routes lists the Fiber app's routes, without the "use" middleware routes
// and the HEAD routes Fiber adds for every GET.
func (e *oaEnv) routes(t *testing.T) []oaRoute {
	t.Helper()
	all := e.app.GetRoutes(true)
	gets := map[string]bool{}
	for _, r := range all {
		if r.Method == fiber.MethodGet {
			gets[r.Path] = true
		}
	}
	seen := map[string]bool{}
	var out []oaRoute
	for _, r := range all {
		if r.Method == fiber.MethodHead && gets[r.Path] {
			continue
		}
		if strings.ContainsAny(r.Path, "*+?") {
			t.Errorf("route %s %s: optional, greedy and wildcard parameters have no OpenAPI form", r.Method, r.Path)
			continue
		}
		rt := oaRoute{method: r.Method, fiber: r.Path, path: fiberParam.ReplaceAllString(r.Path, "{$1}")}
		if k := rt.method + " " + rt.path; !seen[k] {
			seen[k] = true
			out = append(out, rt)
		}
	}
	slices.SortFunc(out, func(a, b oaRoute) int { return strings.Compare(a.path+" "+a.method, b.path+" "+b.method) })
	return out
}

func (e *oaEnv) testRoutes(t *testing.T) {
	routes := e.routes(t)
	inCode := map[string]bool{}
	for _, r := range routes {
		inCode[r.method+" "+r.path] = true
	}
	inDoc := map[string]bool{}
	for k := range e.doc.operations() {
		inDoc[k] = true
	}
	if len(inCode) < 20 {
		t.Fatalf("only %d routes found in the Fiber app; the listing is broken", len(inCode))
	}
	for _, k := range slices.Sorted(maps.Keys(inCode)) {
		if !inDoc[k] {
			t.Errorf("route %s is registered in gateway.go but missing from %s", k, openAPIPath)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(inDoc)) {
		if !inCode[k] {
			t.Errorf("operation %s is in %s but no such route is registered in gateway.go", k, openAPIPath)
		}
	}
}

// --- problem codes -----------------------------------------------------------

// codesInErrorsGo reads every problem code errors.go can produce: the code
// column of the mapping table, fiberCode's answers and classify's fallback.
// The file is parsed rather than the table exported, so that no code changes
// for the test; a change in the file's shape fails loudly.
func codesInErrorsGo(t *testing.T) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "errors.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]string{}
	add := func(e ast.Expr, where string) {
		lit, ok := e.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			t.Errorf("errors.go:%d: %s is not a string literal; update the OpenAPI test", fset.Position(e.Pos()).Line, where)
			return
		}
		s, _ := strconv.Unquote(lit.Value)
		codes[s] = fmt.Sprintf("%s, errors.go:%d", where, fset.Position(lit.Pos()).Line)
	}
	var table, fiberCode, classify bool
	ast.Inspect(f, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.ValueSpec:
			if len(x.Names) != 1 || x.Names[0].Name != "mapping" || len(x.Values) != 1 {
				return true
			}
			lit, ok := x.Values[0].(*ast.CompositeLit)
			if !ok {
				return true
			}
			at, _ := lit.Type.(*ast.ArrayType)
			st, _ := at.Elt.(*ast.StructType)
			if st == nil {
				return true
			}
			idx, i := -1, 0
			for _, fl := range st.Fields.List {
				for _, name := range fl.Names {
					if name.Name == "code" {
						idx = i
					}
					i++
				}
			}
			for _, el := range lit.Elts {
				row, ok := el.(*ast.CompositeLit)
				if !ok {
					continue
				}
				for j, v := range row.Elts {
					if kv, ok := v.(*ast.KeyValueExpr); ok {
						if id, _ := kv.Key.(*ast.Ident); id != nil && id.Name == "code" {
							add(kv.Value, "mapping")
						}
					} else if j == idx {
						add(v, "mapping")
					}
				}
				table = true
			}
		case *ast.FuncDecl:
			name := x.Name.Name
			if name != "fiberCode" && name != "classify" {
				return true
			}
			ast.Inspect(x.Body, func(n ast.Node) bool {
				ret, ok := n.(*ast.ReturnStmt)
				if !ok {
					return true
				}
				switch {
				case name == "fiberCode" && len(ret.Results) == 1:
					if _, ok := ret.Results[0].(*ast.BasicLit); ok {
						add(ret.Results[0], "fiberCode")
						fiberCode = true
					}
				case name == "classify" && len(ret.Results) == 3:
					if _, ok := ret.Results[1].(*ast.BasicLit); ok {
						add(ret.Results[1], "classify")
						classify = true
					}
				}
				return true
			})
			return false
		}
		return true
	})
	if !table || !fiberCode || !classify {
		t.Fatalf("errors.go changed shape (mapping table found: %v, fiberCode: %v, classify fallback: %v); update the OpenAPI test", table, fiberCode, classify)
	}
	return codes
}

// problemEnum returns the Problem schema's code enum.
func (d *oaDoc) problemEnum(t *testing.T) map[string]bool {
	t.Helper()
	p := d.deref(d.pointer("#/components/schemas/Problem"))
	props, _ := p["properties"].(map[string]any)
	code, _ := props["code"].(map[string]any)
	enum, _ := code["enum"].([]any)
	if len(enum) == 0 {
		t.Fatal("components.schemas.Problem.properties.code has no enum")
	}
	req, _ := p["required"].([]any)
	if !slices.Contains(req, any("code")) {
		t.Error("components.schemas.Problem does not require code")
	}
	out := map[string]bool{}
	for _, v := range enum {
		out[fmt.Sprint(v)] = true
	}
	return out
}

func (e *oaEnv) testProblemCodes(t *testing.T) {
	codes := codesInErrorsGo(t)
	enum := e.doc.problemEnum(t)
	for _, c := range slices.Sorted(maps.Keys(codes)) {
		if !enum[c] {
			t.Errorf("problem code %q (%s) is missing from the Problem code enum", c, codes[c])
		}
	}
	for _, c := range slices.Sorted(maps.Keys(enum)) {
		if _, ok := codes[c]; !ok {
			t.Errorf("the Problem code enum lists %q, which errors.go never produces", c)
		}
	}
	// The codes the responses narrow to must be codes of the enum.
	for _, c := range e.doc.narrowedCodes() {
		if !enum[c] {
			t.Errorf("a response narrows code to %q, which is not in the Problem code enum", c)
		}
	}
}

// narrowedCodes collects every const or enum value given to a "code" property
// anywhere in the document besides the Problem schema itself.
func (d *oaDoc) narrowedCodes() []string {
	var out []string
	problem := d.pointer("#/components/schemas/Problem")
	var walk func(n any)
	walk = func(n any) {
		switch x := n.(type) {
		case map[string]any:
			if reflect.ValueOf(x).Pointer() == reflect.ValueOf(problem).Pointer() {
				return
			}
			if props, ok := x["properties"].(map[string]any); ok {
				if code, ok := props["code"].(map[string]any); ok {
					if c, ok := code["const"]; ok {
						out = append(out, fmt.Sprint(c))
					}
					if l, ok := code["enum"].([]any); ok {
						for _, c := range l {
							out = append(out, fmt.Sprint(c))
						}
					}
				}
			}
			for _, v := range x {
				walk(v)
			}
		case []any:
			for _, v := range x {
				walk(v)
			}
		}
	}
	walk(d.root)
	return out
}

// --- roles -------------------------------------------------------------------

// probeCall fills a route's parameters with values that make every handler
// stop before it changes anything: an unknown channel, a malformed id.
func probeCall(r oaRoute, token string) oaCall {
	return oaCall{
		method: r.method, path: r.path, token: token,
		params: map[string]string{"channel": "no-such-channel", "contact": "U-probe", "id": "x"},
	}
}

func (e *oaEnv) testRoles(t *testing.T) {
	for _, r := range e.routes(t) {
		t.Run(r.method+" "+r.path, func(t *testing.T) {
			op := e.doc.operation(r.method, r.path)
			if op == nil {
				t.Errorf("not in the document (see the routes test)")
				return
			}
			role, _ := op["x-hookwall-role"].(string)
			desc, _ := op["description"].(string)
			anon := e.do(t, probeCall(r, ""))
			if anon.status != http.StatusUnauthorized {
				// An open route: webhooks (signed) and operations.
				if e.doc.needsBearer(op) {
					t.Errorf("answers %d without a token, but the document requires bearerAuth; give it `security: []`", anon.status)
				}
				if role != "" {
					t.Errorf("is open, but the document gives it x-hookwall-role %q", role)
				}
				return
			}
			if anon.code() != "unauthenticated" {
				t.Errorf("401 without a token has code %q, want unauthenticated", anon.code())
			}
			if bad := e.do(t, probeCall(r, "not-a-token")); bad.status != http.StatusUnauthorized {
				t.Errorf("an unknown token got %d, want 401", bad.status)
			}
			least := ""
			for _, ro := range oaRoles {
				res := e.do(t, probeCall(r, ro.token))
				refused := res.status == http.StatusForbidden && res.code() == "forbidden"
				switch {
				case refused && least != "":
					t.Errorf("role %s is refused although the lower role %s is admitted", ro.name, least)
				case !refused && least == "":
					least = ro.name
				}
			}
			if least == "" {
				t.Fatalf("no role is admitted")
			}
			if role != least {
				t.Errorf("x-hookwall-role is %q; the code admits %q and above", role, least)
			}
			if want := "Minimum role: " + least + "."; !strings.Contains(desc, want) {
				t.Errorf("description does not say %q", want)
			}
			if !e.doc.needsBearer(op) {
				t.Errorf("the route needs a bearer token, but the operation does not require bearerAuth")
			}
			for _, st := range []int{http.StatusUnauthorized, http.StatusForbidden} {
				if e.doc.response(op, st) == nil {
					t.Errorf("declares no %d response", st)
				}
			}
		})
	}
}

// --- error responses ----------------------------------------------------------

// isProblem reports whether a schema is the Problem schema or narrows it.
func (d *oaDoc) isProblem(s any, depth int) bool {
	m, _ := s.(map[string]any)
	if m == nil || depth > 8 {
		return false
	}
	if ref, ok := m["$ref"].(string); ok {
		return ref == "#/components/schemas/Problem" || d.isProblem(d.pointer(ref), depth+1)
	}
	for _, b := range asList(m["allOf"]) {
		if d.isProblem(b, depth+1) {
			return true
		}
	}
	return false
}

func (e *oaEnv) testErrorResponses(t *testing.T) {
	ops := e.doc.operations()
	for _, k := range slices.Sorted(maps.Keys(ops)) {
		op := ops[k]
		rs, _ := op["responses"].(map[string]any)
		for _, st := range slices.Sorted(maps.Keys(rs)) {
			n, err := strconv.Atoi(st)
			if err != nil || n < 400 {
				continue
			}
			r := e.doc.deref(rs[st])
			content, _ := r["content"].(map[string]any)
			media, _ := content["application/problem+json"].(map[string]any)
			if media == nil {
				t.Errorf("%s: response %s has no application/problem+json content", k, st)
				continue
			}
			if !e.doc.isProblem(media["schema"], 0) {
				t.Errorf("%s: response %s: the application/problem+json schema is not the Problem schema", k, st)
			}
			if d, _ := r["description"].(string); d == "" {
				t.Errorf("%s: response %s has no description", k, st)
			}
		}
		path := k[strings.IndexByte(k, ' ')+1:]
		if strings.Contains(path, "{channel}") && e.doc.response(op, http.StatusNotFound) == nil {
			t.Errorf("%s: takes a channel but declares no 404 (unknown_channel)", k)
		}
		if strings.Contains(path, "{contact}") && e.doc.response(op, http.StatusBadRequest) == nil {
			t.Errorf("%s: takes a contact but declares no 400 (invalid_request)", k)
		}
		if _, _, ok := e.doc.requestSchema(op); ok && e.doc.response(op, http.StatusBadRequest) == nil {
			t.Errorf("%s: takes a body but declares no 400", k)
		}
		for _, p := range asList(op["parameters"]) {
			if pm := e.doc.deref(p); pm["name"] == "limit" && e.doc.response(op, http.StatusBadRequest) == nil {
				t.Errorf("%s: takes limit but declares no 400 (invalid_request)", k)
			}
		}
	}
}

// --- request bodies -------------------------------------------------------------

// testUnknownFields checks additionalProperties against the server: a body
// with an unknown field is refused (400) exactly where the schema says
// additionalProperties: false.
func (e *oaEnv) testUnknownFields(t *testing.T) {
	ops := e.doc.operations()
	for _, k := range slices.Sorted(maps.Keys(ops)) {
		op := ops[k]
		schema, _, ok := e.doc.requestSchema(op)
		if !ok || !e.doc.needsBearer(op) {
			continue // webhooks carry the platform's own bodies
		}
		method, path, _ := strings.Cut(k, " ")
		t.Run(k, func(t *testing.T) {
			closed := false
			if m := e.doc.deref(schema); m != nil {
				closed = m["additionalProperties"] == false
			}
			res := e.do(t, oaCall{
				method: method, path: path, token: oaAdminToken, body: `{"x_openapi_unknown_field": 1}`,
				params: map[string]string{"channel": "line-main", "contact": "U-strict", "id": "x"},
			})
			refused := res.status == http.StatusBadRequest && strings.Contains(res.detail(), "unknown field")
			switch {
			case closed && !refused:
				t.Errorf("the schema refuses unknown fields, but the server answered %d: %s", res.status, res.raw)
			case !closed && refused:
				t.Errorf("the server refuses unknown fields; the schema should say additionalProperties: false")
			}
			if errs := e.doc.validate(schema, map[string]any{"x_openapi_unknown_field": json.Number("1")}, "body"); closed && len(errs) == 0 {
				t.Errorf("the schema says additionalProperties: false but accepts an unknown field")
			}
		})
	}
}

// --- Go types ---------------------------------------------------------------------

// jsonFields returns a struct's JSON field names and whether each is omitempty.
func jsonFields(typ reflect.Type) map[string]bool {
	out := map[string]bool{}
	for f := range typ.Fields() {
		if f.Anonymous && f.Tag.Get("json") == "" && f.Type.Kind() == reflect.Struct {
			maps.Copy(out, jsonFields(f.Type)) // an embedded struct's fields are the outer one's
			continue
		}
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		out[name] = strings.Contains(","+opts+",", ",omitempty,")
	}
	return out
}

func (e *oaEnv) testGoTypes(t *testing.T) {
	tests := []struct {
		schema string
		typ    any
		// absent are Go fields the schema leaves out on purpose.
		absent []string
	}{
		{"BlockEntry", blocks.Entry{}, nil},
		{"AuditRecord", blocks.AuditRecord{}, nil},
		{"RecentContact", blocks.RecentContact{}, nil},
		{"Ticket", tickets.Ticket{}, nil},
		{"TicketWithMessages", tickets.TicketDetail{}, nil},
		{"Conversation", tickets.Conversation{}, nil},
		{"DeadLetter", queue.DeadLetter{}, nil},
		{"Delivery", store.Delivery{}, nil},
		{"UnblockResult", blocks.UnblockResult{}, nil},
		{"Release", tickets.Release{}, nil},
		{"Counts", gateway.Counts{}, nil},
		{"Message", channels.Message{}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.schema, func(t *testing.T) {
			s := e.doc.deref(e.doc.pointer("#/components/schemas/" + tc.schema))
			if s == nil {
				t.Fatalf("components.schemas.%s is missing", tc.schema)
			}
			props, _ := s["properties"].(map[string]any)
			required := map[string]bool{}
			for _, r := range asList(s["required"]) {
				required[fmt.Sprint(r)] = true
			}
			fields := jsonFields(reflect.TypeOf(tc.typ))
			goName := reflect.TypeOf(tc.typ).String()
			for _, f := range slices.Sorted(maps.Keys(fields)) {
				_, documented := props[f]
				switch {
				case slices.Contains(tc.absent, f):
					if documented {
						t.Errorf("property %q is documented although the test says it is left out", f)
					}
				case !documented:
					t.Errorf("%s sends %q, which the schema does not document", goName, f)
				case !fields[f] && !required[f]:
					t.Errorf("%s always sends %q (no omitempty); list it in required", goName, f)
				}
			}
			for _, p := range slices.Sorted(maps.Keys(props)) {
				if _, ok := fields[p]; !ok {
					t.Errorf("the schema documents %q, which %s has no JSON field for", p, goName)
				}
			}
			for _, r := range slices.Sorted(maps.Keys(required)) {
				if _, ok := props[r]; !ok {
					t.Errorf("required %q is not among the properties", r)
				}
			}
		})
	}
}

// --- requests and conformance ----------------------------------------------------

type oaCall struct {
	method string
	path   string            // the OpenAPI path template
	params map[string]string // path parameters, unescaped
	query  string
	token  string
	body   string
	header map[string]string
}

type oaResp struct {
	status int
	ct     string
	raw    string
	body   map[string]any
}

func (r oaResp) code() string   { s, _ := r.body["code"].(string); return s }
func (r oaResp) detail() string { s, _ := r.body["detail"].(string); return s }
func (r oaResp) str(k string) string {
	s, _ := r.body[k].(string)
	return s
}
func (r oaResp) num(k string) int {
	n, _ := r.body[k].(json.Number)
	i, _ := strconv.Atoi(string(n))
	return i
}
func (r oaResp) items() []any { l, _ := r.body["items"].([]any); return l }

// do sends one request to the app and checks the answer against the
// document: the status must be declared for the operation, the content type
// too, and a JSON body must match the schema without undocumented fields. A
// body the server accepted must match the request schema.
func (e *oaEnv) do(t *testing.T, c oaCall) oaResp {
	t.Helper()
	target := c.path
	for k, v := range c.params {
		target = strings.ReplaceAll(target, "{"+k+"}", url.PathEscape(v))
	}
	if strings.ContainsAny(target, "{}") {
		t.Fatalf("%s %s: path parameters left unfilled", c.method, target)
	}
	if c.query != "" {
		target += "?" + c.query
	}
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req := httptest.NewRequest(c.method, target, body)
	if c.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	res, err := e.app.Test(req, -1)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, target, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := oaResp{status: res.StatusCode, ct: res.Header.Get("Content-Type"), raw: string(raw)}
	if mt, _, _ := mime.ParseMediaType(r.ct); strings.HasSuffix(mt, "json") {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Errorf("%s %s: %d answer is not JSON: %v: %s", c.method, target, r.status, err, raw)
		}
		r.body, _ = v.(map[string]any)
		e.conform(t, c, r, v)
	} else {
		e.conform(t, c, r, nil)
	}
	return r
}

func (e *oaEnv) conform(t *testing.T, c oaCall, r oaResp, v any) {
	t.Helper()
	where := fmt.Sprintf("%s %s answered %d", c.method, c.path, r.status)
	op := e.doc.operation(c.method, c.path)
	if op == nil {
		t.Errorf("%s: the document has no such operation", where)
		return
	}
	if c.body != "" && r.status < 300 && !strings.HasPrefix(c.path, "/webhooks/") {
		schema, _, ok := e.doc.requestSchema(op)
		if !ok {
			t.Errorf("%s to a body, but the document declares no application/json request body", where)
		} else {
			dec := json.NewDecoder(strings.NewReader(c.body))
			dec.UseNumber()
			var in any
			if err := dec.Decode(&in); err == nil {
				for _, msg := range e.doc.validate(schema, in, "request") {
					t.Errorf("%s to a body the document refuses: %s", where, msg)
				}
			}
		}
	}
	if c.body == "" && r.status < 300 {
		if _, required, ok := e.doc.requestSchema(op); ok && required {
			t.Errorf("%s without a body, but the document marks the request body required", where)
		}
	}
	resp := e.doc.response(op, r.status)
	if resp == nil {
		t.Errorf("%s, which the document does not declare: %s", where, r.raw)
		return
	}
	content, _ := resp["content"].(map[string]any)
	if r.raw == "" {
		if len(content) != 0 {
			t.Errorf("%s with no body, but the document declares content", where)
		}
		return
	}
	mt, _, err := mime.ParseMediaType(r.ct)
	if err != nil {
		t.Errorf("%s with content type %q: %v", where, r.ct, err)
		return
	}
	media, ok := content[mt].(map[string]any)
	if !ok {
		t.Errorf("%s with %s, which the document does not declare for %d (it has %v)", where, mt, r.status, slices.Sorted(maps.Keys(content)))
		return
	}
	if v == nil {
		return
	}
	for _, msg := range e.doc.validate(media["schema"], v, "body") {
		t.Errorf("%s: %s\n\tbody: %s", where, msg, r.raw)
	}
}

// expect is do, requiring the status.
func (e *oaEnv) expect(t *testing.T, c oaCall, status int) oaResp {
	t.Helper()
	r := e.do(t, c)
	if r.status != status {
		t.Fatalf("%s %s (%v %s): got %d %s, want %d", c.method, c.path, c.params, c.query, r.status, r.raw, status)
	}
	return r
}

// oaEvents is a fake webhook body: one text message per (event id, contact).
func oaEvents(t *testing.T, pairs ...[2]string) string {
	t.Helper()
	evs := make([]channels.Event, len(pairs))
	for i, p := range pairs {
		evs[i] = channels.Event{
			ID: p[0], Contact: p[1], Type: "message", Timestamp: time.Now().UTC(),
			Message: &channels.Message{ID: "m-" + p[0], Type: "text", Text: "hello"},
			Raw:     json.RawMessage(`{"fake":true}`),
		}
	}
	b, err := json.Marshal(evs)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (e *oaEnv) testScenario(t *testing.T) {
	const (
		hook       = "/webhooks/{channel}"
		settings   = "/admin/v1/settings"
		status     = "/admin/v1/channels/{channel}/contacts/{contact}"
		block      = "/admin/v1/channels/{channel}/contacts/{contact}/block"
		unblock    = "/admin/v1/channels/{channel}/contacts/{contact}/unblock"
		conv       = "/admin/v1/channels/{channel}/contacts/{contact}/conversation"
		blocked    = "/admin/v1/blocked-contacts"
		tickets    = "/admin/v1/blocked-tickets"
		ticket     = "/admin/v1/blocked-tickets/{id}"
		release    = "/admin/v1/blocked-tickets/{id}/unblock"
		audit      = "/admin/v1/audit"
		me         = "/admin/v1/me"
		chans      = "/admin/v1/channels"
		recent     = "/admin/v1/contacts"
		deadLetter = "/admin/v1/dead-letters"
		retry      = "/admin/v1/dead-letters/{id}/retry"
		reply      = "/v1/channels/{channel}/contacts/{contact}/messages"
		get        = http.MethodGet
		post       = http.MethodPost
		put        = http.MethodPut
		del        = http.MethodDelete
	)
	line := map[string]string{"channel": "line-main"}
	on := func(contact string) map[string]string {
		return map[string]string{"channel": "line-main", "contact": contact}
	}
	id := func(v string) map[string]string { return map[string]string{"id": v} }
	signed := map[string]string{"X-Fake-Signature": "good"}
	const ag, sv, ad = oaAgentToken, oaSupervisorToken, oaAdminToken

	// Operations.
	e.expect(t, oaCall{method: get, path: "/healthz"}, 200)
	e.expect(t, oaCall{method: get, path: "/readyz"}, 200)
	e.expect(t, oaCall{method: get, path: "/metrics"}, 200)

	// Webhooks.
	e.expect(t, oaCall{method: post, path: hook, params: line, body: oaEvents(t, [2]string{"e0", "U-a"})}, 401)
	e.expect(t, oaCall{method: post, path: hook, params: line, body: "{not json", header: signed}, 400)
	e.expect(t, oaCall{method: post, path: hook, params: map[string]string{"channel": "nope"}, body: "[]", header: signed}, 404)
	e.expect(t, oaCall{method: post, path: hook, params: line, body: strings.Repeat(" ", 5000), header: signed}, 413)
	// A contact the blocklist cannot key does not refuse the request: the
	// event is forwarded without one.
	if r := e.expect(t, oaCall{method: post, path: hook, params: line, body: oaEvents(t, [2]string{"e0", strings.Repeat("U", 300)}), header: signed}, 200); r.num("forwarded") != 1 {
		t.Errorf("counts %s, want 1 forwarded", r.raw)
	}
	e.expect(t, oaCall{method: post, path: hook, params: line, body: "[]", header: signed}, 200)
	first := oaEvents(t, [2]string{"e1", "U-a"}, [2]string{"e2", "U-dl"})
	if r := e.expect(t, oaCall{method: post, path: hook, params: line, body: first, header: signed}, 200); r.num("forwarded") != 2 {
		t.Errorf("counts %s, want 2 forwarded", r.raw)
	}
	if r := e.expect(t, oaCall{method: post, path: hook, params: line, body: first, header: signed}, 200); r.num("duplicates") != 2 {
		t.Errorf("counts %s, want 2 duplicates", r.raw)
	}
	wa := map[string]string{"channel": "wa-main"}
	if r := e.expect(t, oaCall{method: get, path: hook, params: wa, query: "hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=c123"}, 200); r.raw != "c123" {
		t.Errorf("handshake answered %q, want the challenge", r.raw)
	}
	e.expect(t, oaCall{method: get, path: hook, params: wa, query: "hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=c123"}, 403)
	e.expect(t, oaCall{method: get, path: hook, params: line}, 405)
	e.expect(t, oaCall{method: get, path: hook, params: map[string]string{"channel": "nope"}}, 404)

	// Settings.
	e.expect(t, oaCall{method: get, path: settings, token: ag}, 200)
	e.expect(t, oaCall{method: put, path: settings, token: ad, body: `{"block_contact_enabled": true}`}, 200)
	e.expect(t, oaCall{method: put, path: settings, token: ad, body: `{}`}, 400)
	e.expect(t, oaCall{method: put, path: settings, token: ad, body: `{"block_contact_enabled": "yes"}`}, 400)
	e.expect(t, oaCall{method: put, path: settings, token: sv, body: `{"block_contact_enabled": true}`}, 403)

	// Blocking.
	expires := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	r := e.expect(t, oaCall{method: post, path: block, params: on("U-q"), token: ag,
		body: `{"note": "abusive language", "action": "queue", "expires_at": "` + expires + `"}`}, 200)
	if r.str("expires_at") == "" || r.str("blocked_by") != "alice" {
		t.Errorf("block entry %s lacks expires_at or blocked_by", r.raw)
	}
	e.expect(t, oaCall{method: post, path: block, params: on("U/r"), token: ag, body: `{"action": "record"}`}, 200)
	e.expect(t, oaCall{method: post, path: block, params: on("U-x"), token: ag, body: `{"action": "ban"}`}, 400)
	e.expect(t, oaCall{method: post, path: block, params: on("U-x"), token: ag, body: `{"note": 1}`}, 400)
	e.expect(t, oaCall{method: post, path: block, params: on("U-x"), token: ag, body: `{"expires_at": "2001-01-01T00:00:00Z"}`}, 400)
	e.expect(t, oaCall{method: post, path: block, params: on(strings.Repeat("U", 300)), token: ag}, 400)
	e.expect(t, oaCall{method: post, path: block, params: map[string]string{"channel": "nope", "contact": "U-x"}, token: ag}, 404)
	if r := e.expect(t, oaCall{method: get, path: status, params: on("U-q"), token: ag}, 200); r.body["blocked"] != true {
		t.Errorf("status %s, want blocked", r.raw)
	}
	if r := e.expect(t, oaCall{method: get, path: status, params: on("U/r"), token: ag}, 200); r.str("contact") != "U/r" {
		t.Errorf("status %s, want the percent-decoded contact U/r", r.raw)
	}
	if r := e.expect(t, oaCall{method: get, path: status, params: on("U-a"), token: ag}, 200); r.body["block"] != nil {
		t.Errorf("status %s, want block null", r.raw)
	}

	// Queued and recorded events.
	r = e.expect(t, oaCall{method: post, path: hook, params: line, header: signed,
		body: oaEvents(t, [2]string{"e3", "U-q"}, [2]string{"e4", "U/r"})}, 200)
	if r.num("queued") != 1 || r.num("recorded") != 1 {
		t.Errorf("counts %s, want 1 queued and 1 recorded", r.raw)
	}
	e.expect(t, oaCall{method: get, path: conv, params: on("U-a"), token: ag}, 200)
	e.expect(t, oaCall{method: get, path: conv, params: on("U-none"), token: ag}, 404)

	// The Blocked tab.
	r = e.expect(t, oaCall{method: get, path: blocked, token: ag, query: "limit=1"}, 200)
	if len(r.items()) != 1 || r.str("next_cursor") == "" {
		t.Fatalf("first page %s, want one item and a cursor", r.raw)
	}
	r = e.expect(t, oaCall{method: get, path: blocked, token: ag, query: "limit=1&cursor=" + url.QueryEscape(r.str("next_cursor"))}, 200)
	if len(r.items()) != 1 {
		t.Errorf("second page %s, want one item", r.raw)
	}
	e.expect(t, oaCall{method: get, path: blocked, token: ag, query: "channel=line-main"}, 200)
	e.expect(t, oaCall{method: get, path: blocked, token: ag, query: "limit=0"}, 400)
	e.expect(t, oaCall{method: get, path: blocked, token: ag, query: "limit=501"}, 400)
	e.expect(t, oaCall{method: get, path: blocked, token: ag, query: "cursor=%21%21"}, 400)
	e.expect(t, oaCall{method: get, path: blocked, token: ag, query: "channel=nope"}, 404)

	// Who the token is, the channels, who wrote lately.
	for _, tok := range []string{ag, sv, ad} {
		e.expect(t, oaCall{method: get, path: me, token: tok}, 200)
	}
	if r := e.expect(t, oaCall{method: get, path: chans, token: ag}, 200); len(r.items()) != 2 {
		t.Errorf("channels %s, want two", r.raw)
	}
	e.expectSecondPage(t, recent, ag)
	e.expect(t, oaCall{method: get, path: recent, token: ag, query: "channel=line-main"}, 200)
	e.expect(t, oaCall{method: get, path: recent, token: ag, query: "limit=0"}, 400)
	e.expect(t, oaCall{method: get, path: recent, token: ag, query: "cursor=%21%21"}, 400)
	e.expect(t, oaCall{method: get, path: recent, token: ag, query: "channel=nope"}, 404)

	// Blocked tickets: release, delete.
	e.expect(t, oaCall{method: get, path: tickets, token: ag}, 403)
	r = e.expect(t, oaCall{method: get, path: tickets, token: sv}, 200)
	if len(r.items()) != 1 {
		t.Fatalf("tickets %s, want one", r.raw)
	}
	tid, _ := r.items()[0].(map[string]any)["id"].(string)
	e.expect(t, oaCall{method: get, path: tickets, token: sv, query: "cursor=bad"}, 400)
	e.expect(t, oaCall{method: get, path: ticket, params: id(tid), token: sv}, 200)
	if r := e.expect(t, oaCall{method: post, path: release, params: id(tid), token: sv, body: `{}`}, 200); r.str("routed_to") != "unassigned" || r.num("messages") != 1 {
		t.Errorf("release %s, want 1 message routed to unassigned", r.raw)
	}
	e.expect(t, oaCall{method: get, path: ticket, params: id(tid), token: sv}, 404)
	e.expect(t, oaCall{method: post, path: release, params: id(tid), token: sv}, 404)
	e.expect(t, oaCall{method: post, path: hook, params: line, header: signed, body: oaEvents(t, [2]string{"e5", "U-q"})}, 200)
	r = e.expect(t, oaCall{method: get, path: tickets, token: sv, query: "channel=line-main&limit=10"}, 200)
	if len(r.items()) != 1 {
		t.Fatalf("tickets %s, want one", r.raw)
	}
	tid, _ = r.items()[0].(map[string]any)["id"].(string)
	e.expect(t, oaCall{method: del, path: ticket, params: id(tid), token: sv}, 204)
	e.expect(t, oaCall{method: del, path: ticket, params: id(tid), token: sv}, 404)

	// Unblocking.
	e.expect(t, oaCall{method: post, path: hook, params: line, header: signed, body: oaEvents(t, [2]string{"e6", "U-q"})}, 200)
	// Releasing or deleting the tickets is the supervisors': an agent who
	// asks, or whose default unblock would release the open ticket, is
	// refused.
	if r := e.expect(t, oaCall{method: post, path: unblock, params: on("U-q"), token: ag, body: `{"tickets": "release"}`}, 403); r.code() != "forbidden" {
		t.Errorf("agent's Unblock All: code %q, want forbidden", r.code())
	}
	e.expect(t, oaCall{method: post, path: unblock, params: on("U-q"), token: ag}, 403)
	r = e.expect(t, oaCall{method: post, path: unblock, params: on("U-q"), token: sv, body: `{"tickets": "release"}`}, 200)
	if r.body["unblocked"] != true || r.num("released") != 1 {
		t.Errorf("unblock %s, want unblocked and 1 released", r.raw)
	}
	if r := e.expect(t, oaCall{method: post, path: unblock, params: on("U-q"), token: ag}, 200); r.body["unblocked"] != false {
		t.Errorf("second unblock %s, want unblocked false", r.raw)
	}
	e.expect(t, oaCall{method: post, path: unblock, params: on("U-q"), token: ag, body: `{"tickets": "keep"}`}, 400)

	// Replies.
	if r := e.expect(t, oaCall{method: post, path: reply, params: on("U-a"), token: ag, body: `{"text": "hello"}`}, 202); r.str("id") == "" {
		t.Errorf("reply %s, want an id", r.raw)
	}
	if r := e.expect(t, oaCall{method: post, path: reply, params: on("U/r"), token: ag, body: `{"text": "hello"}`}, 403); r.code() != "contact_blocked" {
		t.Errorf("reply to a blocked contact: code %q, want contact_blocked", r.code())
	}
	e.expect(t, oaCall{method: post, path: reply, params: on("U-a"), token: ag, body: `{"text": ""}`}, 400)
	e.expect(t, oaCall{method: post, path: reply, params: on("U-a"), token: ag}, 400)
	e.line.FailSend(fmt.Errorf("the platform refused: %w", channels.ErrPlatform))
	e.expect(t, oaCall{method: post, path: reply, params: on("U-a"), token: ag, body: `{"text": "hello"}`}, 502)
	e.line.FailSend(nil)
	e.expect(t, oaCall{method: post, path: reply, params: map[string]string{"channel": "nope", "contact": "U-a"}, token: ag, body: `{"text": "hello"}`}, 404)

	// The feature switched off.
	e.expect(t, oaCall{method: put, path: settings, token: ad, body: `{"block_contact_enabled": false}`}, 200)
	e.expect(t, oaCall{method: post, path: block, params: on("U-y"), token: ag}, 409)
	if r := e.expect(t, oaCall{method: get, path: status, params: on("U/r"), token: ag}, 200); r.body["enforced"] != false {
		t.Errorf("status %s, want enforced false", r.raw)
	}
	e.expect(t, oaCall{method: put, path: settings, token: ad, body: `{"block_contact_enabled": true}`}, 200)

	// Dead letters: park U-dl's forwarded message as the deliverer would.
	e.park(t, "line-main", "U-dl")
	r = e.expect(t, oaCall{method: get, path: deadLetter, token: ad, query: "limit=10"}, 200)
	if len(r.items()) != 1 {
		t.Fatalf("dead letters %s, want one", r.raw)
	}
	dl, _ := r.items()[0].(map[string]any)["id"].(string)
	e.expect(t, oaCall{method: get, path: deadLetter, token: sv}, 403)
	e.expect(t, oaCall{method: get, path: deadLetter, token: ad, query: "cursor=%21%21"}, 400)
	e.expect(t, oaCall{method: post, path: block, params: on("U-dl"), token: ag}, 200)
	if r := e.expect(t, oaCall{method: post, path: retry, params: id(dl), token: ad}, 409); r.code() != "contact_blocked" {
		t.Errorf("retry for a blocked contact: code %q, want contact_blocked", r.code())
	}
	e.expect(t, oaCall{method: post, path: unblock, params: on("U-dl"), token: sv, body: `{"tickets": "delete"}`}, 200)
	if r := e.expect(t, oaCall{method: post, path: retry, params: id(dl), token: ad}, 202); r.str("status") != "queued" {
		t.Errorf("retry %s, want status queued", r.raw)
	}
	e.expect(t, oaCall{method: post, path: retry, params: id(dl), token: ad}, 404)

	// The audit trail.
	if r := e.expect(t, oaCall{method: get, path: audit, token: ad}, 200); len(r.items()) == 0 {
		t.Errorf("audit %s, want records", r.raw)
	}
	e.expectSecondPage(t, audit, ad)
	e.expect(t, oaCall{method: get, path: audit, token: ad, query: "cursor=%21%21"}, 400)
	e.expect(t, oaCall{method: get, path: audit, token: ad, query: "limit=x"}, 400)
	e.expect(t, oaCall{method: get, path: audit, token: sv}, 403)
}

// park moves the contact's forwarded message from its delivery shard to the
// dead letters, as the deliverer does after the retry budget.
func (e *oaEnv) park(t *testing.T, channel, contact string) {
	t.Helper()
	ctx := context.Background()
	const owner = "openapi-test"
	shard := store.BucketOf(channel, contact)
	if ok, err := e.store.AcquireLease(ctx, shard, owner, time.Minute); err != nil || !ok {
		t.Fatalf("lease: %v %v", ok, err)
	}
	defer func() { _ = e.store.ReleaseLease(ctx, shard, owner) }()
	ds, _, err := e.store.ReadShard(ctx, shard, owner, 1000, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.Channel == channel && d.Contact == contact && d.Type == "message" && d.Automation {
			if ok, err := e.store.Park(ctx, owner, d, "helpdesk answered 500", 5); err != nil || !ok {
				t.Fatalf("park: %v %v", ok, err)
			}
			return
		}
	}
	t.Fatalf("no forwarded delivery for %s on %s in shard %d", contact, channel, shard)
}

// --- a small JSON Schema validator -------------------------------------------------

// validate checks v against an OpenAPI 3.1 schema: the keywords the
// document uses. Beyond JSON Schema, an object whose schema lists
// properties and does not allow additional ones explicitly must have no
// other fields: an undocumented field in an answer is an error.
func (d *oaDoc) validate(s, v any, at string) []string {
	return d.check(s, v, at, true, 0)
}

func (d *oaDoc) check(s, v any, at string, closed bool, depth int) []string {
	m, _ := s.(map[string]any)
	if m == nil {
		return nil
	}
	if depth > 64 {
		return []string{at + ": schema nests too deep"}
	}
	var errs []string
	if ref, ok := m["$ref"].(string); ok {
		target := d.pointer(ref)
		if target == nil {
			return []string{at + ": unresolved $ref " + ref}
		}
		errs = append(errs, d.check(target, v, at, false, depth+1)...)
	}
	for _, b := range asList(m["allOf"]) {
		errs = append(errs, d.check(b, v, at, false, depth+1)...)
	}
	if one := asList(m["oneOf"]); one != nil {
		var n int
		var why []string
		for _, b := range one {
			e := d.check(b, v, at, true, depth+1)
			if len(e) == 0 {
				n++
			} else {
				why = append(why, e...)
			}
		}
		if n != 1 {
			errs = append(errs, fmt.Sprintf("%s: matches %d of the oneOf schemas, want exactly 1 (%s)", at, n, strings.Join(why, "; ")))
		}
	}
	if anyOf := asList(m["anyOf"]); anyOf != nil {
		ok := false
		for _, b := range anyOf {
			if len(d.check(b, v, at, true, depth+1)) == 0 {
				ok = true
			}
		}
		if !ok {
			errs = append(errs, at+": matches none of the anyOf schemas")
		}
	}
	if typ, ok := m["type"]; ok && !typeMatches(typ, v) {
		return append(errs, fmt.Sprintf("%s: %s is not of type %v", at, short(v), typ))
	}
	if enum, ok := m["enum"].([]any); ok && !slices.ContainsFunc(enum, func(x any) bool { return jsonEqual(x, v) }) {
		errs = append(errs, fmt.Sprintf("%s: %s is not one of %v", at, short(v), enum))
	}
	if c, ok := m["const"]; ok && !jsonEqual(c, v) {
		errs = append(errs, fmt.Sprintf("%s: %s is not %v", at, short(v), c))
	}
	switch x := v.(type) {
	case map[string]any:
		for _, r := range asList(m["required"]) {
			if _, ok := x[fmt.Sprint(r)]; !ok {
				errs = append(errs, fmt.Sprintf("%s: required field %q is missing", at, r))
			}
		}
		props, _ := m["properties"].(map[string]any)
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if ps, ok := props[k]; ok {
				errs = append(errs, d.check(ps, x[k], at+"."+k, true, depth+1)...)
				continue
			}
			switch ap := m["additionalProperties"].(type) {
			case bool:
				if !ap {
					errs = append(errs, fmt.Sprintf("%s: field %q is not allowed (additionalProperties: false)", at, k))
				}
			case map[string]any:
				errs = append(errs, d.check(ap, x[k], at+"."+k, true, depth+1)...)
			}
		}
		if mp, ok := number(m["maxProperties"]); ok && float64(len(x)) > mp {
			errs = append(errs, fmt.Sprintf("%s: more than %v fields", at, mp))
		}
		if closed {
			known, open := d.knownProperties(m, 0)
			if !open && len(known) > 0 {
				for _, k := range slices.Sorted(maps.Keys(x)) {
					if !known[k] {
						errs = append(errs, fmt.Sprintf("%s: field %q is not documented", at, k))
					}
				}
			}
		}
	case []any:
		if items, ok := m["items"]; ok {
			for i, it := range x {
				errs = append(errs, d.check(items, it, fmt.Sprintf("%s[%d]", at, i), true, depth+1)...)
			}
		}
	case string:
		n := float64(utf8.RuneCountInString(x))
		if mn, ok := number(m["minLength"]); ok && n < mn {
			errs = append(errs, fmt.Sprintf("%s: shorter than %v", at, mn))
		}
		if mx, ok := number(m["maxLength"]); ok && n > mx {
			errs = append(errs, fmt.Sprintf("%s: longer than %v", at, mx))
		}
		if m["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, x); err != nil {
				errs = append(errs, fmt.Sprintf("%s: %q is not a date-time", at, x))
			}
		}
		if p, ok := m["pattern"].(string); ok {
			if re, err := regexp.Compile(p); err != nil || !re.MatchString(x) {
				errs = append(errs, fmt.Sprintf("%s: %q does not match %s", at, x, p))
			}
		}
	case json.Number:
		f, _ := x.Float64()
		if mn, ok := number(m["minimum"]); ok && f < mn {
			errs = append(errs, fmt.Sprintf("%s: %v is below %v", at, x, mn))
		}
		if mx, ok := number(m["maximum"]); ok && f > mx {
			errs = append(errs, fmt.Sprintf("%s: %v is above %v", at, x, mx))
		}
	}
	return errs
}

// knownProperties merges the properties a schema declares directly, through
// $ref and through allOf; open is true when any part allows more.
func (d *oaDoc) knownProperties(m map[string]any, depth int) (known map[string]bool, open bool) {
	known = map[string]bool{}
	if m == nil || depth > 16 {
		return known, true
	}
	for k := range asMap(m["properties"]) {
		known[k] = true
	}
	switch ap := m["additionalProperties"].(type) {
	case bool:
		open = ap
	case map[string]any:
		open = true
	}
	parts := asList(m["allOf"])
	if ref, ok := m["$ref"].(string); ok {
		parts = append(parts, d.pointer(ref))
	}
	for _, p := range parts {
		k, o := d.knownProperties(asMap(p), depth+1)
		maps.Copy(known, k)
		open = open || o
	}
	return known, open
}

func typeMatches(typ, v any) bool {
	if l, ok := typ.([]any); ok {
		return slices.ContainsFunc(l, func(t any) bool { return typeMatches(t, v) })
	}
	switch typ {
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "null":
		return v == nil
	case "number":
		_, ok := v.(json.Number)
		return ok
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		_, ok = new(big.Int).SetString(string(n), 10)
		return ok
	}
	return false
}

func jsonEqual(a, b any) bool {
	na, aok := a.(json.Number)
	nb, bok := b.(json.Number)
	if aok && bok {
		fa, _ := na.Float64()
		fb, _ := nb.Float64()
		return fa == fb
	}
	return reflect.DeepEqual(a, b)
}

func number(v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := n.Float64()
	return f, err == nil
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func short(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 80 {
		return string(b[:77]) + "..."
	}
	return string(b)
}

// expectSecondPage reads a listing one item a page: the first page has one
// item and a next cursor, and the second page answers 200 as documented.
func (e *oaEnv) expectSecondPage(t *testing.T, path, token string) {
	t.Helper()
	r := e.expect(t, oaCall{method: http.MethodGet, path: path, token: token, query: "limit=1"}, 200)
	if len(r.items()) != 1 || r.str("next_cursor") == "" {
		t.Fatalf("%s: %s, want one item and a next cursor", path, r.raw)
	}
	e.expect(t, oaCall{method: http.MethodGet, path: path, token: token, query: "limit=1&cursor=" + url.QueryEscape(r.str("next_cursor"))}, 200)
}
