package whatsapp_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookwall/hookwall/channels/whatsapp"
)

const (
	channelID     = "wa-main"
	appSecret     = "3d1d8a4b0c2e4f6a8b9c0d1e2f3a4b5c"
	oldAppSecret  = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
	verifyToken   = "hookwall-verify-2026"
	oldVerify     = "hookwall-verify-2025"
	accessToken   = "EAAGm0PX4ZCpsBAtestTOKENnotreal1234567890"
	phoneNumberID = "106540352242922"
)

// newChannel returns a channel with valid settings, changed by edit.
func newChannel(t testing.TB, edit func(*whatsapp.Config)) *whatsapp.Channel {
	t.Helper()
	cfg := whatsapp.Config{
		ID:            channelID,
		AppSecrets:    []string{appSecret},
		VerifyTokens:  []string{verifyToken, oldVerify},
		AccessToken:   accessToken,
		PhoneNumberID: phoneNumberID,
	}
	if edit != nil {
		edit(&cfg)
	}
	ch, err := whatsapp.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return ch
}

// sign is the X-Hub-Signature-256 value Meta sends for body.
func sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rawLine returns the one line of body that contains key, trimmed of its
// indentation and trailing comma: the testdata files keep most message and
// status objects on one line, so this is the object exactly as sent.
func rawLine(t testing.TB, body []byte, key string) string {
	t.Helper()
	var found []string
	for line := range bytes.Lines(body) {
		if bytes.Contains(line, []byte(key)) {
			found = append(found, strings.TrimSuffix(strings.TrimSpace(string(line)), ","))
		}
	}
	if len(found) != 1 {
		t.Fatalf("rawLine(%q): %d lines match, want 1", key, len(found))
	}
	return found[0]
}

func headerWith(signature string) http.Header {
	return http.Header{"X-Hub-Signature-256": {signature}}
}
