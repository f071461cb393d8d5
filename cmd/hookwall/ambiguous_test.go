package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestE2EAmbiguousLINE: a signed LINE body whose event names its user
// twice — the same key again, or "UserId" beside "userId", which the LINE
// SDK reads case-insensitively, last one winning — is refused whole with
// 400 malformed_payload. Before, hookwall decided on the second user while a
// proxy or bot reading the first saw the other one: a blocked contact could
// pass as an allowed one.
func TestE2EAmbiguousLINE(t *testing.T) {
	h := startHookwall(t, hwOptions{})
	h.block(t, "line-main", "Uambig-blocked", map[string]any{"note": "spam"})
	event := `{"type":"message","webhookEventId":"EVID","timestamp":1700000000000,"mode":"active",` +
		`"replyToken":"r","deliveryContext":{"isRedelivery":false},` +
		`"source":{"type":"user","userId":"Uambig-blocked",SECOND},` +
		`"message":{"type":"text","id":"EVID","quoteToken":"q","text":"hi"}}`
	for i, second := range []string{`"userId":"Uambig-allowed"`, `"UserId":"Uambig-allowed"`, `"USERID":"Uambig-allowed"`} {
		id := h.eventID("ambig")
		body := `{"destination":"Udest","events":[` + strings.ReplaceAll(strings.Replace(event, "SECOND", second, 1), "EVID", id) + `]}`
		a := h.postLine(t, []byte(body), "")
		if a.Status != http.StatusBadRequest || a.code() != "malformed_payload" {
			t.Fatalf("body %d: %d %s; want 400 malformed_payload", i, a.Status, a.Body)
		}
	}
	// Nothing of them was kept: the next message of the allowed user is its
	// first anywhere.
	if c := h.line(t, "Uambig-allowed", "after"); c.Forwarded != 1 {
		t.Fatalf("counts %+v", c)
	}
	h.bot.WaitText(t, "Uambig-allowed", "after")
	if got := texts(h.bot.Envs("Uambig-allowed")); len(got) != 1 {
		t.Fatalf("bot got %q from the allowed user; want only \"after\"", got)
	}
	var st struct {
		OpenTicket any `json:"open_ticket"`
	}
	h.apiOK(t, http.MethodGet, "/admin/v1/channels/line-main/contacts/Uambig-blocked", agentToken, nil, http.StatusOK, &st)
	if st.OpenTicket != nil {
		t.Fatalf("the blocked user has a ticket: %v", st.OpenTicket)
	}
}
