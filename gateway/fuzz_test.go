package gateway_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hookwall/hookwall/blocklist"
	"github.com/hookwall/hookwall/blocklist/blocks"
	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/hookwall/hookwall/channels/channelstest"
	"github.com/hookwall/hookwall/channels/line"
	"github.com/hookwall/hookwall/channels/webchat"
	"github.com/hookwall/hookwall/channels/whatsapp"
	"github.com/hookwall/hookwall/gateway"
	"github.com/hookwall/hookwall/internal/redistest"
)

// The fuzz targets below post signed bodies through the real adapters, the
// gateway and the decision on a real Redis, over a socket, and assert the
// contract's promise: an authentic envelope is answered 200, whatever the
// events in it; only a body that is no envelope gets 400, and nothing gets
// another status. Seeds are the adapters' payload files.

const (
	fuzzLineSecret = "fuzz-line-channel-secret"
	fuzzAppSecret  = "fuzz-whatsapp-app-secret"
)

var fuzzClient = &http.Client{Timeout: 15 * time.Second}

// long is over every id limit of the store (256 bytes).
var long = string(bytes.Repeat([]byte("U"), 300))

var fuzzWebKey = "whsec_" + base64.StdEncoding.EncodeToString([]byte("hookwall fuzz web chat key 0001"))

func FuzzLINEWebhook(f *testing.F) {
	post := fuzzGateway(f, "line-main", append(seeds(f, "line"),
		[]byte(`{"events":[null,{"type":"message","source":{"type":"user","userId":"`+long+`"},"message":{"type":"text","id":"1","text":"x"}}]}`),
		[]byte(`{"events":[{"type":"follow","webhookEventId":"`+long+`","source":{"type":"user","userId":"U\u0000"}}]}`),
		[]byte(`[{"events":[]}]`),
		[]byte(`{"events":[{"type":"message","source":{"type":"user","userId":"U1","UserId":"U2"},"message":{"type":"text","id":"1","text":"x"}}]}`)))
	f.Fuzz(func(t *testing.T, body []byte) {
		mac := hmac.New(sha256.New, []byte(fuzzLineSecret))
		mac.Write(body)
		envelope, n := channelstest.LINEEnvelope(body)
		post(t, body, envelope, n, http.Header{"X-Line-Signature": {base64.StdEncoding.EncodeToString(mac.Sum(nil))}})
	})
}

func FuzzWhatsAppWebhook(f *testing.F) {
	post := fuzzGateway(f, "wa-main", append(seeds(f, "whatsapp"),
		[]byte(`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messages":[{"from":"`+long+`","id":"`+long+`","type":"text"},null]}}]},7]}`),
		[]byte(`{"object":"page","entry":[]}`),
		[]byte(`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messages":[{"from":"1","from":"2","id":"m","type":"text"}]}}]}]}`)))
	f.Fuzz(func(t *testing.T, body []byte) {
		mac := hmac.New(sha256.New, []byte(fuzzAppSecret))
		mac.Write(body)
		post(t, body, channelstest.CloudEnvelope(body), channelstest.CloudEvents(body), http.Header{"X-Hub-Signature-256": {"sha256=" + hex.EncodeToString(mac.Sum(nil))}})
	})
}

func FuzzWebchatWebhook(f *testing.F) {
	post := fuzzGateway(f, "web", append(seeds(f, "webchat"),
		[]byte(`{"type":"message","contact":{"id":"`+long+`"},"message":{"text":"hi"}}`),
		[]byte(`{"type":"message","contact":{"id":"v\u001b[31m"}}`),
		[]byte(`["message"]`),
		[]byte(`{"type":"message","contact":{"id":"v1","ID":"v2"},"message":{"text":"hi"}}`)))
	wh, err := standardwebhooks.NewWebhook(fuzzWebKey)
	if err != nil {
		f.Fatal(err)
	}
	var n int
	f.Fuzz(func(t *testing.T, body []byte) {
		n++
		id, now := "msg_fuzz_"+strconv.Itoa(n), time.Now()
		sig, err := wh.Sign(id, now, body)
		if err != nil {
			t.Fatal(err)
		}
		post(t, body, channelstest.WebchatEnvelope(body), 1, http.Header{
			"Webhook-Id": {id}, "Webhook-Timestamp": {strconv.FormatInt(now.Unix(), 10)}, "Webhook-Signature": {sig},
		})
	})
}

// seeds returns the payload files of an adapter's testdata.
func seeds(f *testing.F, adapter string) [][]byte {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("..", "channels", adapter, "testdata", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no payload files for %s: %v", adapter, err)
	}
	var out [][]byte
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// fuzzGateway serves the three real adapters on a real Redis, adds the
// seeds, and returns a function that posts a signed body to the channel and
// checks the answer: 200 with a decision for each of the events an envelope
// holds, or 400 for a body that is none.
func fuzzGateway(f *testing.F, channel string, seeds [][]byte) func(t *testing.T, body []byte, envelope bool, events int, h http.Header) {
	f.Helper()
	for _, s := range seeds {
		f.Add(s)
	}
	lineCh, err := line.New(line.Config{ID: "line-main", Secrets: []string{fuzzLineSecret}, AccessToken: "t"})
	if err != nil {
		f.Fatal(err)
	}
	waCh, err := whatsapp.New(whatsapp.Config{ID: "wa-main", AppSecrets: []string{fuzzAppSecret}, VerifyTokens: []string{"v"}, AccessToken: "t", PhoneNumberID: "1"})
	if err != nil {
		f.Fatal(err)
	}
	webCh, err := webchat.New(webchat.Config{ID: "web", Secrets: []string{fuzzWebKey}, OutboundURL: "http://127.0.0.1:1/replies"})
	if err != nil {
		f.Fatal(err)
	}
	rdb := redistest.Start(f).Client()
	bl, err := blocklist.New(blocklist.Config{DefaultEnabled: true, Channels: map[string]store.ChannelInfo{
		"line-main": {Type: "line", Bot: true, DedupeWindow: time.Hour},
		"wa-main":   {Type: "whatsapp", DedupeWindow: time.Hour},
		"web":       {Type: "webchat", DedupeWindow: time.Hour},
	}}, rdb)
	if err != nil {
		f.Fatal(err)
	}
	if err := bl.InitSettings(context.Background()); err != nil {
		f.Fatal(err)
	}
	g, err := gateway.New(gateway.Config{
		Channels: []gateway.ChannelConfig{
			{Adapter: lineCh, BlockedAction: blocks.ActionQueue},
			{Adapter: waCh, BlockedAction: blocks.ActionQueue},
			{Adapter: webCh, BlockedAction: blocks.ActionRecord},
		},
		RequestTimeout: 5 * time.Second,
	}, bl, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		f.Fatal(err)
	}
	url := serve(f, g) + "/webhooks/" + channel

	return func(t *testing.T, body []byte, envelope bool, events int, h http.Header) {
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header = h
		// A server that does not answer fails the input, rather than
		// hanging the fuzzer.
		res, err := fuzzClient.Do(req)
		if err != nil {
			t.Fatalf("body %q: %v", body, err)
		}
		answer, _ := io.ReadAll(res.Body)
		res.Body.Close()
		// Authentic or not, a body whose readers could disagree is no
		// envelope hookwall keeps.
		envelope = envelope && !channelstest.Ambiguous(body)
		want := http.StatusOK
		if !envelope {
			want = http.StatusBadRequest
		}
		if res.StatusCode != want {
			t.Fatalf("envelope %v: %d %s, want %d", envelope, res.StatusCode, answer, want)
		}
		if !envelope {
			return
		}
		var c gateway.Counts
		if err := json.Unmarshal(answer, &c); err != nil {
			t.Fatalf("answer %s: %v", answer, err)
		}
		if got := c.Forwarded + c.Recorded + c.Queued + c.Duplicates; got != events {
			t.Fatalf("envelope of %d events: %s", events, answer)
		}
	}
}

// FuzzAdminBodies posts each fuzzed body to every route of the admin and
// reply APIs that takes one, with a token of the role the route needs, on
// a real Redis over a socket, and asserts the contract: never a 5xx; a
// refused body (4xx) changes nothing; an ambiguous body (a name twice, in
// any case) is always refused with 400 invalid_request.
func FuzzAdminBodies(f *testing.F) {
	for _, s := range []string{
		`{"note":"spam","action":"record","expires_at":"2099-01-01T00:00:00Z"}`,
		`{"tickets":"release"}`, `{"tickets":"delete"}`, `{"block_contact_enabled":true}`,
		`{"text":"hello"}`, `{}`, `null`, `[]`, `{"note":"a","note":"b"}`, `{"ACTION":"queue"}`,
		`{"tickets":"release","Tickets":"delete"}`, `{"text":"\ud800"}`, "{\"note\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	e := newEnvWith(f, nil)
	const contact = "/admin/v1/channels/line-main/contacts/Ufuzz"
	routes := []struct{ method, path, token string }{
		{"POST", contact + "/block", agentToken},
		{"POST", contact + "/unblock", supervisorToken},
		{"PUT", "/admin/v1/settings", adminToken},
		{"POST", "/v1/channels/line-main/contacts/Ufuzz/messages", agentToken},
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		e.t = t
		e.ch.Reset() // replies reach the fake platform; keep it from growing
		for _, rt := range routes {
			before := e.snapshot()
			r := e.do(rt.method, rt.path, rt.token, string(body))
			switch {
			case r.status >= 500:
				t.Fatalf("%s %s %q: %d %s", rt.method, rt.path, body, r.status, r.raw)
			case channelstest.Ambiguous(body) && (r.status != http.StatusBadRequest || r.body["code"] != "invalid_request"):
				t.Fatalf("%s %s with the ambiguous body %q: %d %s; want 400 invalid_request", rt.method, rt.path, body, r.status, r.raw)
			case r.status >= 400:
				e.assertUnchanged(before)
			}
		}
	})
}
