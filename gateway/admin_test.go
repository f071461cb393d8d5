package gateway_test

import (
	"context"
	"fmt"
	"github.com/hookwall/hookwall/internal/redistest"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

const blockPath = "/admin/v1/channels/line-main/contacts/U1/block"

func TestAdminAuth(t *testing.T) {
	redistest.Parallel(t)
	e := newEnv(t)
	routes := []struct {
		method, path, body string
		min                string
	}{
		{"GET", "/admin/v1/settings", "", "agent"},
		{"GET", "/admin/v1/me", "", "agent"},
		{"GET", "/admin/v1/channels", "", "agent"},
		{"GET", "/admin/v1/contacts", "", "agent"},
		{"PUT", "/admin/v1/settings", `{"block_contact_enabled":false}`, "admin"},
		{"POST", blockPath, `{"note":"x"}`, "agent"},
		{"POST", "/admin/v1/channels/line-main/contacts/U1/unblock", "", "agent"},
		{"POST", "/admin/v1/channels/line-main/contacts/U1/unblock", `{"tickets":"release"}`, "supervisor"},
		{"POST", "/admin/v1/channels/line-main/contacts/U1/unblock", `{"tickets":"delete"}`, "supervisor"},
		{"GET", "/admin/v1/channels/line-main/contacts/U1", "", "agent"},
		{"GET", "/admin/v1/blocked-contacts", "", "agent"},
		{"GET", "/admin/v1/audit", "", "admin"},
		{"POST", "/v1/channels/line-main/contacts/U1/messages", `{"text":"hi"}`, "agent"},
		{"GET", "/admin/v1/channels/line-main/contacts/U1/conversation", "", "agent"},
		{"GET", "/admin/v1/blocked-tickets", "", "supervisor"},
		{"GET", "/admin/v1/blocked-tickets/tkt_0_x", "", "supervisor"},
		{"POST", "/admin/v1/blocked-tickets/tkt_0_x/unblock", "", "supervisor"},
		{"DELETE", "/admin/v1/blocked-tickets/tkt_0_x", "", "supervisor"},
		{"GET", "/admin/v1/dead-letters", "", "admin"},
		{"POST", "/admin/v1/dead-letters/dl_0_1-0/retry", "", "admin"},
	}
	low := map[string][]string{"agent": nil, "supervisor": {agentToken}, "admin": {agentToken, supervisorToken}}
	for _, rt := range routes {
		name := rt.method + " " + rt.path
		if rt.body != "" {
			name += " " + rt.body
		}
		t.Run(name, func(t *testing.T) {
			before := e.snapshot()
			wantProblem(t, e.do(rt.method, rt.path, "", rt.body), 401, "unauthenticated")
			wantProblem(t, e.do(rt.method, rt.path, "not-a-token", rt.body), 401, "unauthenticated")
			wantProblem(t, e.do(rt.method, rt.path, "", rt.body, "Authorization", "Basic "+adminToken), 401, "unauthenticated")
			for _, tok := range low[rt.min] {
				wantProblem(t, e.do(rt.method, rt.path, tok, rt.body), 403, "forbidden")
			}
			e.assertUnchanged(before)
			if len(e.ch.Sent()) != 0 {
				t.Fatal("an unauthenticated reply was sent")
			}
		})
	}
}

func TestSettings(t *testing.T) {
	redistest.Parallel(t)
	e := newEnv(t)
	r := e.do("GET", "/admin/v1/settings", agentToken, "")
	if r.status != 200 || r.body["block_contact_enabled"] != true {
		t.Fatalf("get settings = %d %s", r.status, r.raw)
	}
	r = e.do("PUT", "/admin/v1/settings", adminToken, `{"block_contact_enabled":false}`)
	if r.status != 200 || r.body["block_contact_enabled"] != false {
		t.Fatalf("put settings = %d %s", r.status, r.raw)
	}
	if r := e.do("GET", "/admin/v1/settings", agentToken, ""); r.body["block_contact_enabled"] != false {
		t.Fatalf("settings after put = %s", r.raw)
	}
	before := e.snapshot()
	for _, body := range []string{`{`, `{"block_contact_enabled":"yes"}`, `{}`, `{"block_contact_enabled":true,"x":1}`, `{"block_contact_enabled":true} {}`, ``} {
		t.Run("bad body "+body, func(t *testing.T) {
			wantProblem(t, e.do("PUT", "/admin/v1/settings", adminToken, body), 400, "invalid_request")
		})
	}
	e.assertUnchanged(before)
	audit := e.do("GET", "/admin/v1/audit", adminToken, "")
	items := audit.body["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["action"] != "settings.update" || items[0].(map[string]any)["actor"] != "root" {
		t.Fatalf("audit = %s", audit.raw)
	}
}

func TestBlockStatusListUnblock(t *testing.T) {
	redistest.Parallel(t)
	e := newEnv(t)
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	r := e.do("POST", blockPath, agentToken, `{"note":"abusive","expires_at":"`+exp+`"}`)
	if r.status != 200 || r.body["action"] != "queue" || r.body["note"] != "abusive" || r.body["blocked_by"] != "alice" || r.body["expires_at"] != exp {
		t.Fatalf("block = %d %s", r.status, r.raw)
	}
	r = e.do("POST", "/admin/v1/channels/line-main/contacts/U%2F2/block", agentToken, `{"action":"record"}`)
	if r.status != 200 || r.body["action"] != "record" || r.body["contact"] != "U/2" {
		t.Fatalf("block with action and escaped contact = %d %s", r.status, r.raw)
	}

	r = e.do("GET", "/admin/v1/channels/line-main/contacts/U1", agentToken, "")
	if r.status != 200 || r.body["blocked"] != true || r.body["block"].(map[string]any)["note"] != "abusive" {
		t.Fatalf("status = %d %s", r.status, r.raw)
	}
	r = e.do("GET", "/admin/v1/channels/line-main/contacts/U3", agentToken, "")
	if r.status != 200 || r.body["blocked"] != false || r.body["block"] != nil {
		t.Fatalf("status of unblocked contact = %d %s", r.status, r.raw)
	}

	r = e.do("GET", "/admin/v1/blocked-contacts?limit=1", agentToken, "")
	items := r.body["items"].([]any)
	if r.status != 200 || len(items) != 1 || r.body["next_cursor"] == "" {
		t.Fatalf("page 1 = %d %s", r.status, r.raw)
	}
	r = e.do("GET", "/admin/v1/blocked-contacts?limit=1&channel=line-main&cursor="+r.body["next_cursor"].(string), agentToken, "")
	if items2 := r.body["items"].([]any); len(items2) != 1 || r.body["next_cursor"] != "" ||
		items[0].(map[string]any)["contact"] != "U/2" || items2[0].(map[string]any)["contact"] != "U1" {
		t.Fatalf("page 2 = %s (page 1 %v)", r.raw, items)
	}

	r = e.do("POST", "/admin/v1/channels/line-main/contacts/U1/unblock", supervisorToken, `{"tickets":"delete"}`)
	if r.status != 200 || r.body["unblocked"] != true || r.body["released"] != float64(0) || r.body["deleted"] != float64(0) {
		t.Fatalf("unblock = %d %s", r.status, r.raw)
	}
	r = e.do("POST", "/admin/v1/channels/line-main/contacts/U%2F2/unblock", agentToken, "")
	if r.status != 200 || r.body["unblocked"] != true {
		t.Fatalf("unblock default = %d %s", r.status, r.raw)
	}
	r = e.do("GET", "/admin/v1/blocked-contacts", agentToken, "")
	if len(r.body["items"].([]any)) != 0 {
		t.Fatalf("list after unblock = %s", r.raw)
	}
	r = e.do("GET", "/admin/v1/audit?limit=3", adminToken, "")
	var acts []string
	for _, it := range r.body["items"].([]any) {
		m := it.(map[string]any)
		acts = append(acts, fmt.Sprint(m["action"], " ", m["contact"]))
	}
	if strings.Join(acts, ",") != "unblock U/2,unblock U1,block U/2" {
		t.Fatalf("audit = %v", acts)
	}
}

func TestAdminBadInputChangesNothing(t *testing.T) {
	redistest.Parallel(t)
	e := newEnv(t)
	long := strings.Repeat("a", 257)
	cases := []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"malformed json", "POST", blockPath, `{"note":`, 400, "invalid_request"},
		{"unknown field", "POST", blockPath, `{"reason":"x"}`, 400, "invalid_request"},
		{"note too long", "POST", blockPath, `{"note":"` + strings.Repeat("n", 1001) + `"}`, 400, "invalid_request"},
		{"bad action", "POST", blockPath, `{"action":"drop"}`, 400, "invalid_request"},
		{"expiry in the past", "POST", blockPath, `{"expires_at":"2001-01-01T00:00:00Z"}`, 400, "invalid_request"},
		{"expiry not a time", "POST", blockPath, `{"expires_at":"tomorrow"}`, 400, "invalid_request"},
		{"control character in contact", "POST", "/admin/v1/channels/line-main/contacts/U%0A1/block", "", 400, "invalid_request"},
		{"contact too long", "POST", "/admin/v1/channels/line-main/contacts/" + long + "/block", "", 400, "invalid_request"},
		{"unknown channel", "POST", "/admin/v1/channels/nope/contacts/U1/block", "", 404, "unknown_channel"},
		{"unblock bad tickets", "POST", "/admin/v1/channels/line-main/contacts/U1/unblock", `{"tickets":"keep"}`, 400, "invalid_request"},
		{"unblock unknown channel", "POST", "/admin/v1/channels/nope/contacts/U1/unblock", "", 404, "unknown_channel"},
		{"status unknown channel", "GET", "/admin/v1/channels/nope/contacts/U1", "", 404, "unknown_channel"},
		{"status bad contact", "GET", "/admin/v1/channels/line-main/contacts/" + long, "", 400, "invalid_request"},
		{"list bad cursor", "GET", "/admin/v1/blocked-contacts?cursor=%21%21", "", 400, "invalid_request"},
		{"list bad limit", "GET", "/admin/v1/blocked-contacts?limit=0", "", 400, "invalid_request"},
		{"list limit not a number", "GET", "/admin/v1/blocked-contacts?limit=ten", "", 400, "invalid_request"},
		{"list unknown channel", "GET", "/admin/v1/blocked-contacts?channel=nope", "", 404, "unknown_channel"},
		{"audit bad limit", "GET", "/admin/v1/audit?limit=501", "", 400, "invalid_request"},
		{"unknown route", "GET", "/admin/v1/nothing", "", 404, "not_found"},
		{"unknown ticket", "GET", "/admin/v1/blocked-tickets/tkt_3_nothing", "", 404, "not_found"},
		{"malformed ticket id", "POST", "/admin/v1/blocked-tickets/%2E%2E/unblock", "", 400, "invalid_request"},
		{"ticket id of no bucket", "DELETE", "/admin/v1/blocked-tickets/tkt_99_x", "", 400, "invalid_request"},
		{"delete unknown ticket", "DELETE", "/admin/v1/blocked-tickets/tkt_2_x", "", 404, "not_found"},
		{"malformed dead-letter id", "POST", "/admin/v1/dead-letters/x/retry", "", 400, "invalid_request"},
		{"tickets bad cursor", "GET", "/admin/v1/blocked-tickets?cursor=xyz", "", 400, "invalid_request"},
		{"tickets unknown channel", "GET", "/admin/v1/blocked-tickets?channel=nope", "", 404, "unknown_channel"},
		{"no conversation", "GET", "/admin/v1/channels/line-main/contacts/U9/conversation", "", 404, "not_found"},
		{"unknown dead letter", "POST", "/admin/v1/dead-letters/dl_1_0-1/retry", "", 404, "not_found"},
		{"dead letters bad cursor", "GET", "/admin/v1/dead-letters?cursor=%21", "", 400, "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := e.snapshot()
			wantProblem(t, e.do(tc.method, tc.path, adminToken, tc.body), tc.status, tc.code)
			e.assertUnchanged(before)
		})
	}
}

func TestFeatureDisabled(t *testing.T) {
	redistest.Parallel(t)
	e := newEnv(t)
	if r := e.do("POST", blockPath, agentToken, ""); r.status != 200 {
		t.Fatalf("block = %d %s", r.status, r.raw)
	}
	if r := e.do("PUT", "/admin/v1/settings", adminToken, `{"block_contact_enabled":false}`); r.status != 200 {
		t.Fatal(r.raw)
	}
	before := e.snapshot()
	wantProblem(t, e.do("POST", "/admin/v1/channels/line-main/contacts/U2/block", agentToken, `{"note":"x"}`), 409, "feature_disabled")
	e.assertUnchanged(before)

	// Lists, status and unblock keep working; entries are kept.
	r := e.do("GET", "/admin/v1/channels/line-main/contacts/U1", agentToken, "")
	if r.status != 200 || r.body["blocked"] != true || r.body["enforced"] != false {
		t.Fatalf("status while disabled = %s", r.raw)
	}
	if r := e.do("GET", "/admin/v1/blocked-contacts", agentToken, ""); len(r.body["items"].([]any)) != 1 {
		t.Fatalf("list while disabled = %s", r.raw)
	}
	// Replies to a kept entry go out: the blocklist is not consulted.
	if r := e.do("POST", "/v1/channels/line-main/contacts/U1/messages", agentToken, `{"text":"hi"}`); r.status != http.StatusAccepted {
		t.Fatalf("reply while disabled = %d %s", r.status, r.raw)
	}
	if r := e.do("POST", "/admin/v1/channels/line-main/contacts/U1/unblock", agentToken, ""); r.status != 200 || r.body["unblocked"] != true {
		t.Fatalf("unblock while disabled = %s", r.raw)
	}
}

func TestStoreOutage(t *testing.T) {
	redistest.Parallel(t)
	e := newEnv(t)
	if r := e.do("GET", "/readyz", "", ""); r.status != 200 {
		t.Fatalf("readyz = %d", r.status)
	}
	e.redis.Stop()
	wantProblem(t, e.do("POST", blockPath, agentToken, ""), 503, "store_unavailable")
	wantProblem(t, e.do("GET", "/admin/v1/blocked-contacts", agentToken, ""), 503, "store_unavailable")
	wantProblem(t, e.do("POST", "/v1/channels/line-main/contacts/U1/messages", agentToken, `{"text":"hi"}`), 503, "store_unavailable")
	wantProblem(t, e.do("GET", "/readyz", "", ""), 503, "store_unavailable")
	if r := e.do("GET", "/healthz", "", ""); r.status != 200 {
		t.Fatalf("healthz during outage = %d", r.status)
	}
	if len(e.ch.Sent()) != 0 {
		t.Fatal("a reply was sent without a blocklist check")
	}
}

// TestContactOpenTicket: the contact status shows an agent the contact's
// open blocked ticket, which the Unblock dialog counts.
func TestContactOpenTicket(t *testing.T) {
	redistest.Parallel(t)
	e := newEnv(t)
	const path = "/admin/v1/channels/line-main/contacts/U1"
	if r := e.do("GET", path, agentToken, ""); r.status != 200 || r.body["open_ticket"] != nil {
		t.Fatalf("before: %d %s; want open_ticket null", r.status, r.raw)
	}
	if r := e.do("POST", path+"/block", agentToken, `{}`); r.status != 200 {
		t.Fatalf("block: %d %s", r.status, r.raw)
	}
	events := `[{"contact":"U1","id":"t1","type":"message","raw":{}},{"contact":"U1","id":"t2","type":"message","raw":{}}]`
	if r := e.do("POST", "/webhooks/line-main", "", events, "X-Fake-Signature", "good"); r.raw != `{"forwarded":0,"recorded":0,"queued":2,"duplicates":0}` {
		t.Fatalf("webhook: %d %s", r.status, r.raw)
	}
	r := e.do("GET", path, agentToken, "")
	tk, _ := r.body["open_ticket"].(map[string]any)
	if r.status != 200 || tk == nil || tk["message_count"] != 2.0 || tk["contact"] != "U1" {
		t.Fatalf("after: %d %s; want the open ticket of 2 messages", r.status, r.raw)
	}
	if _, ok := tk["messages"]; ok {
		t.Errorf("open_ticket carries the messages: %s", r.raw)
	}
}

// TestUnblockTicketsNeedSupervisor: blocked tickets are the supervisors'
// queue. An agent may unblock a contact but not release or delete its
// tickets: a request that names a tickets action, and a default unblock
// (which releases) of a contact with an open ticket, answer 403 naming the
// role and change nothing. A supervisor's unblock acts on the tickets.
func TestUnblockTicketsNeedSupervisor(t *testing.T) {
	redistest.Parallel(t)
	e := newEnv(t)
	const base = "/admin/v1/channels/line-main/contacts/"
	queue := func(contact string, ids ...string) {
		t.Helper()
		var evs []string
		for _, id := range ids {
			evs = append(evs, `{"contact":"`+contact+`","id":"`+id+`","type":"message","raw":{}}`)
		}
		want := fmt.Sprintf(`{"forwarded":0,"recorded":0,"queued":%d,"duplicates":0}`, len(ids))
		if r := e.do("POST", "/webhooks/line-main", "", "["+strings.Join(evs, ",")+"]", "X-Fake-Signature", "good"); r.raw != want {
			t.Fatalf("webhook for %s: %d %s; want %s", contact, r.status, r.raw, want)
		}
	}
	for _, c := range []string{"U1", "U2", "U3"} {
		if r := e.do("POST", base+c+"/block", agentToken, `{}`); r.status != 200 {
			t.Fatalf("block %s: %d %s", c, r.status, r.raw)
		}
	}
	queue("U1", "t1", "t2") // U1 and U3 have an open ticket, U2 none
	queue("U3", "t3")

	const named = "releasing or deleting blocked tickets needs the supervisor role"
	const open = "the contact has an open blocked ticket, which unblocking releases; " + named
	for _, tc := range []struct {
		name, contact, body, detail string
	}{
		{"delete", "U1", `{"tickets":"delete"}`, named},
		{"release", "U1", `{"tickets":"release"}`, named},
		{"delete, no ticket", "U2", `{"tickets":"delete"}`, named},
		{"release, no ticket", "U2", `{"tickets":"release"}`, named},
		{"default, open ticket", "U1", "", open},
		{"empty object, open ticket", "U1", `{}`, open},
		{"null tickets, open ticket", "U1", `{"tickets":null}`, open},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.snapshot()
			r := e.do("POST", base+tc.contact+"/unblock", agentToken, tc.body)
			wantProblem(t, r, 403, "forbidden")
			if r.body["detail"] != tc.detail {
				t.Errorf("detail %q; want %q", r.body["detail"], tc.detail)
			}
			e.assertUnchanged(before)
		})
	}
	r := e.do("GET", base+"U1", agentToken, "")
	if tk, _ := r.body["open_ticket"].(map[string]any); r.body["blocked"] != true || tk == nil || tk["message_count"] != 2.0 {
		t.Fatalf("U1 after the refusals: %s; want blocked with its ticket of 2 messages", r.raw)
	}

	// An agent's plain unblock of a contact without a ticket works.
	r = e.do("POST", base+"U2/unblock", agentToken, "")
	if r.status != 200 || r.raw != `{"unblocked":true,"released":0,"deleted":0}` {
		t.Fatalf("agent's unblock of U2 = %d %s", r.status, r.raw)
	}

	// A supervisor's unblock deletes or releases the ticket.
	r = e.do("POST", base+"U1/unblock", supervisorToken, `{"tickets":"delete"}`)
	if r.status != 200 || r.raw != `{"unblocked":true,"released":0,"deleted":1}` {
		t.Fatalf("supervisor's Delete All of U1 = %d %s", r.status, r.raw)
	}
	r = e.do("POST", base+"U3/unblock", supervisorToken, "")
	if r.status != 200 || r.raw != `{"unblocked":true,"released":1,"deleted":0}` {
		t.Fatalf("supervisor's default unblock of U3 = %d %s", r.status, r.raw)
	}
	for _, c := range []string{"U1", "U2", "U3"} {
		if r := e.do("GET", base+c, agentToken, ""); r.body["blocked"] != false || r.body["open_ticket"] != nil {
			t.Errorf("%s after the unblocks: %s; want neither blocked nor a ticket", c, r.raw)
		}
	}
	r = e.do("GET", "/admin/v1/audit?limit=3", adminToken, "")
	var acts []string
	for _, it := range r.body["items"].([]any) {
		m := it.(map[string]any)
		acts = append(acts, fmt.Sprint(m["action"], " ", m["contact"], " ", m["actor"]))
	}
	slices.Sort(acts) // records of one millisecond are in bucket order
	if want := "unblock U1 sam,unblock U2 alice,unblock U3 sam"; strings.Join(acts, ",") != want {
		t.Errorf("audit = %v; want %s", acts, want)
	}
}

// beforeUnblock is a go-redis hook that runs do once, before the first run
// of the store's unblock script (the only script whose first key is a block
// entry, hw:{tag}:block:...) after it is armed.
type beforeUnblock struct {
	do    func()
	armed atomic.Bool
}

func (h *beforeUnblock) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessPipelineHook watches the store's pipelines, where its writes go.
func (h *beforeUnblock) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			h.before(cmd)
		}
		return next(ctx, cmds)
	}
}
func (h *beforeUnblock) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.before(cmd)
		return next(ctx, cmd)
	}
}

// before runs do, once armed, before the unblock script: the only script
// whose first key is a contact's block entry.
func (h *beforeUnblock) before(cmd redis.Cmder) {
	a := cmd.Args()
	if len(a) > 3 && (a[0] == "evalsha" || a[0] == "eval") && strings.Contains(fmt.Sprint(a[3]), "}:block:") &&
		h.armed.CompareAndSwap(true, false) {
		h.do()
	}
}

// TestUnblockAgentTicketOpensMeanwhile: while an agent's unblock of a
// contact without a ticket runs, a message of the contact is queued and opens
// one, after the request came and before the store unblocks. The agent may
// not release it: the unblock answers 403 as for a contact that had the
// ticket all along, and the contact stays blocked with its ticket.
func TestUnblockAgentTicketOpensMeanwhile(t *testing.T) {
	redistest.Parallel(t)
	e := newEnv(t)
	const base = "/admin/v1/channels/line-main/contacts/"
	if r := e.do("POST", base+"U1/block", agentToken, `{}`); r.status != 200 {
		t.Fatalf("block: %d %s", r.status, r.raw)
	}
	h := &beforeUnblock{do: func() {
		want := `{"forwarded":0,"recorded":0,"queued":1,"duplicates":0}`
		body := `[{"contact":"U1","id":"t1","type":"message","raw":{}}]`
		if r := e.do("POST", "/webhooks/line-main", "", body, "X-Fake-Signature", "good"); r.raw != want {
			t.Errorf("webhook during the unblock: %d %s; want %s", r.status, r.raw, want)
		}
	}}
	e.rdb.AddHook(h)
	h.armed.Store(true)
	r := e.do("POST", base+"U1/unblock", agentToken, "")
	wantProblem(t, r, 403, "forbidden")
	if want := "the contact has an open blocked ticket, which unblocking releases; releasing or deleting blocked tickets needs the supervisor role"; r.body["detail"] != want {
		t.Errorf("detail %q; want %q", r.body["detail"], want)
	}
	if h.armed.Load() {
		t.Fatal("no message came during the unblock")
	}
	r = e.do("GET", base+"U1", agentToken, "")
	if tk, _ := r.body["open_ticket"].(map[string]any); r.body["blocked"] != true || tk == nil || tk["message_count"] != 1.0 {
		t.Fatalf("U1 after the refusal: %s; want blocked with its ticket of 1 message", r.raw)
	}
}
