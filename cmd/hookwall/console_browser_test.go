package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp/kb"
	"github.com/hookwall/hookwall/internal/testkit"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// The console's browser tests: what an operator does at /console/ and what
// they, the bot and the helpdesk then see. The harness is browser_test.go.

// TestBrowserSignIn: signing in with a token shows who it is; signing out
// forgets the token; a wrong token is refused with the reason.
func TestBrowserSignIn(t *testing.T) {
	sharedBrowser(t) // fails or skips before starting anything without Chromium
	h := startHookwall(t, hwOptions{})
	b := openTab(t, h, "agent")
	b.open()
	b.one("the field labelled \"Admin token\"", fieldJS("Admin token", ""))
	b.screenshot("sign-in")

	t.Run("a wrong token is refused with the reason", func(t *testing.T) {
		b := b.in(t)
		b.signIn("not-a-token-of-this-hookwall")
		b.waitText("Sign-in failed")
		b.waitJS("the refusal's reason", `[...document.querySelectorAll('[role=alert]')].some(e => /token/i.test(e.innerText))`)
		if b.has("Sign out") {
			b.fatalf("a wrong token signed in")
		}
		b.screenshot("sign-in-refused")
		if s := eval[string](b, `JSON.stringify(sessionStorage)`); strings.Contains(s, "not-a-token") {
			b.fatalf("sessionStorage keeps the refused token: %s", s)
		}
	})

	t.Run("an agent's token shows the name and role; Sign out forgets it", func(t *testing.T) {
		b := b.in(t)
		b.signIn(agentToken)
		b.waitText("e2e-agent")
		b.waitJS("the role agent in the header", `document.querySelector('header').innerText.includes('agent')`)
		header := eval[string](b, `document.querySelector('header').innerText`)
		if !strings.Contains(header, "e2e-agent") || !strings.Contains(header, "agent") {
			b.fatalf("header = %q; want the name e2e-agent and the role agent", header)
		}
		if s := eval[string](b, `JSON.stringify(localStorage)`); strings.Contains(s, agentToken) {
			b.fatalf("localStorage holds the token: %s", s)
		}
		if u := eval[string](b, `location.href`); strings.Contains(u, agentToken) {
			b.fatalf("the URL holds the token: %s", u)
		}
		b.screenshot("recent-contacts-empty")

		b.click("Sign out")
		b.waitNoText("e2e-agent")
		b.wantSignedOut("Sign out", agentToken)
		if b.has("Recent contacts") {
			b.fatalf("after Sign out the navigation is still shown")
		}
	})
}

// TestBrowserSecurityHeaders: the console's page reaches the browser with
// its security headers, and the browser enforces them.
func TestBrowserSecurityHeaders(t *testing.T) {
	sharedBrowser(t) // fails or skips before starting anything without Chromium
	h := startHookwall(t, hwOptions{})
	b := openTab(t, h, "anonymous")
	b.allowViolations = true // the Trusted Types probe below is one
	res := b.navigate(h.base + "/console/")
	if res.Status != 200 {
		b.fatalf("GET /console/ = %d; want 200", res.Status)
	}
	header := func(name string) string {
		for k, v := range res.Headers {
			if strings.EqualFold(k, name) {
				s, _ := v.(string)
				return s
			}
		}
		return ""
	}
	csp := header("Content-Security-Policy")
	for _, want := range []string{"frame-ancestors 'none'", "script-src 'self'", "require-trusted-types-for 'script'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy = %q; want it to hold %s", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("Content-Security-Policy = %q; want no unsafe-inline or unsafe-eval", csp)
	}
	if got := header("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q; want nosniff", got)
	}
	if got := header("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("Referrer-Policy = %q; want no-referrer", got)
	}
	// The browser applies the policy: markup assigned as a string throws.
	if got := eval[string](b, `(() => { try { document.createElement('div').innerHTML = '<b>x</b>'; return 'assigned'; } catch (e) { return e.name; } })()`); got != "TypeError" {
		t.Errorf("innerHTML of a string in the console: %s; want a TypeError of Trusted Types", got)
	}
}

// navigation is the names of the navigation's links, in order.
func (b *tab) navigation() []string {
	b.t.Helper()
	return eval[[]string](b, `[...document.querySelectorAll('nav a')].filter(a => a.checkVisibility()).map(a => a.textContent.replace(/\s+/g, ' ').trim())`)
}

// signedIn opens the console in a new tab and signs in with the token,
// waiting until the header shows the token's name.
func signedIn(t *testing.T, h *hw, name, token string) *tab {
	t.Helper()
	b := openTab(t, h, name)
	b.open()
	b.signIn(token)
	b.waitJS("the header to show "+name, `document.querySelector('header').innerText.includes(`+jsString("e2e-"+name)+`)`)
	return b
}

// TestBrowserRoles: each role's navigation has the screens it may use, and
// only those.
func TestBrowserRoles(t *testing.T) {
	sharedBrowser(t) // fails or skips before starting anything without Chromium
	h := startHookwall(t, hwOptions{})
	for _, tc := range []struct {
		role, token string
		want        []string
	}{
		{"agent", agentToken, []string{"Recent contacts", "Blocked", "Settings"}},
		{"supervisor", supervisorToken, []string{"Recent contacts", "Blocked", "Blocked tickets", "Settings"}},
		{"admin", adminToken, []string{"Recent contacts", "Blocked", "Blocked tickets", "Settings", "Dead letters", "Audit log"}},
	} {
		t.Run(tc.role, func(t *testing.T) {
			b := signedIn(t, h, tc.role, tc.token)
			b.waitJS("the navigation", `document.querySelectorAll('nav a').length > 0`)
			if got := b.navigation(); !slices.Equal(got, tc.want) {
				b.fatalf("navigation = %q; want %q", got, tc.want)
			}
		})
	}

	t.Run("an agent who types the address of Blocked tickets is turned away", func(t *testing.T) {
		b := signedIn(t, h, "agent", agentToken)
		eval[any](b, `location.hash = '#/tickets'`)
		b.waitHeading("Blocked tickets")
		b.waitText("cannot use this screen")
		if b.has("Show messages") || b.has("Unblock Ticket") {
			b.fatalf("an agent sees the tickets' controls")
		}
	})
}

// TestBrowserBlockFlow is the seeds' flow: an agent finds a contact who
// wrote in Recent contacts, blocks them with a note and sees them in the
// Blocked tab; the contact writes again and a supervisor, watching Blocked
// tickets, sees the ticket appear without reloading, releases it, and the
// bot gets every message in order.
func TestBrowserBlockFlow(t *testing.T) {
	sharedBrowser(t) // fails or skips before starting anything without Chromium
	h := startHookwall(t, hwOptions{})
	const contact = "Ubrowser-flow-0001"
	const note = "asks for refunds every hour"
	h.line(t, contact, "hello before the block")
	h.bot.WaitText(t, contact, "hello before the block")

	agent := signedIn(t, h, "agent", agentToken)
	agent.waitHeading("Recent contacts")
	agent.waitRow(contact, "hello before the block") // the preview
	agent.screenshot("recent-contacts")
	agent.click(contact)
	agent.waitHeading("Contact")
	agent.waitText("Not blocked")
	agent.waitText("hello before the block")
	agent.screenshot("contact")

	agent.click("Block")
	agent.waitText("Block contact")
	agent.fill("Note", note)
	agent.screenshot("block-dialog")
	agent.click("Block") // the dialog's, the only one a person can reach now
	agent.waitText("Success")
	agent.waitText(note)
	agent.screenshot("contact-blocked")
	if st := h.contact(t, "line-main", contact); !st.Blocked || st.Block == nil || st.Block.Note != note || st.Block.BlockedBy != "e2e-agent" {
		t.Fatalf("after Block the contact is %+v; want blocked by e2e-agent with the note", st)
	}

	agent.click("Blocked")
	agent.waitHeading("Blocked")
	agent.waitRow(contact, note, "e2e-agent")
	agent.screenshot("blocked")

	// The supervisor watches Blocked tickets before the contact writes again.
	sup := signedIn(t, h, "supervisor", supervisorToken)
	sup.click("Blocked tickets")
	sup.waitHeading("Blocked tickets")
	sup.waitText("No open blocked tickets.")
	for _, text := range []string{"first while blocked", "second while blocked"} {
		if c := h.line(t, contact, text); c != (counts{Queued: 1}) {
			t.Fatalf("%q: answer %+v; want queued 1", text, c)
		}
	}
	sup.waitRow(contact, "line-main", "2") // no reload: the screen refreshes itself
	sup.clickIn(contact, "Show messages")
	sup.waitText("second while blocked")
	sup.waitText("first while blocked")
	sup.screenshot("blocked-tickets")
	sup.click("Unblock Ticket")
	sup.waitText("Unblock ticket")
	sup.screenshot("unblock-ticket-confirm")
	sup.click("Yes")
	sup.waitText("Success")
	sup.waitText("No open blocked tickets.")

	want := []string{"hello before the block", "first while blocked", "second while blocked"}
	h.bot.WaitUntil(t, waitLimit, "the released messages", func() bool { return len(texts(h.bot.Envs(contact))) >= len(want) })
	if got := texts(h.bot.Envs(contact)); !slices.Equal(got, want) {
		t.Errorf("the bot got %q; want %q", got, want)
	}
	if st := h.contact(t, "line-main", contact); !st.Blocked {
		t.Errorf("after Unblock Ticket the contact is not blocked; want it still blocked")
	}
}

// hostile are texts that would run script if the console ever made markup
// of what strangers send.
var hostile = []string{
	`<img src=x onerror="window.__pwned=1">`,
	`<script>window.__pwned=1</script>`,
	`javascript:window.__pwned=1`,
}

// TestBrowserHostileText: contact ids, messages and notes that look like
// markup or script are shown as the literal text they are, and nothing of
// them runs.
func TestBrowserHostileText(t *testing.T) {
	sharedBrowser(t) // fails or skips before starting anything without Chromium
	h := startHookwall(t, hwOptions{})
	for i, c := range hostile {
		h.line(t, c, hostile[(i+1)%len(hostile)])
	}
	b := signedIn(t, h, "agent", agentToken)
	b.waitHeading("Recent contacts")
	for _, c := range hostile {
		b.waitRow(c)
	}
	b.screenshot("hostile-recent-contacts")
	b.click(hostile[0])
	b.waitHeading("Contact")
	b.waitText(hostile[1]) // the message text
	b.click("Block")
	b.waitText("Block contact")
	b.fill("Note", hostile[2])
	b.click("Block")
	b.waitText("Success")
	b.waitText(hostile[2])
	b.click("Blocked")
	b.waitHeading("Blocked")
	b.waitRow(hostile[0], hostile[2])
	b.screenshot("hostile-blocked")
	if st := h.contact(t, "line-main", hostile[0]); !st.Blocked || st.Block.Note != hostile[2] {
		t.Errorf("contact %q = %+v; want blocked with the note %q", hostile[0], st, hostile[2])
	}
	if got := eval[string](b, `typeof window.__pwned`); got != "undefined" {
		t.Errorf("window.__pwned is %s: a hostile text ran", got)
	}
	if n := eval[int](b, `document.querySelectorAll('img, iframe, object, embed, body script').length`); n != 0 {
		t.Errorf("the page holds %d img, iframe, object, embed or body script elements; want none", n)
	}
	if n := eval[int](b, `[...document.querySelectorAll('a[href]')].filter(a => !a.getAttribute('href').startsWith('#')).length`); n != 0 {
		t.Errorf("%d links lead out of the console's routes", n)
	}
}

// TestBrowserUnblock: a supervisor's Unblock dialog: Cancel changes
// nothing, Unblock All sends the held messages on, Delete All drops them.
func TestBrowserUnblock(t *testing.T) {
	sharedBrowser(t) // fails or skips before starting anything without Chromium
	h := startHookwall(t, hwOptions{})
	const release, drop = "Ubrowser-unblock-all", "Ubrowser-delete-all"
	for _, c := range []string{release, drop} {
		h.block(t, "line-main", c, map[string]string{"note": "held"})
		if got := h.line(t, c, "held for "+c); got != (counts{Queued: 1}) {
			t.Fatalf("%s: answer %+v; want queued 1", c, got)
		}
	}
	sup := signedIn(t, h, "supervisor", supervisorToken)

	sup.click("Blocked")
	sup.waitHeading("Blocked")
	sup.click(release)
	sup.click("Unblock")
	sup.waitText("Unblock contact")
	// The supervisor is told what Unblock All and Delete All act on.
	sup.waitText("This contact has 1 blocked ticket (1 message).")
	sup.screenshot("unblock-dialog")
	sup.click("Cancel")
	sup.waitNoText("Unblock contact")
	if st := h.contact(t, "line-main", release); !st.Blocked {
		t.Fatalf("after Cancel %s is not blocked", release)
	}
	sup.click("Unblock")
	sup.click("Unblock All")
	sup.waitText("Success")
	sup.waitText("Not blocked")
	h.bot.WaitText(t, release, "held for "+release)
	if st := h.contact(t, "line-main", release); st.Blocked {
		t.Errorf("after Unblock All %s is still blocked", release)
	}

	sup.click("Blocked")
	sup.waitHeading("Blocked")
	sup.click(drop)
	sup.click("Unblock")
	sup.click("Delete All")
	sup.waitText("Success")
	sup.waitText("Not blocked")
	if st := h.contact(t, "line-main", drop); st.Blocked {
		t.Errorf("after Delete All %s is still blocked", drop)
	}
	if tk, ok := h.ticketOf(t, "line-main", drop); ok {
		t.Errorf("after Delete All %s still has the ticket %+v", drop, tk)
	}
	// Barrier: a message after the unblock reaches the bot after anything
	// queued before it; the deleted one never comes.
	h.line(t, drop, "after the unblock")
	h.bot.WaitText(t, drop, "after the unblock")
	if got := texts(h.bot.Envs(drop)); !slices.Equal(got, []string{"after the unblock"}) {
		t.Errorf("the bot got %q of %s; want only the message after the unblock", got, drop)
	}
}

// TestBrowserAgentUnblock: blocked tickets are the supervisors' review
// queue, so an agent's Unblock dialog offers neither Unblock All nor Delete
// All. For a contact with a ticket it says that a supervisor handles it, and
// changes nothing; a contact without one the agent unblocks. A ticket that
// opens while the agent's dialog is open is refused by hookwall, and the
// dialog says why.
func TestBrowserAgentUnblock(t *testing.T) {
	sharedBrowser(t) // fails or skips before starting anything without Chromium
	h := startHookwall(t, hwOptions{})
	const held, plain, late = "Ubrowser-agent-held", "Ubrowser-agent-plain", "Ubrowser-agent-late"
	for _, c := range []string{held, plain, late} {
		h.block(t, "line-main", c, map[string]string{"note": "held"})
	}
	if got := h.line(t, held, "held for a supervisor"); got != (counts{Queued: 1}) {
		t.Fatalf("%s: answer %+v; want queued 1", held, got)
	}
	agent := signedIn(t, h, "agent", agentToken)
	noTicketChoices := func(b *tab) {
		b.t.Helper()
		for _, name := range []string{"Unblock All", "Delete All"} {
			if b.has(name) {
				b.fatalf("an agent's Unblock dialog offers %q", name)
			}
		}
	}
	openContact := func(b *tab, contact, wait string) {
		b.t.Helper()
		b.click("Blocked")
		b.waitHeading("Blocked")
		b.click(contact)
		b.waitHeading("Contact")
		b.waitText(wait)
	}

	t.Run("a contact with a ticket is left to a supervisor", func(t *testing.T) {
		agent := agent.in(t)
		openContact(agent, held, "Open ticket with 1 message")
		agent.click("Unblock")
		agent.waitText("Unblock contact")
		agent.waitText("This contact has 1 blocked ticket (1 message).")
		agent.waitText("A supervisor handles this contact's blocked ticket")
		agent.waitText("only a supervisor can unblock it while the ticket is open")
		noTicketChoices(agent)
		if agent.has("Unblock") {
			agent.fatalf("the dialog offers Unblock for a contact with a ticket")
		}
		agent.screenshot("unblock-dialog-agent")
		agent.click("Close")
		agent.waitNoText("Unblock contact")
		if st := h.contact(t, "line-main", held); !st.Blocked {
			t.Errorf("after Close %s is not blocked", held)
		}
		if tk, ok := h.ticketOf(t, "line-main", held); !ok || tk.MessageCount != 1 {
			t.Errorf("after Close the ticket of %s is %+v (open %v); want it open with 1 message", held, tk, ok)
		}
	})

	t.Run("a contact without a ticket the agent unblocks", func(t *testing.T) {
		agent := agent.in(t)
		openContact(agent, plain, "No open blocked ticket.")
		agent.click("Unblock")
		agent.waitText("Unblock contact")
		agent.waitText("This contact has 0 blocked tickets.")
		noTicketChoices(agent)
		agent.screenshot("unblock-dialog-agent-no-ticket")
		agent.click("Unblock") // the dialog's, the only one a person can reach now
		agent.waitText("Success")
		agent.waitText("Not blocked")
		if st := h.contact(t, "line-main", plain); st.Blocked {
			t.Errorf("after Unblock %s is still blocked", plain)
		}
	})

	t.Run("a ticket that opens meanwhile is refused with the reason", func(t *testing.T) {
		agent := agent.in(t)
		openContact(agent, late, "No open blocked ticket.")
		agent.click("Unblock")
		agent.waitText("This contact has 0 blocked tickets.")
		if got := h.line(t, late, "written while the agent decides"); got != (counts{Queued: 1}) {
			t.Fatalf("%s: answer %+v; want queued 1", late, got)
		}
		agent.click("Unblock")
		agent.waitText("needs the supervisor role")
		agent.click("Cancel")
		agent.waitNoText("Unblock contact")
		agent.waitText("Open ticket with 1 message") // the view shows the new ticket
		if st := h.contact(t, "line-main", late); !st.Blocked {
			t.Errorf("after the refusal %s is not blocked", late)
		}
		if _, ok := h.ticketOf(t, "line-main", late); !ok {
			t.Errorf("after the refusal %s has no ticket", late)
		}
		if got := texts(h.bot.Envs(late)); len(got) != 0 {
			t.Errorf("the bot got %q of %s; want nothing", got, late)
		}
	})
}

// TestBrowserTicketDelete: a supervisor deletes a ticket; No keeps it, Yes
// deletes it and the contact stays blocked.
func TestBrowserTicketDelete(t *testing.T) {
	sharedBrowser(t) // fails or skips before starting anything without Chromium
	h := startHookwall(t, hwOptions{})
	const contact = "Ubrowser-ticket-delete"
	h.block(t, "line-main", contact, nil)
	h.line(t, contact, "not worth reading")
	sup := signedIn(t, h, "supervisor", supervisorToken)
	sup.click("Blocked tickets")
	sup.waitHeading("Blocked tickets")
	sup.clickIn(contact, "Show messages")
	sup.waitText("not worth reading")
	sup.click("Delete")
	sup.waitText("Delete ticket")
	sup.screenshot("delete-ticket-confirm")
	sup.click("No")
	sup.waitNoText("Delete ticket")
	if _, ok := h.ticketOf(t, "line-main", contact); !ok {
		t.Fatalf("after No the ticket is gone")
	}
	sup.click("Delete")
	sup.click("Yes")
	sup.waitText("Success")
	sup.waitText("No open blocked tickets.")
	if tk, ok := h.ticketOf(t, "line-main", contact); ok {
		t.Errorf("after Delete and Yes the ticket is still open: %+v", tk)
	}
	if st := h.contact(t, "line-main", contact); !st.Blocked {
		t.Errorf("after the ticket's deletion the contact is not blocked; want it still blocked")
	}
}

// TestBrowserTicketPaging: a blocked contact floods a ticket past its bound
// (60 here). The supervisor sees how many messages it dropped, the oldest it
// kept first, a page at a time with "More messages", and releasing it sends
// what it kept, in order.
func TestBrowserTicketPaging(t *testing.T) {
	sharedBrowser(t) // fails or skips before starting anything without Chromium
	h := startHookwall(t, hwOptions{TicketMaxMessages: 60})
	const contact = "Ubrowser-ticket-flood"
	h.block(t, "line-main", contact, nil)
	var events []lineEvent
	for i := 1; i <= 70; i++ {
		events = append(events, lineEvent{Contact: contact, ID: h.eventID("flood"), Text: fmt.Sprintf("flood %03d", i)})
	}
	if got := h.postLine(t, lineBody(t, events...), "").counts(t); got != (counts{Queued: 70}) {
		t.Fatalf("flood: answer %+v; want queued 70", got)
	}
	sup := signedIn(t, h, "supervisor", supervisorToken)
	sup.click("Blocked tickets")
	sup.waitHeading("Blocked tickets")
	sup.waitRow(contact, "60", "10 dropped")
	sup.clickIn(contact, "Show messages")
	sup.waitText("10 older messages were dropped: a full ticket keeps its newest messages.")
	sup.waitText("flood 011") // the oldest kept
	sup.waitText("flood 060") // the end of the first page of 50
	sup.waitText("Showing 50 of 60 messages.")
	sup.waitNoText("flood 010")
	sup.waitNoText("flood 061")
	sup.screenshot("ticket-dropped")
	sup.click("More messages")
	sup.waitText("flood 070")
	sup.waitText("Showing 60 of 60 messages.")
	sup.waitNoText("More messages")
	sup.click("Unblock Ticket")
	sup.waitText("Send this ticket's 60 messages to BOT?")
	sup.click("Yes")
	sup.waitText("60 messages sent to BOT.")

	var want []string
	for i := 11; i <= 70; i++ {
		want = append(want, fmt.Sprintf("flood %03d", i))
	}
	h.bot.WaitUntil(t, waitLimit, "the released messages", func() bool { return len(texts(h.bot.Envs(contact))) >= len(want) })
	if got := texts(h.bot.Envs(contact)); !slices.Equal(got, want) {
		t.Errorf("the bot got %q; want the 60 kept, in order", got)
	}
}

// settingEnabled is GET /admin/v1/settings.
func settingEnabled(t *testing.T, h *hw) bool {
	t.Helper()
	var s struct {
		Enabled bool `json:"block_contact_enabled"`
	}
	h.apiOK(t, "GET", "/admin/v1/settings", agentToken, nil, 200, &s)
	return s.Enabled
}

// TestBrowserSettings: an admin switches block contact off and on; an agent
// sees the switch but cannot change it; the Audit log shows the changes.
func TestBrowserSettings(t *testing.T) {
	sharedBrowser(t) // fails or skips before starting anything without Chromium
	h := startHookwall(t, hwOptions{})
	admin := signedIn(t, h, "admin", adminToken)
	admin.click("Settings")
	admin.waitHeading("Settings")
	on := controlJS("Enable block contact", "") + `.some(e => e.checked)`
	admin.waitJS("the switch on", on)
	admin.screenshot("settings")
	admin.click("Enable block contact")
	admin.waitText("Success")
	admin.waitJS("the switch off", "!("+on+")")
	if settingEnabled(t, h) {
		t.Fatal("after switching off, block_contact_enabled is true")
	}

	agent := signedIn(t, h, "agent", agentToken)
	agent.click("Settings")
	agent.waitHeading("Settings")
	agent.waitText("Only admins can change this")
	if agent.has("Enable block contact") {
		agent.fatalf("an agent can change the switch")
	}

	admin.click("Enable block contact")
	admin.waitText("Success")
	admin.waitJS("the switch on", on)
	if !settingEnabled(t, h) {
		t.Fatal("after switching on, block_contact_enabled is false")
	}
	admin.click("Audit log")
	admin.waitHeading("Audit log")
	admin.waitRow("e2e-admin", "settings.update")
	admin.screenshot("audit-log")
}

// TestBrowserDeadLetters: an admin retries a parked delivery once the bot is
// back, and the bot gets it.
func TestBrowserDeadLetters(t *testing.T) {
	sharedBrowser(t) // fails or skips before starting anything without Chromium
	h := startHookwall(t, hwOptions{MaxAttempts: 1})
	const contact = "Ubrowser-dead-letter"
	var failing atomic.Bool
	failing.Store(true)
	h.bot.SetAnswer(func(r testkit.Request) int {
		if failing.Load() && r.Env.Text() == "parked" {
			return 500
		}
		return 200
	})
	h.line(t, contact, "parked")
	h.line(t, contact, "after the parked one")
	h.bot.WaitText(t, contact, "after the parked one") // barrier: "parked" is parked
	failing.Store(false)

	admin := signedIn(t, h, "admin", adminToken)
	admin.click("Dead letters")
	admin.waitHeading("Dead letters")
	admin.waitRow(contact, "bot")
	admin.screenshot("dead-letters")
	admin.clickIn(contact, "Retry")
	admin.waitText("Success")
	h.bot.WaitText(t, contact, "parked")
	if dls := h.deadLetters(t); len(dls) != 0 {
		t.Errorf("after Retry the dead letters are %+v; want none", dls)
	}
}

// outboundBox records the web chat replies hookwall posts to outbound_url,
// verifying their Standard Webhooks signature with the channel's key.
type outboundBox struct {
	srv     *httptest.Server
	mu      sync.Mutex
	replies []string // "contact: text"
	bad     []string
}

func newOutboundBox(t *testing.T) *outboundBox {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(webKey)
	if err != nil {
		t.Fatal(err)
	}
	o := &outboundBox{}
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var m struct {
			Contact struct{ ID string }   `json:"contact"`
			Message struct{ Text string } `json:"message"`
		}
		o.mu.Lock()
		defer o.mu.Unlock()
		if err := wh.Verify(body, r.Header); err != nil {
			o.bad = append(o.bad, err.Error())
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if err := json.Unmarshal(body, &m); err != nil {
			o.bad = append(o.bad, err.Error())
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		o.replies = append(o.replies, m.Contact.ID+": "+m.Message.Text)
	}))
	t.Cleanup(o.srv.Close)
	t.Cleanup(func() {
		o.mu.Lock()
		defer o.mu.Unlock()
		for _, b := range o.bad {
			t.Errorf("outbound: bad request: %s", b)
		}
	})
	return o
}

func (o *outboundBox) got() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.replies)
}

// TestBrowserReply: an agent answers a web chat visitor from the contact
// view; once the visitor is blocked the reply box is off.
func TestBrowserReply(t *testing.T) {
	sharedBrowser(t) // fails or skips before starting anything without Chromium
	out := newOutboundBox(t)
	h := startHookwall(t, hwOptions{WebOutbound: out.srv.URL + "/outbound"})
	const visitor = "visitor-browser-reply"
	h.web(t, visitor, "is anyone there?")
	h.helpdesk.WaitText(t, visitor, "is anyone there?")

	agent := signedIn(t, h, "agent", agentToken)
	agent.click(visitor)
	agent.waitHeading("Contact")
	agent.waitText("is anyone there?")
	agent.fill("Reply", "Yes, how can we help?")
	agent.click("Send")
	agent.waitText("Success")
	agent.screenshot("reply-sent")
	if got, want := out.got(), []string{visitor + ": Yes, how can we help?"}; !slices.Equal(got, want) {
		t.Fatalf("the visitor got %q; want %q", got, want)
	}

	agent.click("Block")
	agent.waitText("Block contact")
	agent.click("Block")
	agent.waitText("Success")
	agent.waitText("Replies are off")
	if agent.has("Send") {
		agent.fatalf("a blocked contact's Send is enabled")
	}
}

// TestBrowserMore: a list longer than a page shows its first page, and More
// brings the rest.
func TestBrowserMore(t *testing.T) {
	sharedBrowser(t) // fails or skips before starting anything without Chromium
	h := startHookwall(t, hwOptions{})
	const n = 51 // the console's pages are 50
	for i := range n {
		h.block(t, "line-main", fmt.Sprintf("Ubrowser-more-%03d", i), nil)
	}
	agent := signedIn(t, h, "agent", agentToken)
	agent.click("Blocked")
	agent.waitHeading("Blocked")
	agent.waitRow("Ubrowser-more-049")
	if eval[bool](agent, visibleText("Ubrowser-more-050")) {
		agent.fatalf("the first page shows the 51st contact")
	}
	agent.click("More")
	agent.waitRow("Ubrowser-more-050")
	agent.waitJS("More to go", "!("+controlJS("More", "")+".length)")
	if got := eval[int](agent, `document.querySelectorAll('tbody tr').length`); got != n {
		agent.fatalf("the list has %d rows; want %d", got, n)
	}

	// A block made elsewhere comes in with the next refresh, which keeps
	// as many rows as More brought: the one it pushes down goes to the
	// next page, and More is back.
	h.block(t, "line-main", "Ubrowser-more-0000", nil) // second, by contact
	agent.waitRow("Ubrowser-more-0000")
	agent.waitRow("Ubrowser-more-049")
	agent.one("the control \"More\"", controlJS("More", ""))
	if got := eval[int](agent, `document.querySelectorAll('tbody tr').length`); got != n {
		agent.fatalf("after the refresh the list has %d rows; want %d", got, n)
	}
}

// problemDetail is the detail of a problem+json answer.
func problemDetail(t *testing.T, a answer) string {
	t.Helper()
	var p struct {
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal(a.Body, &p); err != nil || p.Detail == "" {
		t.Fatalf("answer %d %s: no problem detail (%v)", a.Status, a.Body, err)
	}
	return p.Detail
}

// TestBrowserListsRefresh: Recent contacts and Blocked show what happens
// while they are open, without a reload, and a refresh keeps what More
// brought in.
func TestBrowserListsRefresh(t *testing.T) {
	sharedBrowser(t) // fails or skips before starting anything without Chromium
	h := startHookwall(t, hwOptions{})
	const contact = "Ubrowser-refresh-0001"
	agent := signedIn(t, h, "agent", agentToken)
	agent.waitHeading("Recent contacts")
	agent.waitText("No contacts yet.")
	h.line(t, contact, "written while the list is open")
	agent.waitRow(contact, "written while the list is open") // no reload

	agent.click("Blocked")
	agent.waitHeading("Blocked")
	agent.waitText("No contact is blocked.")
	h.block(t, "line-main", contact, map[string]string{"note": "blocked from another console"})
	agent.waitRow(contact, "blocked from another console") // no reload
}

// TestBrowserBlockSwitchedOff: with "Enable block contact" off, the contact
// view says blocking is off, and Block is refused with the reason.
func TestBrowserBlockSwitchedOff(t *testing.T) {
	sharedBrowser(t) // fails or skips before starting anything without Chromium
	h := startHookwall(t, hwOptions{})
	const contact = "Ubrowser-switched-off"
	h.line(t, contact, "hello")

	admin := signedIn(t, h, "admin", adminToken)
	admin.click("Settings")
	admin.waitHeading("Settings")
	admin.waitText("On")
	admin.click("Enable block contact")
	admin.waitText("Success")
	if settingEnabled(t, h) {
		t.Fatal("after switching off, block_contact_enabled is true")
	}

	agent := signedIn(t, h, "agent", agentToken)
	agent.waitHeading("Recent contacts")
	agent.click(contact)
	agent.waitHeading("Contact")
	agent.waitText("Blocking is switched off")
	agent.click("Block")
	agent.waitText("Block contact")
	agent.click("Block") // the dialog's
	agent.waitText("Blocking is switched off in Settings")
	// The reason is the API's own problem detail of the 409.
	a := h.api(t, http.MethodPost, "/admin/v1/channels/line-main/contacts/"+contact+"/block", agentToken, nil)
	if a.Status != http.StatusConflict || a.code() != "feature_disabled" {
		t.Fatalf("block with the feature off = %d %s; want 409 feature_disabled", a.Status, a.Body)
	}
	agent.waitText(problemDetail(t, a))
	agent.screenshot("block-switched-off")
	if st := h.contact(t, "line-main", contact); st.Blocked {
		t.Errorf("with the feature off the contact got blocked: %+v", st)
	}
}

// TestBrowserBlockRecord: the Block dialog's Cancel blocks nothing; its
// Action and Expires are what the block gets; with the action record a
// message of the blocked contact shows on the conversation marked
// "automation off".
func TestBrowserBlockRecord(t *testing.T) {
	sharedBrowser(t) // fails or skips before starting anything without Chromium
	h := startHookwall(t, hwOptions{})
	const contact = "Ubrowser-record-0001"
	h.line(t, contact, "before the block")
	agent := signedIn(t, h, "agent", agentToken)
	agent.waitHeading("Recent contacts")
	agent.click(contact)
	agent.waitHeading("Contact")
	agent.waitText("before the block")

	agent.click("Block")
	agent.waitText("Block contact")
	agent.fill("Note", "not this time")
	agent.click("Cancel")
	agent.waitNoText("Block contact")
	if st := h.contact(t, "line-main", contact); st.Blocked {
		t.Fatalf("after Cancel the contact is blocked: %+v", st)
	}

	agent.click("Block")
	agent.waitText("Block contact")
	agent.fill("Note", "recorded only")
	agent.choose("Action", "record")
	const expires = "2030-12-31T23:30" // the browser's time zone
	agent.setValue("Expires", expires)
	agent.click("Block") // the dialog's
	agent.waitText("Success")
	agent.waitText("recorded only")
	st := h.contact(t, "line-main", contact)
	if !st.Blocked || st.Block == nil || st.Block.Action != "record" || st.Block.ExpiresAt == nil {
		t.Fatalf("after Block the contact is %+v; want blocked with the action record and an expiry", st)
	}
	if want := eval[string](agent, `new Date(`+jsString(expires)+`).toISOString()`); !st.Block.ExpiresAt.Equal(mustTime(t, want)) {
		t.Errorf("the block expires at %s; want %s", st.Block.ExpiresAt, want)
	}
	// The entry shows the expiry as the browser's time, not "Never".
	shown := eval[string](agent, `(() => { const dt = [...document.querySelectorAll('dl.entry dt')].find(d => d.textContent === 'Expires'); return dt ? dt.nextElementSibling.innerText : ''; })()`)
	if want := eval[string](agent, `new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' }).format(new Date(`+jsString(expires)+`))`); shown != want {
		t.Errorf("the block entry's Expires shows %q; want %q", shown, want)
	}

	if c := h.line(t, contact, "written while recorded"); c != (counts{Recorded: 1}) {
		t.Fatalf("a message of the recorded contact: %+v; want recorded 1", c)
	}
	h.helpdesk.WaitText(t, contact, "written while recorded")
	agent.click("Recent contacts")
	agent.waitHeading("Recent contacts")
	agent.click(contact)
	agent.waitHeading("Contact")
	agent.waitRow("written while recorded", "automation off")
	agent.screenshot("contact-recorded")
	if got := texts(h.bot.Envs(contact)); !slices.Equal(got, []string{"before the block"}) {
		t.Errorf("the bot got %q; want only the message before the block", got)
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestBrowserRevokedToken: a token hookwall no longer accepts ends the
// session: the sign-in form shows the 401's reason and the tab forgets the
// token.
func TestBrowserRevokedToken(t *testing.T) {
	sharedBrowser(t) // fails or skips before starting anything without Chromium
	h := startHookwall(t, hwOptions{})
	agent := signedIn(t, h, "agent", agentToken)
	agent.waitHeading("Recent contacts")

	// The agent's token leaves admin.tokens: hookwall restarts without it.
	h.restart(t, func(d *configData) { d.AgentToken = "e2e-agent-token-replaced-01" })
	a := h.api(t, http.MethodGet, "/admin/v1/me", agentToken, nil)
	if a.Status != http.StatusUnauthorized {
		t.Fatalf("GET /admin/v1/me with the revoked token = %d %s; want 401", a.Status, a.Body)
	}
	reason := problemDetail(t, a)

	agent.click("Blocked")
	agent.waitText("Signed out: " + reason)
	agent.screenshot("sign-in-revoked")
	agent.wantSignedOut("the 401", agentToken)
	if agent.has("Sign out") {
		agent.fatalf("after the 401 the header still offers Sign out")
	}
}

// TestBrowserKeyboardDialog: a dialog opened from the keyboard closes with
// Escape and gives the focus back to the button that opened it.
func TestBrowserKeyboardDialog(t *testing.T) {
	sharedBrowser(t) // fails or skips before starting anything without Chromium
	h := startHookwall(t, hwOptions{})
	const contact = "Ubrowser-keyboard-01"
	h.line(t, contact, "hello")
	agent := signedIn(t, h, "agent", agentToken)
	agent.waitHeading("Recent contacts")
	agent.click(contact)
	agent.waitHeading("Contact")
	agent.waitText("Not blocked")

	agent.focus("Block")
	agent.press("Enter", kb.Enter)
	agent.waitText("Block contact")
	agent.waitJS("the focus in the dialog", `!!document.activeElement && !!document.activeElement.closest('dialog[open]')`)
	// The dialog's close event comes after the browser's own focus
	// fixup: the focus is checked once the event has been handled.
	eval[any](agent, `document.addEventListener('close', () => { window.__dialogClosed = true; }, true)`)
	agent.press("Escape", kb.Escape)
	agent.waitNoText("Block contact")
	agent.waitJS("the dialog's close event", `window.__dialogClosed === true`)
	if !eval[bool](agent, `!!document.activeElement && document.activeElement.tagName === 'BUTTON' && document.activeElement.textContent === 'Block' && !document.activeElement.closest('dialog')`) {
		agent.fatalf("after Escape the focus is on %s; want the Block button that opened the dialog", eval[string](agent, `document.activeElement ? document.activeElement.tagName + ' ' + document.activeElement.textContent.slice(0, 40) : 'nothing'`))
	}
	if st := h.contact(t, "line-main", contact); st.Blocked {
		t.Errorf("Escape blocked the contact: %+v", st)
	}
}

// wantSignedOut checks that after what the tab shows the sign-in form and
// no longer holds the token.
func (b *tab) wantSignedOut(after, token string) {
	b.one("the field labelled \"Admin token\"", fieldJS("Admin token", ""))
	if s := eval[string](b, `JSON.stringify(sessionStorage)`); strings.Contains(s, token) {
		b.fatalf("after %s sessionStorage still holds the token: %s", after, s)
	}
}
