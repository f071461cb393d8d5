package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestE2EConsoleAPI: the admin routes the console starts from, on the wiring
// of serve — the channels with their bots as configured, who a token is, and
// the recent contacts of real LINE and web chat messages.
func TestE2EConsoleAPI(t *testing.T) {
	h := startHookwall(t, hwOptions{})

	var chans struct {
		Items []struct {
			ID            string `json:"id"`
			Type          string `json:"type"`
			BlockedAction string `json:"blocked_action"`
			Bot           bool   `json:"bot"`
		} `json:"items"`
	}
	h.apiOK(t, "GET", "/admin/v1/channels", agentToken, nil, 200, &chans)
	want := "[{line-main line queue true} {web webchat record false}]"
	if got := fmt.Sprint(chans.Items); got != want {
		t.Fatalf("channels %s, want %s", got, want)
	}

	for _, tc := range []struct{ token, name, role string }{
		{agentToken, "e2e-agent", "agent"},
		{supervisorToken, "e2e-supervisor", "supervisor"},
		{adminToken, "e2e-admin", "admin"},
	} {
		var me struct{ Name, Role string }
		h.apiOK(t, "GET", "/admin/v1/me", tc.token, nil, 200, &me)
		if me.Name != tc.name || me.Role != tc.role {
			t.Errorf("me with the %s token: %+v", tc.role, me)
		}
	}

	// The web chat message comes second; should both share a millisecond,
	// "web" sorts after "line-main" and still comes first.
	h.line(t, "U-recent", strings.Repeat("あ", 120))
	h.web(t, "visitor-recent", "hi there")
	var recent struct {
		Items []struct {
			Channel       string    `json:"channel"`
			Contact       string    `json:"contact"`
			LastMessageAt time.Time `json:"last_message_at"`
			Preview       string    `json:"preview"`
			Blocked       bool      `json:"blocked"`
		} `json:"items"`
		NextCursor string `json:"next_cursor"`
	}
	h.block(t, "web", "visitor-recent", nil)
	h.apiOK(t, "GET", "/admin/v1/contacts?limit=1", agentToken, nil, 200, &recent)
	if len(recent.Items) != 1 || recent.NextCursor == "" {
		t.Fatalf("first page %+v, want one contact and a cursor", recent)
	}
	if it := recent.Items[0]; it.Channel != "web" || it.Contact != "visitor-recent" || it.Preview != "hi there" || !it.Blocked {
		t.Fatalf("newest contact %+v, want the blocked web chat visitor", it)
	}
	h.apiOK(t, "GET", "/admin/v1/contacts?limit=1&cursor="+recent.NextCursor, agentToken, nil, 200, &recent)
	if len(recent.Items) != 1 || recent.NextCursor != "" {
		t.Fatalf("second page %+v, want the last contact", recent)
	}
	if it := recent.Items[0]; it.Channel != "line-main" || it.Contact != "U-recent" || it.Preview != strings.Repeat("あ", 100) || it.Blocked {
		t.Fatalf("older contact %+v, want the LINE contact, its text cut to 100 characters", it)
	}
}
