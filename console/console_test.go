package console_test

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/hookwall/hookwall/console"
)

// checkConsoleHeaders asserts the security headers every console answer carries.
func checkConsoleHeaders(t *testing.T, h http.Header) {
	t.Helper()
	want := map[string]string{
		"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types 'none'",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

func serveConsole(t *testing.T, method, target string, header http.Header) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	console.Handler().ServeHTTP(rec, req)
	return rec.Result()
}

func TestFiles(t *testing.T) {
	tests := []struct {
		path, contentType, contains string
	}{
		{"/console/", "text/html; charset=utf-8", `<script type="module" src="app.js"></script>`},
		{"/console/index.html", "text/html; charset=utf-8", "<title>hookwall console</title>"},
		{"/console/app.js", "text/javascript; charset=utf-8", "hashchange"},
		{"/console/api.js", "text/javascript; charset=utf-8", "sessionStorage"},
		{"/console/dom.js", "text/javascript; charset=utf-8", "Intl.DateTimeFormat"},
		{"/console/style.css", "text/css; charset=utf-8", "prefers-color-scheme"},
		{"/console/icon.svg", "image/svg+xml", "<svg"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			res := serveConsole(t, http.MethodGet, tc.path, nil)
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200", res.StatusCode)
			}
			checkConsoleHeaders(t, res.Header)
			if got := res.Header.Get("Content-Type"); got != tc.contentType {
				t.Errorf("Content-Type = %q, want %q", got, tc.contentType)
			}
			if !strings.Contains(string(body), tc.contains) {
				t.Errorf("body lacks %q", tc.contains)
			}
		})
	}
}

func TestEveryModuleIsServedAsJavaScript(t *testing.T) {
	// A module served with another type is refused by the browser under
	// nosniff; every .js file must get the JavaScript type.
	mods, err := fs.Glob(console.Files(), "*.js")
	if err != nil || len(mods) < 8 {
		t.Fatalf("modules: %v %v", mods, err)
	}
	for _, m := range mods {
		res := serveConsole(t, http.MethodGet, "/console/"+m, nil)
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/javascript; charset=utf-8" {
			t.Errorf("%s: %d %q", m, res.StatusCode, res.Header.Get("Content-Type"))
		}
	}
}

func TestAnswers(t *testing.T) {
	tests := []struct {
		name, method, path string
		status             int
		location           string
	}{
		{"redirect to the slash", http.MethodGet, "/console", http.StatusMovedPermanently, "/console/"},
		{"unknown file", http.MethodGet, "/console/nope.js", http.StatusNotFound, ""},
		{"no directory walk", http.MethodGet, "/console/../console/app.js", http.StatusNotFound, ""},
		{"not under the prefix", http.MethodGet, "/consoleapp.js", http.StatusNotFound, ""},
		{"head", http.MethodHead, "/console/app.js", http.StatusOK, ""},
		{"post", http.MethodPost, "/console/", http.StatusMethodNotAllowed, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := serveConsole(t, tc.method, tc.path, nil)
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tc.status)
			}
			checkConsoleHeaders(t, res.Header)
			if got := res.Header.Get("Location"); got != tc.location {
				t.Errorf("Location = %q, want %q", got, tc.location)
			}
		})
	}
}

func TestETag(t *testing.T) {
	res := serveConsole(t, http.MethodGet, "/console/app.js", nil)
	etag := res.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	again := serveConsole(t, http.MethodGet, "/console/app.js", http.Header{"If-None-Match": {etag}})
	if again.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: status %d, want 304", again.StatusCode)
	}
	checkConsoleHeaders(t, again.Header)
}

// TestNoMarkupFromStrings guards the rule that text from strangers never
// becomes markup: no file uses the string-to-markup sinks, and nothing is
// inline (the CSP would refuse it anyway, but silently).
func TestNoMarkupFromStrings(t *testing.T) {
	forbidden := []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "createContextualFragment", "DOMParser", "localStorage", "console.log"}
	inlineScript := regexp.MustCompile(`(?is)<script\b[^>]*>\s*[^<\s]`)
	styleAttr := regexp.MustCompile(`(?i)\sstyle\s*=`)
	eventAttr := regexp.MustCompile(`(?i)<[^>]+\son[a-z]+\s*=`)
	files := 0
	err := fs.WalkDir(console.Files(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		data, err := fs.ReadFile(console.Files(), p)
		if err != nil {
			return err
		}
		s := string(data)
		for _, f := range forbidden {
			if strings.Contains(s, f) {
				t.Errorf("%s contains %q", p, f)
			}
		}
		if strings.HasSuffix(p, ".html") || strings.HasSuffix(p, ".svg") {
			if inlineScript.MatchString(s) {
				t.Errorf("%s has an inline <script> body", p)
			}
			if eventAttr.MatchString(s) {
				t.Errorf("%s has an inline event handler attribute", p)
			}
		}
		if styleAttr.MatchString(s) {
			t.Errorf("%s has a style= attribute", p)
		}
		if strings.Contains(s, "<style") {
			t.Errorf("%s has a <style> element", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 10 {
		t.Fatalf("only %d embedded files", files)
	}
}
