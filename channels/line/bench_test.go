package line_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"os"
	"testing"

	"github.com/hookwall/hookwall/channels/line"
)

// BenchmarkReceive measures verifying and decoding one LINE text message
// webhook (testdata/text.json), the work every inbound request does before
// the decision.
func BenchmarkReceive(b *testing.B) {
	body, err := os.ReadFile("testdata/text.json")
	if err != nil {
		b.Fatal(err)
	}
	const secret = "bench-secret"
	ch, err := line.New(line.Config{ID: "line-main", Secrets: []string{secret}, AccessToken: "token"})
	if err != nil {
		b.Fatal(err)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	h := http.Header{"X-Line-Signature": {base64.StdEncoding.EncodeToString(mac.Sum(nil))}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ch.Receive(h, body); err != nil {
			b.Fatal(err)
		}
	}
}
