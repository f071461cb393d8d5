package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse checks that no input panics Parse, that every error is one line
// of this package, and that Redacted hides every secret of what parses.
func FuzzParse(f *testing.F) {
	for _, name := range []string{filepath.Join("..", "examples", "hookwall.yaml"), filepath.Join("testdata", "full.yaml")} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(minimal))
	getenv := env(map[string]string{"BOB_TOKEN": "fuzz-bob-token-000001", "LINE_SECRET_3": "fuzz-line-secret-3", "E": ""})
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, getenv)
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "config: ") || strings.Contains(msg, "\n") {
				t.Fatalf("error is not one config: line: %q", msg)
			}
			return
		}
		out := cfg.Redacted()
		for _, s := range cfg.secretFields() {
			// Short values can appear by chance in keys or other values.
			if !s.url && len(*s.ptr) >= 8 && strings.Contains(out, *s.ptr) {
				t.Fatalf("Redacted shows %s:\n%s", s.path, out)
			}
		}
	})
}
