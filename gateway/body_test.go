package gateway_test

import (
	"github.com/hookwall/hookwall/internal/redistest"
	"net/http"
	"strings"
	"testing"
)

// TestAmbiguousJSON: a body whose readers could disagree — a member named
// twice, or in two cases — is refused as a whole and changes nothing. On
// the admin API the case variant is an unknown field, since names match
// exactly; on a webhook it is malformed_payload.
func TestAmbiguousJSON(t *testing.T) {
	redistest.Parallel(t)
	e := newEnv(t)
	const base = "/admin/v1/channels/line-main/contacts/"
	if r := e.do("POST", base+"U1/block", agentToken, `{"note":"spam"}`); r.status != http.StatusOK {
		t.Fatalf("block: %d %s", r.status, r.raw)
	}
	if r := e.do("POST", "/webhooks/line-main", "", `[{"contact":"U1","id":"q1","type":"message","raw":{}}]`, "X-Fake-Signature", "good"); r.status != http.StatusOK || r.body["queued"] != float64(1) {
		t.Fatalf("queue a message: %d %s", r.status, r.raw)
	}
	for _, tc := range []struct {
		name, method, path, token, body, detail string
	}{
		{"unblock tickets twice", "POST", base + "U1/unblock", supervisorToken, `{"tickets":"release","tickets":"delete"}`, `duplicate object member name at /tickets`},
		{"block with a case variant", "POST", base + "U2/block", agentToken, `{"ACTION":"record"}`, `unknown field at /ACTION`},
		{"block with both cases", "POST", base + "U2/block", agentToken, `{"action":"queue","Action":"record"}`, `unknown field at /Action`},
		{"note twice", "POST", base + "U2/block", agentToken, `{"note":"a","note":"b"}`, `duplicate object member name at /note`},
		{"settings twice", "PUT", "/admin/v1/settings", adminToken, `{"block_contact_enabled":true,"block_contact_enabled":false}`, `duplicate object member name at /block_contact_enabled`},
		{"reply text twice", "POST", "/v1/channels/line-main/contacts/U3/messages", agentToken, `{"text":"hi","text":"bye"}`, `duplicate object member name at /text`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.snapshot()
			r := e.do(tc.method, tc.path, tc.token, tc.body)
			wantProblem(t, r, http.StatusBadRequest, "invalid_request")
			if d, _ := r.body["detail"].(string); !strings.HasSuffix(d, tc.detail) {
				t.Errorf("detail %q; want it to end %q", d, tc.detail)
			}
			e.assertUnchanged(before)
		})
	}
	if len(e.ch.Sent()) != 0 {
		t.Fatal("a reply with an ambiguous body left")
	}
	for _, tc := range []struct{ name, body string }{
		{"contact twice", `[{"contact":"U2","id":"a1","type":"message","contact":"U1"}]`},
		{"contact in two cases", `[{"contact":"U2","id":"a2","type":"message","Contact":"U1"}]`},
		{"deep in the raw event", `[{"contact":"U2","id":"a3","type":"message","raw":{"m":{"x":1,"X":2}}}]`},
	} {
		t.Run("webhook "+tc.name, func(t *testing.T) {
			before := e.snapshot()
			wantProblem(t, e.do("POST", "/webhooks/line-main", "", tc.body, "X-Fake-Signature", "good"), http.StatusBadRequest, "malformed_payload")
			e.assertUnchanged(before)
		})
	}
	// Unsigned, the same body is refused for its signature first.
	wantProblem(t, e.do("POST", "/webhooks/line-main", "", `[{"contact":"U2","contact":"U1"}]`, "X-Fake-Signature", "bad"), http.StatusUnauthorized, "bad_signature")
}
