package delivery_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookwall/hookwall/internal/redistest"

	"github.com/hookwall/hookwall/delivery"
)

// TestLongAnswers: a target's answer is read only so far. A 2xx with a body
// far over that, and with 16 KiB of headers, is a delivery, not a failure; a
// 500 with one fails, its status the reason.
func TestLongAnswers(t *testing.T) {
	redistest.Parallel(t)
	s := newSetup(t)
	long := strings.Repeat("x", 1<<20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status := http.StatusOK
		if strings.Contains(r.URL.Path, "fail") {
			status = http.StatusInternalServerError
		}
		w.Header().Set("Content-Security-Policy", strings.Repeat("a", 16<<10))
		w.WriteHeader(status)
		_, _ = w.Write([]byte(long))
	}))
	t.Cleanup(srv.Close)
	channels := map[string]delivery.Targets{
		lineMain: {Bot: &delivery.Target{URL: srv.URL + "/ok"}, Helpdesk: delivery.Target{URL: srv.URL + "/ok"}},
		waMain:   {Helpdesk: delivery.Target{URL: srv.URL + "/fail"}},
	}
	out := s.ingest(t, msg{channel: lineMain, contact: "Ulong", text: "a"}, msg{channel: waMain, contact: "Ulong", text: "b"})
	obs := newObserver()
	cfg := testConfig("a", channels)
	cfg.MaxAttempts = 1
	cfg.Observer = obs
	r := start(t, cfg, s.store)
	timeout := time.After(deadline)
	for !slices.Contains(obs.outcomes(out[0].Envelope), "delivered") || !slices.Contains(obs.outcomes(out[1].Envelope), "parked") {
		select {
		case <-obs.outcome:
		case <-timeout:
			t.Fatalf("outcomes so far: %v, %v; want delivered, then failed and parked", obs.outcomes(out[0].Envelope), obs.outcomes(out[1].Envelope))
		}
	}
	r.stop(t)

	if got := obs.outcomes(out[0].Envelope); !slices.Equal(got, []string{"delivered"}) {
		t.Errorf("outcomes of the 200 with 16 KiB of headers and a 1 MiB body: %v, want delivered", got)
	}
	dls := s.deadLetters(t)
	if len(dls) != 1 || dls[0].Delivery.ID != out[1].Envelope {
		t.Fatalf("dead letters %+v, want the 500's", dls)
	}
	if reason := dls[0].Reason; !strings.Contains(reason, "500") || len(reason) > 600 {
		t.Errorf("reason %q (%d bytes): want the status, and at most 512 bytes of the body", reason, len(reason))
	}
}

// TestSilentTarget: a target that accepts the connection and never answers,
// not even the TLS handshake, costs one attempt timeout per attempt; the
// post does not hang.
func TestSilentTarget(t *testing.T) {
	redistest.Parallel(t)
	s := newSetup(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
		}
	}()
	url := "https://" + ln.Addr().String() + "/hook"
	channels := oneTarget(url)
	out := s.ingest(t, msg{channel: lineMain, contact: "Usilent", text: "hello?"})
	obs := newObserver()
	cfg := testConfig("a", channels)
	cfg.Timeout = 200 * time.Millisecond
	cfg.MaxAttempts = 2
	cfg.BackoffMin = 10 * time.Millisecond
	cfg.Observer = obs
	r := start(t, cfg, s.store)
	obs.waitAttempts(t, "parked", 1)
	r.stop(t)
	if got := obs.outcomes(out[0].Envelope); !slices.Equal(got, []string{"failed", "failed", "parked"}) {
		t.Errorf("outcomes %v, want two failed attempts, then parked", got)
	}
}
