package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// The browser tests drive the console at /console/ in a headless Chromium as
// an operator would: they find fields by their labels and buttons by their
// visible names, click, and assert what the operator then sees, and what the
// bot and the helpdesk received. Each test has its own hookwall, Redis and
// fake targets (startHookwall) and its own tab in a browser context of its
// own (no shared storage); the tests of one binary share one Chromium.
//
// Chromium is /usr/bin/chromium (Debian's package chromium), or the path in
// HOOKWALL_TEST_CHROMIUM. Without it a browser test skips, unless
// HOOKWALL_REQUIRE_BROWSER is set, as scripts/test does: there it fails.
//
// HOOKWALL_SCREENSHOTS=1 makes tab.screenshot write docs/console/NAME-phone.png
// (390x844) and NAME-desktop.png (1280x900), the pictures the documentation
// shows. Refresh them all with
//
//	HOOKWALL_SCREENSHOTS=1 GOEXPERIMENT=jsonv2 go test -count=1 -run Browser ./cmd/hookwall/

const (
	chromiumEnv       = "HOOKWALL_TEST_CHROMIUM"
	requireBrowserEnv = "HOOKWALL_REQUIRE_BROWSER"
	screenshotsEnv    = "HOOKWALL_SCREENSHOTS"
	defaultChromium   = "/usr/bin/chromium"
)

// Viewports of the tests and the screenshots.
var (
	desktopSize = [2]int64{1280, 900}
	phoneSize   = [2]int64{390, 844}
)

// shared is the one Chromium of the test binary, started by the first browser
// test and stopped by TestMain.
var shared struct {
	once   sync.Once
	ctx    context.Context // a chromedp context with a running browser
	cancel func()          // stops the browser
	dir    string          // its --user-data-dir
	out    lockedBuffer    // what Chromium printed, for a failed start
	err    error
}

// lockedBuffer is a bytes.Buffer for Chromium's output, written by
// chromedp's goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 64<<10 {
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// chromiumPath returns the Chromium the tests use. When it is missing the
// test skips, or fails under scripts/test (HOOKWALL_REQUIRE_BROWSER).
func chromiumPath(t *testing.T) string {
	t.Helper()
	p := os.Getenv(chromiumEnv)
	if p == "" {
		p = defaultChromium
	}
	if fi, err := os.Stat(p); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		msg := fmt.Sprintf("the browser tests need Chromium at %s: install it (Debian/Ubuntu: sudo apt-get install chromium) or set %s", p, chromiumEnv)
		if os.Getenv(requireBrowserEnv) != "" {
			t.Fatal(msg)
		}
		t.Skip(msg + "; skipping (" + requireBrowserEnv + " is not set)")
	}
	return p
}

// sharedBrowser starts the binary's Chromium on first use and returns its
// context.
func sharedBrowser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath(t)
	shared.once.Do(func() {
		if shared.dir, shared.err = os.MkdirTemp("", "hookwall-chromium-"); shared.err != nil {
			return
		}
		// The flags the machines' Chromium needs: without the background
		// networking ones it tries Google's hosts, which a closed network
		// refuses, at every start.
		opts := []chromedp.ExecAllocatorOption{
			chromedp.ExecPath(path),
			chromedp.UserDataDir(shared.dir),
			chromedp.Headless,
			chromedp.NoSandbox,
			chromedp.DisableGPU,
			chromedp.NoFirstRun,
			chromedp.NoDefaultBrowserCheck,
			chromedp.Flag("disable-quic", true),
			chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true),
			chromedp.Flag("disable-extensions", true),
			chromedp.Flag("disable-default-apps", true),
			chromedp.Flag("disable-dev-shm-usage", true),
			chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter"),
			chromedp.Flag("metrics-recording-only", true),
			chromedp.Flag("password-store", "basic"),
			chromedp.Flag("force-color-profile", "srgb"),
			chromedp.WindowSize(int(desktopSize[0]), int(desktopSize[1])),
			chromedp.CombinedOutput(&shared.out),
		}
		actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		bctx, cancelBrowser := chromedp.NewContext(actx)
		shared.cancel = func() { cancelBrowser(); cancelAlloc() }
		// The first Do starts the browser and binds it to bctx, which has
		// no deadline; the start itself is bounded here.
		started := make(chan error, 1)
		go func() { started <- chromedp.Do(bctx) }()
		select {
		case shared.err = <-started:
		case <-time.After(60 * time.Second):
			shared.err = errors.New("no answer within 60s")
		}
		if shared.err != nil {
			shared.err = fmt.Errorf("starting %s: %w\n%s", path, shared.err, shared.out.String())
			return
		}
		shared.ctx = bctx
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.ctx
}

// stopBrowser stops the shared Chromium, if a test started it; TestMain calls
// it after the tests.
func stopBrowser() {
	if shared.cancel != nil {
		shared.cancel()
	}
	if shared.dir != "" {
		_ = os.RemoveAll(shared.dir)
	}
}

// tab is one browser tab on a hookwall's console, in a browser context of its
// own.
type tab struct {
	t    *testing.T
	h    *hw
	ctx  context.Context
	name string // for messages: "agent", "supervisor", ...
	// allowViolations is set by a test that provokes a policy violation
	// on purpose.
	allowViolations bool

	log *consoleLog
}

// consoleLog is what a tab's page wrote to its console.
type consoleLog struct {
	mu   sync.Mutex
	msgs []chromedp.ConsoleMessage
}

// in is the tab for a subtest: failures are the subtest's.
func (b *tab) in(t *testing.T) *tab {
	c := *b
	c.t = t
	return &c
}

// openTab opens a new tab, at the desktop size, on nothing yet; name tells
// tabs apart in failure messages. Uncaught exceptions and Content Security
// Policy or Trusted Types violations in the tab fail the test.
func openTab(t *testing.T, h *hw, name string) *tab {
	t.Helper()
	bctx := sharedBrowser(t)
	ctx, cancel := chromedp.NewContext(bctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	b := &tab{t: t, h: h, ctx: ctx, name: name, log: &consoleLog{}}
	// The first Do opens the tab and ties its life to the context it is
	// given: that must be ctx itself, not one with a deadline.
	opened := make(chan error, 1)
	go func() { opened <- chromedp.Do(ctx) }()
	select {
	case err := <-opened:
		if err != nil {
			t.Fatalf("opening a tab: %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatalf("opening a tab: no answer within %s", waitLimit)
	}
	b.do("setting the desktop size", chromedp.EmulateViewport(desktopSize[0], desktopSize[1]))
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			b.log.mu.Lock()
			b.log.msgs = append(b.log.msgs, m)
			b.log.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		b.flushConsole()
		b.log.mu.Lock()
		defer b.log.mu.Unlock()
		for _, m := range b.log.msgs {
			if m.Text == flushMark {
				continue
			}
			if m.IsException() || (!b.allowViolations && isPolicyViolation(m.Text)) {
				t.Errorf("%s tab: %s at %s:%d", b.name, m.Text, m.URL, m.Line+1)
			}
		}
		if t.Failed() && len(b.log.msgs) > 0 {
			var s strings.Builder
			for _, m := range b.log.msgs {
				if m.Text == flushMark {
					continue
				}
				fmt.Fprintf(&s, "  %s: %s\n", m.Type, m.Text)
			}
			t.Logf("%s tab's console:\n%s", b.name, s.String())
		}
	})
	return b
}

// flushMark is the console message flushConsole waits for.
const flushMark = "hookwall-test: console flushed"

// flushConsole writes a mark to the page's console and waits, briefly, until
// it is in the log: the page's messages before it are then in too.
func (b *tab) flushConsole() {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`console.debug(`+jsString(flushMark)+`)`)); err != nil {
		return // the tab is gone: what it logged is all there is
	}
	for ctx.Err() == nil {
		b.log.mu.Lock()
		seen := slices.ContainsFunc(b.log.msgs, func(m chromedp.ConsoleMessage) bool { return m.Text == flushMark })
		b.log.mu.Unlock()
		if seen {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// isPolicyViolation tells the browser's reports of a refused script, style or
// markup assignment.
func isPolicyViolation(text string) bool {
	for _, s := range []string{"Content Security Policy", "TrustedHTML", "TrustedScript", "Trusted Type"} {
		if strings.Contains(text, s) {
			return true
		}
	}
	return false
}

// do runs actions on the tab, bounded by waitLimit, and fails the test with
// what the screen shows when they fail.
func (b *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, waitLimit)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fatalf("%s: %v", what, err)
	}
}

// fatalf fails the test, adding the text the tab shows.
func (b *tab) fatalf(format string, args ...any) {
	b.t.Helper()
	b.t.Fatalf("%s tab: %s\nthe screen shows:\n%s", b.name, fmt.Sprintf(format, args...), indent(b.screenText()))
}

// screenText is the visible text of the page, for failure messages.
func (b *tab) screenText() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : "(no body)"`))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	if len(s) > 3000 {
		s = s[:3000] + "\n..."
	}
	return s
}

func indent(s string) string {
	return "  | " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  | ")
}

// eval evaluates a JavaScript expression in the page and decodes its value.
// Runtime.evaluate is the debugger's: the page's CSP does not apply to it.
func eval[T any](b *tab, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, waitLimit)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// waitJS waits until the expression is true, polling; what names the
// condition in the failure message.
func (b *tab) waitJS(what, expr string) {
	b.t.Helper()
	deadline := time.Now().Add(waitLimit)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+expr+")"))
		cancel()
		if err == nil && ok {
			return
		}
		last = err
		if time.Now().After(deadline) {
			if last != nil {
				b.fatalf("timed out after %s waiting for %s (last error: %v)", waitLimit, what, last)
			}
			b.fatalf("timed out after %s waiting for %s", waitLimit, what)
		}
		select {
		case <-tick.C:
		case <-b.ctx.Done():
			b.fatalf("waiting for %s: %v", what, b.ctx.Err())
		}
	}
}

// jsString is s as a JavaScript string literal.
func jsString(s string) string {
	j, _ := json.Marshal(s) // escapes <, > and &, and U+2028/9
	return string(j)
}

// open loads the console's page.
func (b *tab) open() {
	b.t.Helper()
	b.do("opening the console", chromedp.Navigate(b.h.base+"/console/"))
}

// signIn signs in as a person does: the token into the field labelled
// "Admin token", then "Sign in".
func (b *tab) signIn(token string) {
	b.t.Helper()
	b.fill("Admin token", token)
	b.click("Sign in")
}

// visibleText is true while the page shows text (innerText: rendered text
// only, nothing display:none or in a closed dialog).
func visibleText(text string) string {
	return `document.body && document.body.innerText.includes(` + jsString(text) + `)`
}

// waitText waits until the page shows the text.
func (b *tab) waitText(text string) {
	b.t.Helper()
	b.waitJS(fmt.Sprintf("the text %q", text), visibleText(text))
}

// waitNoText waits until the page no longer shows the text.
func (b *tab) waitNoText(text string) {
	b.t.Helper()
	b.waitJS(fmt.Sprintf("the text %q to go", text), "!("+visibleText(text)+")")
}

// waitHeading waits until the screen's main heading (h1) is text: the
// screen a click led to is there.
func (b *tab) waitHeading(text string) {
	b.t.Helper()
	b.waitJS(fmt.Sprintf("the heading %q", text),
		`[...document.querySelectorAll('h1')].some(h => h.checkVisibility() && h.textContent.replace(/\s+/g, ' ').trim() === `+jsString(text)+`)`)
}

// waitRow waits until one row of a list (a table row or a list item) shows
// all the texts.
func (b *tab) waitRow(texts ...string) {
	b.t.Helper()
	want, _ := json.Marshal(texts)
	b.waitJS(fmt.Sprintf("a row showing %q", texts),
		`[...document.querySelectorAll('tr, li')].some(r => r.checkVisibility() && `+string(want)+`.every(s => r.innerText.includes(s)))`)
}

// finderJS is the body of the lookups: it defines the helpers a person's eye
// stands for. An element counts when it is rendered, visible and, while a
// modal dialog is open, inside that dialog (the rest of the page is inert);
// its name is its accessible name, approximated: aria-label,
// aria-labelledby, its label's text (form controls), its value (input
// buttons), else its text.
const finderJS = `
const norm = s => (s || '').replace(/\s+/g, ' ').trim();
const shown = e => e.checkVisibility({visibilityProperty: true, opacityProperty: true}) && e.getClientRects().length > 0;
const modals = [...document.querySelectorAll('dialog[open]')].filter(d => d.matches(':modal'));
const root = modals.length ? modals[modals.length - 1] : document;
const nameOf = e => {
  const label = norm(e.getAttribute('aria-label'));
  if (label) return label;
  const by = e.getAttribute('aria-labelledby');
  if (by) return norm(by.split(/\s+/).map(id => (document.getElementById(id) || {}).textContent).join(' '));
  if (e.labels && e.labels.length && !['submit', 'button', 'reset'].includes(e.type)) return norm([...e.labels].map(l => l.textContent).join(' '));
  if (e.tagName === 'INPUT') return norm(e.value);
  return norm(e.textContent);
};
const closest = (els, scope) => {
  if (!scope) return els;
  let best = [], bestDist = Infinity;
  for (const e of els) {
    let d = 0, a = e;
    while (a && !(a.innerText || '').includes(scope)) { a = a.parentElement; d++; }
    if (!a) continue;
    if (d < bestDist) { best = [e]; bestDist = d; } else if (d === bestDist) best.push(e);
  }
  return best;
};
`

// controlsCSS are the elements a person clicks.
const controlsCSS = `button, a[href], summary, input[type=submit], input[type=button], input[type=reset], input[type=checkbox], input[type=radio], [role=button], [role=link], [role=tab], [role=menuitem], [role=switch], [role=checkbox], [role=radio], [role=option]`

// controlJS is an expression giving the enabled, visible controls named name;
// with scope, only those nearest the text scope (its row, card or dialog).
func controlJS(name, scope string) string {
	return `(() => {` + finderJS + `
const want = ` + jsString(name) + `;
const els = [...root.querySelectorAll(` + jsString(controlsCSS) + `)].filter(e => shown(e) && !e.disabled && e.getAttribute('aria-disabled') !== 'true' && nameOf(e) === want);
return closest(els, ` + jsString(scope) + `);
})()`
}

// fieldJS is an expression giving the visible form fields labelled label
// (a <label> or aria-label / aria-labelledby).
func fieldJS(label, scope string) string {
	return `(() => {` + finderJS + `
const want = ` + jsString(label) + `;
const els = [...root.querySelectorAll('input, textarea, select, [contenteditable=true], [role=textbox], [role=combobox]')].filter(e => shown(e) && nameOf(e) === want);
return closest(els, ` + jsString(scope) + `);
})()`
}

// one waits until the lookup finds exactly one element, and returns it; more
// than one is ambiguous for a person too, and fails.
func (b *tab) one(what, expr string) *chromedp.Node {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, waitLimit)
	defer cancel()
	nodes, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.JSPath(expr), chromedp.NodeVisible))
	if err != nil {
		if ctx.Err() != nil {
			b.fatalf("timed out after %s waiting for %s", waitLimit, what)
		}
		b.fatalf("finding %s: %v", what, err)
	}
	if len(nodes) > 1 {
		var s []string
		for _, n := range nodes {
			s = append(s, n.FullXPath())
		}
		b.fatalf("%d elements are %s: %s", len(nodes), what, strings.Join(s, ", "))
	}
	return nodes[0]
}

// click clicks the control (button, link, tab, checkbox...) whose visible name
// is name, as a mouse does.
func (b *tab) click(name string) {
	b.t.Helper()
	b.clickIn("", name)
}

// clickIn clicks the control named name nearest the text scope: the "Unblock"
// of one contact's row, say.
func (b *tab) clickIn(scope, name string) {
	b.t.Helper()
	what := fmt.Sprintf("the control %q", name)
	if scope != "" {
		what += fmt.Sprintf(" by %q", scope)
	}
	n := b.one(what, controlJS(name, scope))
	b.do("clicking "+what, chromedp.MouseClickNode(n))
}

// has reports whether a control named name is on the screen now.
func (b *tab) has(name string) bool {
	b.t.Helper()
	return eval[int](b, controlJS(name, "")+".length") > 0
}

// fill types text into the field labelled label, replacing what it held.
func (b *tab) fill(label, text string) {
	b.t.Helper()
	b.fillIn("", label, text)
}

// fillIn is fill for the field nearest the text scope.
func (b *tab) fillIn(scope, label, text string) {
	b.t.Helper()
	what := fmt.Sprintf("the field labelled %q", label)
	n := b.one(what, fieldJS(label, scope))
	b.do("typing into "+what,
		chromedp.MouseClickNode(n),
		chromedp.Evaluate[chromedp.Void](`(() => { const e = document.activeElement; if (e && e.select) e.select(); })()`),
		chromedp.KeyEventNode(n, text),
	)
}

// navigate loads a URL in the tab and returns the browser's view of the
// response to it.
func (b *tab) navigate(url string) *network.Response {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, waitLimit)
	defer cancel()
	res, err := chromedp.Run(ctx, chromedp.NavigateResponse(url))
	if err != nil {
		b.fatalf("navigating to %s: %v", url, err)
	}
	return res
}

// screenshot saves the screen as docs/console/NAME-phone.png and
// NAME-desktop.png when HOOKWALL_SCREENSHOTS is set: the whole page, or the
// viewport while a modal dialog is open. The tab is left at the desktop
// size.
func (b *tab) screenshot(name string) {
	b.t.Helper()
	if os.Getenv(screenshotsEnv) == "" {
		return
	}
	dir := filepath.Join("..", "..", "docs", "console")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	for _, v := range []struct {
		suffix string
		size   [2]int64
		opts   []chromedp.EmulateViewportOption
	}{
		{"phone", phoneSize, []chromedp.EmulateViewportOption{chromedp.EmulateMobile, chromedp.EmulateScale(2)}},
		{"desktop", desktopSize, nil},
	} {
		b.do("resizing to "+v.suffix,
			chromedp.EmulateViewport(v.size[0], v.size[1], v.opts...),
			// Two frames: the layout of the new size is painted.
			chromedp.Evaluate[chromedp.Void](`new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))`, chromedp.EvalAwaitPromise),
		)
		// The whole page, unless a modal dialog is open: its backdrop
		// covers the viewport only, and the page below would look live.
		shot := chromedp.FullScreenshot(100)
		if eval[bool](b, `!!document.querySelector('dialog[open]:modal')`) {
			shot = chromedp.CaptureScreenshot()
		}
		ctx, cancel := context.WithTimeout(b.ctx, waitLimit)
		png, err := chromedp.Run(ctx, shot)
		cancel()
		if err != nil {
			b.fatalf("screenshot %s: %v", name, err)
		}
		file := filepath.Join(dir, name+"-"+v.suffix+".png")
		if err := os.WriteFile(file, png, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
	b.do("restoring the desktop size", chromedp.EmulateViewport(desktopSize[0], desktopSize[1]))
}

// choose picks the option shown as option in the select labelled label, as
// a person's choice in the list does: the select's value changes and it
// fires input and change.
func (b *tab) choose(label, option string) {
	b.t.Helper()
	b.one(fmt.Sprintf("the field labelled %q", label), fieldJS(label, ""))
	got := eval[string](b, `(() => {
const s = `+fieldJS(label, "")+`[0];
const o = [...s.options].find(o => o.textContent.trim() === `+jsString(option)+`);
if (!o) return 'no option';
s.value = o.value;
s.dispatchEvent(new Event('input', {bubbles: true}));
s.dispatchEvent(new Event('change', {bubbles: true}));
return 'ok';
})()`)
	if got != "ok" {
		b.fatalf("the field labelled %q has no option %q", label, option)
	}
}

// setValue sets the value of the field labelled label, for the fields a
// person fills with a picker (date and time) rather than by typing, and
// fires input and change.
func (b *tab) setValue(label, value string) {
	b.t.Helper()
	b.one(fmt.Sprintf("the field labelled %q", label), fieldJS(label, ""))
	eval[any](b, `(() => {
const e = `+fieldJS(label, "")+`[0];
e.value = `+jsString(value)+`;
e.dispatchEvent(new Event('input', {bubbles: true}));
e.dispatchEvent(new Event('change', {bubbles: true}));
})()`)
}

// focus moves the keyboard focus to the control named name, as Tab does.
func (b *tab) focus(name string) {
	b.t.Helper()
	b.one(fmt.Sprintf("the control %q", name), controlJS(name, ""))
	eval[any](b, controlJS(name, "")+`[0].focus()`)
}

// press presses keys (kb.Enter, kb.Escape...) on what has the focus.
func (b *tab) press(what, keys string) {
	b.t.Helper()
	b.do("pressing "+what, chromedp.KeyEvent(keys))
}
