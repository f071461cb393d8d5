package telemetry_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

type wantSample struct {
	name   string
	labels map[string]string
	value  float64
}

func checkSamples(t *testing.T, mfs map[string]*dto.MetricFamily, want []wantSample) {
	t.Helper()
	for _, w := range want {
		t.Run(w.name+fmt.Sprint(w.labels), func(t *testing.T) {
			got, ok := sample(mfs, w.name, w.labels)
			if !ok {
				t.Fatalf("no %s%v sample", w.name, w.labels)
			}
			if got != w.value {
				t.Fatalf("%s%v = %v, want %v", w.name, w.labels, got, w.value)
			}
		})
	}
}

// total sums the family's gauge values.
func total(t *testing.T, mfs map[string]*dto.MetricFamily, name string) (sum float64, series int) {
	t.Helper()
	mf, ok := mfs[name]
	if !ok {
		t.Fatalf("no %s", name)
	}
	for _, m := range mf.GetMetric() {
		sum += m.GetGauge().GetValue()
	}
	return sum, len(mf.GetMetric())
}

// noSecretLabels fails when a label value carries one of the secrets.
func noSecretLabels(t *testing.T, mfs map[string]*dto.MetricFamily, secrets ...string) {
	t.Helper()
	for name, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				for _, s := range secrets {
					if strings.Contains(l.GetValue(), s) {
						t.Errorf("%s label %s=%q carries %q", name, l.GetName(), l.GetValue(), s)
					}
				}
			}
		}
	}
}

// TestMetrics drives hookwall through forwarded, duplicate, rejected and
// queued webhooks, a block and a delivery, and reads /metrics.
func TestMetrics(t *testing.T) {
	h := newHarness(t, false)
	tg := newTarget(t)
	targetURL := withCredentials(t, tg.URL())
	dl := h.deliverer(targetURL)
	if err := h.inst.Gauges(h.store, dl.BreakerStates); err != nil {
		t.Fatalf("Gauges: %v", err)
	}

	h.webhook(message("ev-1", "U1"), http.StatusOK, `{"forwarded":1,"recorded":0,"queued":0,"duplicates":0}`)
	h.webhook(message("ev-1", "U1"), http.StatusOK, `{"forwarded":0,"recorded":0,"queued":0,"duplicates":1}`)
	if status, _ := h.do(http.MethodPost, "/webhooks/"+channelID, message("ev-2", "U1"), "X-Fake-Signature", "bad"); status != http.StatusUnauthorized {
		t.Fatalf("bad signature = %d", status)
	}
	// The same length as the channel id: had the label kept Fiber's path
	// buffer, it would read "nochannel" now.
	if status, _ := h.do(http.MethodPost, "/webhooks/nochannel", message("ev-3", "U1"), "X-Fake-Signature", "good"); status != http.StatusNotFound {
		t.Fatalf("unknown channel = %d", status)
	}
	if status, _ := h.do(http.MethodPost, "/webhooks/no-such-channel-4711", message("ev-3", "U1"), "X-Fake-Signature", "good"); status != http.StatusNotFound {
		t.Fatalf("unknown channel = %d", status)
	}
	// Refused for its size before it is routed: counted, without a
	// channel, like any webhook refused before its channel is known.
	if status, _ := h.do(http.MethodPost, "/webhooks/"+channelID, strings.Repeat(" ", 5000), "X-Fake-Signature", "good"); status != http.StatusRequestEntityTooLarge {
		t.Fatalf("body over the channel's limit = %d", status)
	}
	h.block("U2")
	h.webhook(message("ev-4", "U2"), http.StatusOK, `{"forwarded":0,"recorded":0,"queued":1,"duplicates":0}`)
	if _, ok := scrape(t, h.tel.MetricsHandler())["hookwall_ticket_messages_dropped_total"]; ok {
		t.Errorf("messages dropped before any ticket was full")
	}
	// U2's ticket keeps ticketBound (2) messages: the fourth drops two.
	for _, id := range []string{"ev-5", "ev-6", "ev-7"} {
		h.webhook(message(id, "U2"), http.StatusOK, `{"forwarded":0,"recorded":0,"queued":1,"duplicates":0}`)
	}

	events := func(channel, decision string) map[string]string {
		return map[string]string{"channel": channel, "decision": decision}
	}
	mfs := scrape(t, h.tel.MetricsHandler())
	checkSamples(t, mfs, []wantSample{
		{"hookwall_events_total", events(channelID, "forwarded"), 1},
		{"hookwall_events_total", events(channelID, "duplicate"), 1},
		{"hookwall_events_total", events(channelID, "queued"), 4},
		// By channel only: a label per contact would make a series per
		// blocked sender.
		{"hookwall_ticket_messages_dropped_total", map[string]string{"channel": channelID}, 2},
		{"hookwall_events_total", events(channelID, "rejected"), 1},
		// The path's channel is not a label: any caller could make series.
		{"hookwall_events_total", events("", "rejected"), 3},
		{"hookwall_blocked_contacts", nil, 1},
		{"hookwall_open_tickets", nil, 1},
	})
	for _, m := range mfs["hookwall_ticket_messages_dropped_total"].GetMetric() {
		if l := m.GetLabel(); len(l) != 1 || l[0].GetName() != "channel" {
			t.Errorf("hookwall_ticket_messages_dropped_total labels %v, want channel only", l)
		}
	}
	// Queued: the forwarded message and the contact.blocked notice.
	if sum, series := total(t, mfs, "hookwall_queue_depth"); sum != 2 || series != 16 {
		t.Errorf("hookwall_queue_depth: %v entries over %d shards, want 2 over 16", sum, series)
	}
	if _, ok := mfs["hookwall_breaker_state"]; ok {
		t.Errorf("hookwall_breaker_state before any delivery: %v", mfs["hookwall_breaker_state"])
	}
	if strings.Contains(mfs["hookwall_events_total"].String(), "no-such-channel") {
		t.Errorf("the unknown channel is a label: %v", mfs["hookwall_events_total"])
	}

	h.deliver(dl, tg, 2)
	redacted := strings.Replace(tg.URL(), "http://", "http://REDACTED:REDACTED@", 1) + "?token=REDACTED"
	mfs = scrape(t, h.tel.MetricsHandler())
	checkSamples(t, mfs, []wantSample{
		{"hookwall_deliveries_total", map[string]string{"channel": channelID, "target": "helpdesk", "outcome": "delivered"}, 2},
		{"hookwall_delivery_latency_seconds", map[string]string{"target": "helpdesk"}, 2},
		{"hookwall_breaker_state", map[string]string{"target": redacted}, 0},
		{"hookwall_blocked_contacts", nil, 1},
	})
	if sum, _ := total(t, mfs, "hookwall_queue_depth"); sum != 0 {
		t.Errorf("hookwall_queue_depth after the delivery: %v entries, want 0", sum)
	}
	if mf := mfs["hookwall_delivery_latency_seconds"]; mf.GetType() != dto.MetricType_HISTOGRAM {
		t.Errorf("hookwall_delivery_latency_seconds is a %v", mf.GetType())
	}
	noSecretLabels(t, mfs, "pw-secret", "tk-secret", secretText)
}
