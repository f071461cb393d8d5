// Package faultproxy puts a real fault-injecting TCP proxy — Shopify's
// toxiproxy, run in the test process — between hookwall and one of its
// peers (Redis, a bot, a helpdesk), so that a test can add latency, stop the
// peer answering, reset connections mid-reply or squeeze the bandwidth, and
// take the fault away again.
//
// Like testkit, only tests import it.
package faultproxy

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/collectors"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Proxy is one toxiproxy proxy listening on a free loopback port and
// forwarding to its upstream.
type Proxy struct {
	// Addr is host:port where the proxy listens: give it to hookwall in
	// place of the upstream's address.
	Addr string
	p    *toxiproxy.Proxy
}

// Start starts a proxy to upstream (host:port) and stops it, closing its
// connections, when the test ends.
func Start(t testing.TB, upstream string) *Proxy {
	t.Helper()
	// The bandwidth toxic logs each chunk through zerolog's global logger,
	// at trace level, into the test's output: silence it.
	zerolog.SetGlobalLevel(zerolog.Disabled)
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	// The links count the bytes they pass; without collectors the server
	// keeps no metrics, which toxiproxy allows, but this is what it runs with.
	srv.Metrics.ProxyMetrics = collectors.NewProxyMetricCollectors()
	p := toxiproxy.NewProxy(srv, t.Name(), "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		t.Fatalf("faultproxy: starting the proxy to %s: %v", upstream, err)
	}
	t.Cleanup(p.Stop)
	return &Proxy{Addr: p.Listen, p: p}
}

// Toxic is one fault on the proxy's links (toxiproxy's toxics: latency,
// bandwidth, timeout, reset_peer, limit_data, slow_close, slicer).
type Toxic struct {
	// Name names the toxic for Remove; unique on the proxy.
	Name string `json:"name"`
	// Type is the toxic's type.
	Type string `json:"type"`
	// Stream is "downstream" (the peer's replies; the default) or
	// "upstream" (what hookwall sends).
	Stream string `json:"stream,omitempty"`
	// Attributes are the type's attributes (milliseconds, bytes, KB/s).
	Attributes map[string]int64 `json:"attributes,omitempty"`
}

// Latency delays every reply by ms milliseconds.
func Latency(ms int64) Toxic {
	return Toxic{Name: "latency", Type: "latency", Attributes: map[string]int64{"latency": ms}}
}

// Silence drops the peer's replies and holds the connections open: a peer
// that stops answering. Removing it closes the connections it held.
func Silence() Toxic {
	return Toxic{Name: "silence", Type: "timeout", Attributes: map[string]int64{"timeout": 0}}
}

// Reset resets (TCP RST) each connection as soon as the peer starts to
// reply: the peer took the request, its reply is lost.
func Reset() Toxic {
	return Toxic{Name: "reset", Type: "reset_peer", Attributes: map[string]int64{"timeout": 0}}
}

// CutReply closes each connection once the peer has replied n bytes on it:
// the connection ends in the middle of a reply.
func CutReply(n int64) Toxic {
	return Toxic{Name: "cut-reply", Type: "limit_data", Attributes: map[string]int64{"bytes": n}}
}

// Bandwidth squeezes what hookwall sends to kbps KB/s per connection.
func Bandwidth(kbps int64) Toxic {
	return Toxic{Name: "bandwidth", Type: "bandwidth", Stream: "upstream", Attributes: map[string]int64{"rate": kbps}}
}

// Add adds the toxic to the proxy's connections, present and future.
func (p *Proxy) Add(t testing.TB, toxic Toxic) {
	t.Helper()
	b, err := json.Marshal(toxic)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.p.Toxics.AddToxicJson(bytes.NewReader(b)); err != nil {
		t.Fatalf("faultproxy: adding toxic %s: %v", b, err)
	}
}

// Remove takes the named toxic away.
func (p *Proxy) Remove(t testing.TB, name string) {
	t.Helper()
	if err := p.p.Toxics.RemoveToxic(context.Background(), name); err != nil {
		t.Fatalf("faultproxy: removing toxic %s: %v", name, err)
	}
}

// Cut stops the proxy: its connections are closed and new ones refused, as
// when the peer's host goes away.
func (p *Proxy) Cut() { p.p.Stop() }

// Restore starts a cut proxy again on the same address.
func (p *Proxy) Restore(t testing.TB) {
	t.Helper()
	if err := p.p.Start(); err != nil {
		t.Fatalf("faultproxy: restarting the proxy on %s: %v", p.Addr, err)
	}
}
