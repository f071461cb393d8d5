package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hookwall/hookwall/internal/redistest"
	"github.com/hookwall/hookwall/internal/testkit"
)

// TestSIGTERMDrain sends SIGTERM to a hookwall process while deliveries to
// a slow bot are in flight. For shutdown.readiness_delay it keeps serving
// with /readyz failing, so that a load balancer takes it out before its
// listener closes; then it drains and exits 0 within shutdown.grace; and
// nothing it acknowledged is lost: a process started afterwards on the same
// Redis delivers what the first left queued.
func TestSIGTERMDrain(t *testing.T) {
	const (
		hold     = 300 * time.Millisecond // each bot request
		delay    = 3 * time.Second        // shutdown.readiness_delay: room for (a) and (b) on a loaded machine
		grace    = 10 * time.Second       // shutdown.grace
		contacts = 8
		per      = 8
	)
	bin := hookwallBinary(t)
	tp := redistest.StartTopology(t)
	bot := testkit.NewTarget(t, "bot", botKey)
	helpdesk := testkit.NewTarget(t, "helpdesk", helpdeskKey)
	inFlight := make(chan struct{})
	var first sync.Once
	bot.SetAnswer(func(testkit.Request) int {
		first.Do(func() { close(inFlight) })
		time.Sleep(hold) // the slow bot under test, not a wait for a condition
		return http.StatusOK
	})
	dir := t.TempDir()
	d := configData{
		Redis: tp.ConfigYAML(), BotURL: bot.URL(), HelpdeskURL: helpdesk.URL(),
		MaxAttempts: 1000, LeaseTTL: "1s", Grace: grace.String(), ReadinessDelay: delay.String(),
	}
	p := startProcess(t, bin, dir, "draining", d)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	t.Cleanup(client.CloseIdleConnections)
	h := &hw{bot: bot, helpdesk: helpdesk, base: p.base, client: client, idPrefix: "drain-"}

	contactOf := func(c int) string { return fmt.Sprintf("Udrain%02d", c) }
	want := map[string][]string{}
	for c := range contacts {
		events := make([]lineEvent, per)
		for i := range events {
			text := fmt.Sprintf("%s-%02d", contactOf(c), i)
			events[i] = lineEvent{Contact: contactOf(c), ID: h.eventID("ev"), Text: text}
			want[contactOf(c)] = append(want[contactOf(c)], text)
		}
		if got := h.postLine(t, lineBody(t, events...), "").counts(t); got != (counts{Forwarded: per}) {
			t.Fatalf("batch of %s: answer %+v; want forwarded %d", contactOf(c), got, per)
		}
	}
	select {
	case <-inFlight:
	case <-time.After(waitLimit):
		t.Fatal("no delivery reached the bot")
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	termAt := time.Now()

	// (a) /readyz answers 503 while the listener stays open: /healthz
	// answers 200.
	get := func(path string) (int, error) {
		res, err := client.Get(p.base + path)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode, nil
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		status, err := get("/readyz")
		if err != nil {
			t.Fatalf("GET /readyz after SIGTERM: %v; want 503 while the listener stays open for %s", err, delay)
		}
		if status == http.StatusServiceUnavailable {
			break
		}
		if status != http.StatusOK || time.Since(termAt) > waitLimit {
			t.Fatalf("GET /readyz after SIGTERM = %d; want 503", status)
		}
		<-tick.C
	}
	if status, err := get("/healthz"); err != nil || status != http.StatusOK {
		t.Errorf("GET /healthz during the readiness delay = %d, %v; want 200", status, err)
	}

	// (b) a webhook posted during the delay is still accepted.
	late := contactOf(0)
	text := late + "-late"
	ans, err := postLineRaw(client, p.base, lineBody(t, lineEvent{Contact: late, ID: h.eventID("ev"), Text: text}), "")
	if err != nil {
		t.Fatalf("webhook during the readiness delay: %v; want 200", err)
	}
	if got := ans.counts(t); got != (counts{Forwarded: 1}) {
		t.Errorf("webhook during the readiness delay: %+v; want forwarded 1", got)
	}
	want[late] = append(want[late], text)

	// (c) it exits 0 within the readiness delay and the grace.
	select {
	case <-p.done:
		if p.err != nil {
			t.Errorf("exit after SIGTERM: %v; want status 0", p.err)
		}
	case <-time.After(delay + grace - time.Since(termAt)):
		t.Fatalf("still running %s after SIGTERM; want an exit within the readiness delay and the grace", delay+grace)
	}
	if log, err := os.ReadFile(p.log); err != nil {
		t.Error(err)
	} else if strings.Contains(string(log), "did not stop within the grace") {
		t.Errorf("the delivery workers outlived the grace: %s", log)
	}
	exited := time.Since(termAt)
	atExit := len(bot.Delivered())

	// (d) nothing acknowledged is lost: the next process delivers what the
	// first left queued, each contact's messages in order.
	startProcess(t, bin, dir, "after", d)
	bot.WaitUntil(t, 3*waitLimit, "every acknowledged message", func() bool {
		for contact, w := range want {
			if len(firstOrder(texts(bot.Envs(contact)))) < len(w) {
				return false
			}
		}
		return true
	})
	dups := 0
	for contact, w := range want {
		envs := bot.Envs(contact)
		got := firstOrder(texts(envs))
		dups += len(envs) - len(got)
		if !slices.Equal(got, w) {
			t.Errorf("%s: first deliveries\n got %q\nwant %q", contact, got, w)
		}
	}
	t.Logf("%d messages; %d delivered before the exit %s after SIGTERM; %d duplicate deliveries",
		contacts*per+1, atExit, exited.Round(time.Millisecond), dups)
}
