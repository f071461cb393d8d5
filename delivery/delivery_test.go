package delivery_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookwall/hookwall/internal/redistest"

	"github.com/hookwall/hookwall/blocklist"
	"github.com/hookwall/hookwall/blocklist/blocks"
	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/hookwall/hookwall/delivery"
	"github.com/hookwall/hookwall/internal/testkit"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

func TestEnvelope(t *testing.T) {
	redistest.Parallel(t)
	raw, err := os.ReadFile("testdata/line_text_event.json")
	if err != nil {
		t.Fatal(err)
	}
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	tests := []struct {
		name     string
		channel  string
		block    bool // block the contact with action record before the message
		target   string
		route    string
		queue    string
		auto     bool
		blocked  bool
		key      string // the target's key; "" for an unsigned target
		otherKey string
	}{
		{name: "forwarded to the bot", channel: lineMain, target: "bot", route: "bot", queue: "bot", auto: true, key: botKey, otherKey: helpdeskKey},
		{name: "forwarded to the helpdesk without a bot", channel: waMain, target: "helpdesk", route: "helpdesk", queue: "unassigned", auto: true},
		{name: "recorded while blocked", channel: lineMain, block: true, target: "helpdesk", route: "helpdesk", queue: "unassigned", blocked: true, key: helpdeskKey, otherKey: botKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSetup(t)
			bot, helpdesk := testkit.NewTarget(t, "bot", ""), testkit.NewTarget(t, "helpdesk", "")
			hdKey := helpdeskKey
			if tc.channel == waMain {
				hdKey = ""
			}
			channels := map[string]delivery.Targets{
				lineMain: {Bot: &delivery.Target{URL: bot.URL(), Secret: botKey}, Helpdesk: delivery.Target{URL: helpdesk.URL(), Secret: helpdeskKey}},
				waMain:   {Helpdesk: delivery.Target{URL: helpdesk.URL(), Secret: hdKey}},
			}
			const contact = "U4af4980629a8b8a4c6f3e2d1c0b9a8f7"
			var conv string
			if tc.block {
				// A conversation first, then the block that ends it.
				first := s.ingest(t, msg{channel: tc.channel, contact: contact, text: "before"})
				conv = first[0].Conversation
				if _, err := s.store.Block(t.Context(), blocks.BlockRequest{
					Channel: tc.channel, Contact: contact, Action: blocks.ActionRecord, Actor: "alice",
				}); err != nil {
					t.Fatalf("Block: %v", err)
				}
			}
			out := s.ingest(t, msg{channel: tc.channel, contact: contact, text: "hello", raw: raw, traceParent: tp})
			if !tc.block {
				conv = out[0].Conversation
			}
			start(t, testConfig("a", channels), s.store)

			ft := bot
			if tc.target == "helpdesk" {
				ft = helpdesk
			}
			r := ft.WaitRequest(t, "the message hello", func(r testkit.Request) bool {
				return r.Env.Type == "message" && r.Env.Text() == "hello"
			})

			// The envelope's fields, exactly those of the contract.
			var fields map[string]json.RawMessage
			if err := json.Unmarshal(r.Body, &fields); err != nil {
				t.Fatal(err)
			}
			keys := slices.Sorted(func(yield func(string) bool) {
				for k := range fields {
					if !yield(k) {
						return
					}
				}
			})
			wantKeys := []string{"automation", "blocked", "channel", "channel_type", "contact", "conversation", "id", "message", "queue", "raw", "received_at", "route", "type"}
			if !slices.Equal(keys, wantKeys) {
				t.Errorf("envelope fields = %v, want %v", keys, wantKeys)
			}
			e := r.Env
			chType := map[string]string{lineMain: "line", waMain: "whatsapp"}[tc.channel]
			if e.ID != out[0].Envelope || e.Type != "message" || e.Channel != tc.channel || e.ChannelType != chType ||
				e.Contact != contact || e.Conversation != conv || conv == "" || e.Route != tc.route || e.Queue != tc.queue ||
				e.Automation != tc.auto || e.Blocked != tc.blocked {
				t.Errorf("envelope = %+v\nwant id %s, channel %s (%s), conversation %s, route %s, queue %s, automation %v, blocked %v",
					e, out[0].Envelope, tc.channel, chType, conv, tc.route, tc.queue, tc.auto, tc.blocked)
			}
			if !e.ReceivedAt.Equal(receivedAt) || !strings.HasSuffix(string(fields["received_at"]), `Z"`) {
				t.Errorf("received_at = %s, want %s in UTC", fields["received_at"], receivedAt.Format(time.RFC3339Nano))
			}
			if got := e.Text(); got != "hello" {
				t.Errorf("message text = %q, want hello", got)
			}
			// raw is the platform's event, unchanged: the same JSON value,
			// numbers and all.
			if !sameJSON(t, e.Raw, raw) {
				t.Errorf("raw = %s\nwant %s", e.Raw, raw)
			}

			// Headers: Standard Webhooks, webhook-id is the envelope id.
			h := r.Header
			if got := h.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q", got)
			}
			if got := h.Get(standardwebhooks.HeaderWebhookID); got != e.ID {
				t.Errorf("webhook-id = %q, want envelope id %q", got, e.ID)
			}
			if ts, err := strconv.ParseInt(h.Get(standardwebhooks.HeaderWebhookTimestamp), 10, 64); err != nil || time.Since(time.Unix(ts, 0)).Abs() > time.Minute {
				t.Errorf("webhook-timestamp = %q, want the current unix time", h.Get(standardwebhooks.HeaderWebhookTimestamp))
			}
			if got := h.Get("traceparent"); got != tp {
				t.Errorf("traceparent = %q, want %q", got, tp)
			}
			if tc.key == "" {
				if sig, ok := h[http.CanonicalHeaderKey(standardwebhooks.HeaderWebhookSignature)]; ok {
					t.Errorf("unsigned target got webhook-signature %q", sig)
				}
				return
			}
			wh, err := standardwebhooks.NewWebhook(tc.key)
			if err != nil {
				t.Fatal(err)
			}
			if err := wh.Verify(r.Body, h); err != nil {
				t.Errorf("signature does not verify with the target's key: %v", err)
			}
			other, _ := standardwebhooks.NewWebhook(tc.otherKey)
			if err := other.Verify(r.Body, h); err == nil {
				t.Error("signature verifies with another target's key")
			}
		})
	}
}

// TestBlockNotices checks the lifecycle notices of a block: to the helpdesk,
// in order after the contact's earlier message, with their data.
func TestBlockNotices(t *testing.T) {
	redistest.Parallel(t)
	s := newSetup(t)
	bot, helpdesk := testkit.NewTarget(t, "bot", ""), testkit.NewTarget(t, "helpdesk", "")
	channels := map[string]delivery.Targets{
		lineMain: {Bot: &delivery.Target{URL: bot.URL(), Secret: botKey}, Helpdesk: delivery.Target{URL: helpdesk.URL(), Secret: helpdeskKey}},
	}
	const contact = "Ublocked"
	first := s.ingest(t, msg{channel: lineMain, contact: contact, text: "hi"})
	if _, err := s.store.Block(t.Context(), blocks.BlockRequest{
		Channel: lineMain, Contact: contact, Note: "spam", Action: blocks.ActionRecord, Actor: "alice",
	}); err != nil {
		t.Fatalf("Block: %v", err)
	}
	start(t, testConfig("a", channels), s.store)

	if got := bot.WaitDelivered(t, 1)[0].Env; got.Text() != "hi" {
		t.Errorf("bot got %+v, want the message hi", got)
	}
	hd := helpdesk.WaitDelivered(t, 2)
	wh, _ := standardwebhooks.NewWebhook(helpdeskKey)
	for i, want := range []string{"conversation.ended", "contact.blocked"} {
		e := hd[i].Env
		var members map[string]json.RawMessage
		if err := json.Unmarshal(hd[i].Body, &members); err != nil {
			t.Fatal(err)
		}
		_, message := members["message"] // not even null
		if e.Type != want || e.Channel != lineMain || e.ChannelType != "line" || e.Contact != contact ||
			e.Conversation != first[0].Conversation || e.Route != "helpdesk" || e.Queue != "unassigned" ||
			e.Automation || !e.Blocked || len(e.Data) == 0 || e.Raw != nil || message {
			t.Errorf("notice %d = %+v, want %s", i, e, want)
		}
		if err := wh.Verify(hd[i].Body, hd[i].Header); err != nil {
			t.Errorf("notice %d: signature: %v", i, err)
		}
	}
	var entry blocks.Entry
	if err := json.Unmarshal(hd[1].Env.Data, &entry); err != nil || entry.Note != "spam" || entry.Action != blocks.ActionRecord {
		t.Errorf("contact.blocked data = %s (%v), want the block entry", hd[1].Env.Data, err)
	}
}

func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	da, db := json.NewDecoder(bytes.NewReader(a)), json.NewDecoder(bytes.NewReader(b))
	da.UseNumber()
	db.UseNumber()
	if err := da.Decode(&va); err != nil {
		t.Fatalf("decoding %s: %v", a, err)
	}
	if err := db.Decode(&vb); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	return reflect.DeepEqual(va, vb)
}

// TestOrderPerContact delivers many contacts' messages with several contacts
// of a shard at once: each contact's messages arrive in order, each exactly
// once.
func TestOrderPerContact(t *testing.T) {
	redistest.Parallel(t)
	const contacts, perContact = 20, 30
	s := newSetup(t)
	bot := testkit.NewTarget(t, "bot", "")
	channels := oneTarget(bot.URL())
	shards := map[int]int{}
	batch := func(from, to int) {
		var msgs []msg
		for i := from; i < to; i++ {
			for c := range contacts {
				msgs = append(msgs, msg{channel: lineMain, contact: fmt.Sprintf("U%02d", c), text: strconv.Itoa(i)})
			}
		}
		s.ingest(t, msgs...)
	}
	for c := range contacts {
		shards[store.BucketOf(lineMain, fmt.Sprintf("U%02d", c))]++
	}
	if len(shards) == contacts {
		t.Fatal("no two contacts share a shard: the test would not deliver contacts of one shard in parallel")
	}
	// Half before the deliverer starts, half while it runs; small batches so
	// a contact's messages span several reads.
	batch(0, perContact/2)
	cfg := testConfig("a", channels)
	cfg.BatchSize = 16
	r := start(t, cfg, s.store)
	batch(perContact/2, perContact)

	got := bot.WaitDelivered(t, contacts*perContact)
	r.stop(t)
	seq := map[string][]string{}
	for _, rq := range got {
		seq[rq.Env.Contact] = append(seq[rq.Env.Contact], rq.Env.Text())
	}
	for c := range contacts {
		contact := fmt.Sprintf("U%02d", c)
		var want []string
		for i := range perContact {
			want = append(want, strconv.Itoa(i))
		}
		if !slices.Equal(seq[contact], want) {
			t.Errorf("contact %s got %v, want %v", contact, seq[contact], want)
		}
	}
	if n := len(bot.Requests()); n != contacts*perContact {
		t.Errorf("target got %d requests after Run returned, want %d (each message once)", n, contacts*perContact)
	}
	if d := s.depth(t); d != 0 {
		t.Errorf("%d entries left on the queue, want 0", d)
	}
}

// TestRetry has the target fail three times: the fourth attempt delivers,
// every attempt carries the same envelope, signed, after a backoff.
func TestRetry(t *testing.T) {
	redistest.Parallel(t)
	s := newSetup(t)
	bot := testkit.NewTarget(t, "bot", "")
	bot.SetAnswer(func(r testkit.Request) int {
		if r.N < 3 {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	})
	channels := map[string]delivery.Targets{
		lineMain: {Bot: &delivery.Target{URL: bot.URL(), Secret: botKey}, Helpdesk: delivery.Target{URL: bot.URL()}},
	}
	out := s.ingest(t, msg{channel: lineMain, contact: "Uretry", text: "again"})
	obs := newObserver()
	cfg := testConfig("a", channels)
	cfg.BackoffMin = 20 * time.Millisecond
	cfg.Observer = obs
	r := start(t, cfg, s.store)

	bot.WaitDelivered(t, 1)
	r.stop(t)
	reqs := bot.Requests()
	if len(reqs) != 4 {
		t.Fatalf("target got %d requests, want 4", len(reqs))
	}
	wh, _ := standardwebhooks.NewWebhook(botKey)
	for i, rq := range reqs {
		if got := rq.Header.Get(standardwebhooks.HeaderWebhookID); got != out[0].Envelope || rq.Env.ID != out[0].Envelope {
			t.Errorf("attempt %d: webhook-id %q, envelope id %q, want %q", i, got, rq.Env.ID, out[0].Envelope)
		}
		if !bytes.Equal(rq.Body, reqs[0].Body) {
			t.Errorf("attempt %d: body differs from the first attempt's", i)
		}
		if err := wh.Verify(rq.Body, rq.Header); err != nil {
			t.Errorf("attempt %d: signature: %v", i, err)
		}
	}
	if got, want := obs.outcomes(out[0].Envelope), []string{"failed", "failed", "failed", "delivered"}; !slices.Equal(got, want) {
		t.Errorf("observed outcomes %v, want %v", got, want)
	}
	if d := s.depth(t); d != 0 {
		t.Errorf("%d entries left on the queue, want 0", d)
	}
	if dls := s.deadLetters(t); len(dls) != 0 {
		t.Errorf("dead letters %+v, want none", dls)
	}
}

// TestPark spends the retry budget of one message: it is parked with the
// reason and attempts, the contact's later messages are delivered, and a
// retry of the dead letter delivers it with the same id.
func TestPark(t *testing.T) {
	redistest.Parallel(t)
	s := newSetup(t)
	var mu sync.Mutex
	poison := true
	bot := testkit.NewTarget(t, "bot", "")
	bot.SetAnswer(func(r testkit.Request) int {
		mu.Lock()
		defer mu.Unlock()
		if poison && r.Env.Text() == "poison" {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	channels := map[string]delivery.Targets{
		lineMain: {Bot: &delivery.Target{URL: bot.URL(), Secret: botKey}, Helpdesk: delivery.Target{URL: bot.URL()}},
	}
	out := s.ingest(t,
		msg{channel: lineMain, contact: "Upark", text: "poison"},
		msg{channel: lineMain, contact: "Upark", text: "after-1"},
		msg{channel: lineMain, contact: "Upark", text: "after-2"},
	)
	obs := newObserver()
	cfg := testConfig("a", channels)
	cfg.MaxAttempts = 3
	cfg.Observer = obs
	r := start(t, cfg, s.store)

	got := bot.WaitDelivered(t, 2)
	r.stop(t)
	if got[0].Env.Text() != "after-1" || got[1].Env.Text() != "after-2" {
		t.Errorf("delivered %q, %q; want after-1, after-2", got[0].Env.Text(), got[1].Env.Text())
	}
	var texts []string
	for _, rq := range bot.Requests() {
		texts = append(texts, rq.Env.Text())
	}
	if want := []string{"poison", "poison", "poison", "after-1", "after-2"}; !slices.Equal(texts, want) {
		t.Errorf("target got %v, want %v", texts, want)
	}
	if got, want := obs.outcomes(out[0].Envelope), []string{"failed", "failed", "failed", "parked"}; !slices.Equal(got, want) {
		t.Errorf("observed outcomes %v, want %v", got, want)
	}
	dls := s.deadLetters(t)
	if len(dls) != 1 {
		t.Fatalf("dead letters = %+v, want 1", dls)
	}
	dl := dls[0]
	if dl.Delivery.ID != out[0].Envelope || dl.Attempts != 3 || !strings.Contains(dl.Reason, "500") {
		t.Errorf("dead letter = id %s, attempts %d, reason %q; want id %s, 3 attempts, a reason naming the 500", dl.Delivery.ID, dl.Attempts, dl.Reason, out[0].Envelope)
	}
	if d := s.depth(t); d != 0 {
		t.Errorf("%d entries left on the queue, want 0", d)
	}

	mu.Lock()
	poison = false
	mu.Unlock()
	start(t, cfg, s.store)
	if _, err := s.store.RetryDeadLetter(t.Context(), dl.ID, "alice"); err != nil {
		t.Fatalf("RetryDeadLetter: %v", err)
	}
	again := bot.WaitDelivered(t, 3)[2] // after-1 and after-2 came first
	if again.Env.ID != out[0].Envelope || again.Header.Get(standardwebhooks.HeaderWebhookID) != out[0].Envelope || again.Env.Text() != "poison" {
		t.Errorf("retried delivery: envelope %s, webhook-id %s; want %s", again.Env.ID, again.Header.Get(standardwebhooks.HeaderWebhookID), out[0].Envelope)
	}
	if dls := s.deadLetters(t); len(dls) != 0 {
		t.Errorf("dead letters after the retry = %+v, want none", dls)
	}
}

// TestParkUndeliverable parks at once, without an attempt, what no target
// could take.
func TestParkUndeliverable(t *testing.T) {
	redistest.Parallel(t)
	s := newSetup(t)
	helpdesk := testkit.NewTarget(t, "helpdesk", "")
	// line-main is configured in the store with a bot, here without; wa-main
	// is not configured here at all.
	channels := map[string]delivery.Targets{
		lineMain: {Helpdesk: delivery.Target{URL: helpdesk.URL()}},
	}
	out := s.ingest(t,
		msg{channel: lineMain, contact: "Ubot", text: "to the bot"},
		msg{channel: waMain, contact: "Uwa", text: "unknown channel"},
	)
	obs := newObserver()
	cfg := testConfig("a", channels)
	cfg.Observer = obs
	r := start(t, cfg, s.store)

	obs.waitAttempts(t, "parked", 2)
	r.stop(t)
	dls := s.deadLetters(t)
	if len(dls) != 2 {
		t.Fatalf("dead letters = %+v, want 2", dls)
	}
	reasons := map[string]string{}
	for _, dl := range dls {
		if dl.Attempts != 0 {
			t.Errorf("dead letter %s: %d attempts, want 0", dl.ID, dl.Attempts)
		}
		reasons[dl.Delivery.ID] = dl.Reason
	}
	if r := reasons[out[0].Envelope]; !strings.Contains(r, "no enabled bot") {
		t.Errorf("reason for the bot delivery = %q", r)
	}
	if r := reasons[out[1].Envelope]; !strings.Contains(r, "not configured") {
		t.Errorf("reason for the unknown channel = %q", r)
	}
	if n := len(helpdesk.Requests()); n != 0 {
		t.Errorf("target got %d requests, want 0", n)
	}
}

// TestBreaker has the target fail four times with a breaker that opens
// after three: it opens, lets no attempt through while open, tries once
// half-open (fails), opens again, tries again and closes; every message
// arrives, in order.
func TestBreaker(t *testing.T) {
	redistest.Parallel(t)
	s := newSetup(t)
	bot := testkit.NewTarget(t, "bot", "")
	bot.SetAnswer(func(r testkit.Request) int {
		if r.N < 4 {
			return http.StatusBadGateway
		}
		return http.StatusOK
	})
	channels := oneTarget(bot.URL())
	var msgs []msg
	for i := range 5 {
		msgs = append(msgs, msg{channel: lineMain, contact: "Ubreaker", text: strconv.Itoa(i)})
	}
	s.ingest(t, msgs...)

	// The target's request count at each change: nothing reaches the
	// target from open to half-open.
	obs := newObserver()
	var atChange []string // under obs.mu
	obs.onChange = func(from, to string) {
		atChange = append(atChange, fmt.Sprintf("%s->%s@%d", from, to, bot.Count()))
	}
	cfg := testConfig("a", channels)
	cfg.BreakerFailures = 3
	cfg.BreakerOpen = 300 * time.Millisecond
	cfg.MaxAttempts = 100
	cfg.Observer = obs
	r := start(t, cfg, s.store)

	got := bot.WaitDelivered(t, 5)
	obs.waitChange(t, "half-open->closed")
	r.stop(t)
	want := []string{"closed->open@3", "open->half-open@3", "half-open->open@4", "open->half-open@4", "half-open->closed@5"}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if !slices.Equal(atChange, want) {
		t.Errorf("breaker changes (with the target's request count) = %v, want %v", atChange, want)
	}
	for i, rq := range got {
		if rq.Env.Text() != strconv.Itoa(i) {
			t.Errorf("delivery %d is message %q", i, rq.Env.Text())
		}
	}
	if n := bot.Count(); n != 9 {
		t.Errorf("target got %d requests, want 9 (4 failures, then 5 deliveries)", n)
	}
}

// TestBreakerManyContacts opens the breaker under load from many contacts
// of many shards: after the target recovers, every message arrives, in
// order per contact, and the breaker is closed.
func TestBreakerManyContacts(t *testing.T) {
	redistest.Parallel(t)
	s := newSetup(t)
	var mu sync.Mutex
	down := true
	bot := testkit.NewTarget(t, "bot", "")
	bot.SetAnswer(func(r testkit.Request) int {
		mu.Lock()
		defer mu.Unlock()
		if down {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	channels := oneTarget(bot.URL())
	const contacts, perContact = 10, 5
	var msgs []msg
	for i := range perContact {
		for c := range contacts {
			msgs = append(msgs, msg{channel: lineMain, contact: fmt.Sprintf("U%d", c), text: strconv.Itoa(i)})
		}
	}
	s.ingest(t, msgs...)
	obs := newObserver()
	cfg := testConfig("a", channels)
	cfg.BreakerFailures = 3
	cfg.BreakerOpen = 200 * time.Millisecond
	cfg.MaxAttempts = 1000
	cfg.Observer = obs
	r := start(t, cfg, s.store)

	obs.waitChange(t, "closed->open")
	mu.Lock()
	down = false
	mu.Unlock()
	got := bot.WaitDelivered(t, contacts*perContact)
	obs.waitChange(t, "half-open->closed")
	r.stop(t)
	seq := map[string][]string{}
	for _, rq := range got {
		seq[rq.Env.Contact] = append(seq[rq.Env.Contact], rq.Env.Text())
	}
	for c, texts := range seq {
		if !slices.Equal(texts, []string{"0", "1", "2", "3", "4"}) {
			t.Errorf("contact %s got %v, want 0..4 in order", c, texts)
		}
	}
	if dls := s.deadLetters(t); len(dls) != 0 {
		t.Errorf("dead letters = %d, want none", len(dls))
	}
}

// TestTakeoverAfterShutdown stops deliverer a while a contact's message is
// failing: its entries stay pending, and deliverer b, taking the released
// shard over, delivers them in order; what a delivered is not sent again.
func TestTakeoverAfterShutdown(t *testing.T) {
	redistest.Parallel(t)
	s := newSetup(t)
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	var mu sync.Mutex
	phaseA := true
	stuckArrived := make(chan struct{}, 1)
	bot := testkit.NewTarget(t, "bot", "")
	bot.SetAnswer(func(r testkit.Request) int {
		mu.Lock()
		a := phaseA
		mu.Unlock()
		if a && r.Env.Contact == "Ustuck" {
			select {
			case stuckArrived <- struct{}{}:
			default:
			}
			<-release // until a is cancelled
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	t.Cleanup(unblock) // before the target closes
	channels := oneTarget(bot.URL())
	var msgs []msg
	for i := range 5 {
		for _, c := range []string{"Ustuck", "Uother1", "Uother2"} {
			msgs = append(msgs, msg{channel: lineMain, contact: c, text: strconv.Itoa(i)})
		}
	}
	s.ingest(t, msgs...)

	a := start(t, testConfig("a", channels), s.store)
	// a delivers the others' ten messages; Ustuck's first hangs.
	bot.WaitDelivered(t, 10)
	select {
	case <-stuckArrived:
	case <-time.After(deadline):
		t.Fatal("Ustuck's first message did not reach the target")
	}
	a.cancel()
	unblock()
	a.stop(t)
	var stuck int
	for _, rq := range bot.Requests() {
		if rq.Env.Contact == "Ustuck" {
			stuck++
		}
	}
	if stuck != 1 {
		t.Fatalf("target got %d requests of Ustuck from a, want 1", stuck)
	}
	if d := s.depth(t); d != 5 {
		t.Fatalf("%d entries on the queue after a stopped, want Ustuck's 5", d)
	}

	mu.Lock()
	phaseA = false
	mu.Unlock()
	cfg := testConfig("b", channels)
	cfg.LeaseTTL = 500 * time.Millisecond
	b := start(t, cfg, s.store)
	got := bot.WaitDelivered(t, 10+5)[10:] // after a's 10
	b.stop(t)
	for i, rq := range got {
		if rq.Env.Contact != "Ustuck" || rq.Env.Text() != strconv.Itoa(i) {
			t.Errorf("b's delivery %d = %s %q, want Ustuck %d", i, rq.Env.Contact, rq.Env.Text(), i)
		}
	}
	if n := len(bot.Requests()); n != 10+1+5 {
		t.Errorf("target got %d requests in all, want 16: a's 10 and 1 failure, b's 5", n)
	}
	if d := s.depth(t); d != 0 {
		t.Errorf("%d entries left on the queue, want 0", d)
	}
}

// TestTakeoverAfterCrash has replica a read a shard's entries and vanish
// holding the lease: b takes the shard over when the lease expires and
// delivers the pending entries first, then the new ones, in order.
func TestTakeoverAfterCrash(t *testing.T) {
	redistest.Parallel(t)
	s := newSetup(t)
	bot := testkit.NewTarget(t, "bot", "")
	channels := oneTarget(bot.URL())
	const contact = "Ucrash"
	shard := store.BucketOf(lineMain, contact)
	for i := range 3 {
		s.ingest(t, msg{channel: lineMain, contact: contact, text: strconv.Itoa(i)})
	}
	ctx := t.Context()
	if ok, err := s.store.AcquireLease(ctx, shard, "a", 700*time.Millisecond); err != nil || !ok {
		t.Fatalf("AcquireLease a = %v, %v", ok, err)
	}
	read, held, err := s.store.ReadShard(ctx, shard, "a", 100, 0, false)
	if err != nil || !held || len(read) != 3 {
		t.Fatalf("a read %d entries (held %v, %v), want 3", len(read), held, err)
	}
	// a is gone. New messages arrive meanwhile.
	for i := 3; i < 6; i++ {
		s.ingest(t, msg{channel: lineMain, contact: contact, text: strconv.Itoa(i)})
	}
	cfg := testConfig("b", channels)
	cfg.LeaseTTL = 500 * time.Millisecond
	b := start(t, cfg, s.store)

	got := bot.WaitDelivered(t, 6)
	if ok, err := s.store.AcquireLease(ctx, shard, "a", time.Second); err != nil || ok {
		t.Errorf("a could take the lease back while b runs: %v, %v", ok, err)
	}
	b.stop(t)
	for i, rq := range got {
		if rq.Env.Text() != strconv.Itoa(i) {
			t.Errorf("delivery %d is message %q, want %d", i, rq.Env.Text(), i)
		}
	}
	if n := len(bot.Requests()); n != 6 {
		t.Errorf("target got %d requests, want 6", n)
	}
	if d := s.depth(t); d != 0 {
		t.Errorf("%d entries left on the queue, want 0", d)
	}
}

// TestRunStopsPromptly cancels Run while an attempt hangs: Run returns once
// the attempt times out, leaves every undelivered entry queued, gives up its
// leases and leaves no goroutine behind.
func TestRunStopsPromptly(t *testing.T) {
	// Not parallel: it counts every Deliverer goroutine of the process.
	s := newSetup(t)
	hang := make(chan struct{})
	// A hung attempt is abandoned after the timeout; the fake records it
	// only when the test ends, so count arrivals here.
	arrived := make(chan struct{}, 100)
	bot := testkit.NewTarget(t, "bot", "")
	bot.SetAnswer(func(r testkit.Request) int {
		if r.Env.Contact == "Uok" {
			return http.StatusOK
		}
		arrived <- struct{}{}
		<-hang
		return http.StatusOK
	})
	t.Cleanup(func() { close(hang) }) // before the target closes
	channels := oneTarget(bot.URL())
	for i := range 3 {
		s.ingest(t, msg{channel: lineMain, contact: "Uhang", text: strconv.Itoa(i)})
	}
	cfg := testConfig("a", channels)
	cfg.Timeout = 300 * time.Millisecond
	r := start(t, cfg, s.store)
	select {
	case <-arrived:
	case <-time.After(deadline):
		t.Fatal("no attempt reached the target")
	}
	// Uok's delivery, on a second connection while the first hangs, leaves
	// an idle keep-alive connection behind.
	s.ingest(t, msg{channel: lineMain, contact: "Uok", text: "fine"})
	bot.WaitDelivered(t, 1)
	r.cancel()
	// Bounded by the attempt timeout and the shard read's one-second block.
	bound := cfg.Timeout + time.Second + 2*time.Second
	select {
	case <-r.done:
	case <-time.After(bound):
		t.Fatalf("Run did not return within %s of cancel", bound)
	}

	if d := s.depth(t); d != 3 {
		t.Errorf("%d entries on the queue after Run returned, want 3", d)
	}
	for shard := range store.Buckets {
		if ok, err := s.store.AcquireLease(t.Context(), shard, "next", time.Second); err != nil || !ok {
			t.Errorf("shard %d: lease not given up (%v, %v)", shard, ok, err)
		}
	}
	waitNoGoroutines(t, "hookwall/delivery.(*Deliverer)", "net/http.(*persistConn)")
}

// waitNoGoroutines waits until no goroutine runs in a function whose name
// contains one of names; Run has returned, so its goroutines are ending.
func waitNoGoroutines(t *testing.T, names ...string) {
	t.Helper()
	timeout := time.After(deadline)
	for {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		var left []string
		for g := range strings.SplitSeq(stacks, "\n\n") {
			for _, n := range names {
				if strings.Contains(g, n) {
					left = append(left, g)
					break
				}
			}
		}
		if len(left) == 0 {
			return
		}
		select {
		case <-timeout:
			t.Fatalf("goroutines left after Run returned:\n%s", strings.Join(left, "\n\n"))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestNew(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	store := &blocklist.Store{}
	ok := delivery.Targets{Helpdesk: delivery.Target{URL: "http://127.0.0.1:9/h"}}
	tests := []struct {
		name string
		cfg  delivery.Config
		q    delivery.Queue
		want string
	}{
		{"valid", delivery.Config{Owner: "a", Channels: map[string]delivery.Targets{"c": ok}}, store, ""},
		{"nil queue", delivery.Config{Owner: "a"}, nil, "nil dependency"},
		{"no owner", delivery.Config{}, store, "owner is required"},
		{"backoff order", delivery.Config{Owner: "a", BackoffMin: time.Minute, BackoffMax: time.Second}, store, "exceeds max"},
		{"tiny lease", delivery.Config{Owner: "a", LeaseTTL: time.Millisecond}, store, "lease ttl"},
		{"relative url", delivery.Config{Owner: "a", Channels: map[string]delivery.Targets{
			"c": {Helpdesk: delivery.Target{URL: "/hook"}}}}, store, `channel "c" helpdesk: url`},
		{"ftp url", delivery.Config{Owner: "a", Channels: map[string]delivery.Targets{
			"c": {Helpdesk: delivery.Target{URL: "ftp://h/x"}}}}, store, `channel "c" helpdesk: url`},
		{"host list", delivery.Config{Owner: "a", Channels: map[string]delivery.Targets{
			"c": {Helpdesk: delivery.Target{URL: "https://a.example,b.example/x"}}}}, store, `channel "c" helpdesk: url`},
		{"bad secret", delivery.Config{Owner: "a", Channels: map[string]delivery.Targets{
			"c": {Helpdesk: ok.Helpdesk, Bot: &delivery.Target{URL: "https://bot.example/h", Secret: "whsec_not base64!"}}}}, store, `channel "c" bot: secret`},
		{"empty key", delivery.Config{Owner: "a", Channels: map[string]delivery.Targets{
			"c": {Helpdesk: delivery.Target{URL: "https://h.example/h", Secret: "whsec_"}}}}, store, `channel "c" helpdesk: secret`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := delivery.New(tc.cfg, tc.q, log)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("New: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("New error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
