// Package console is hookwall's operators' console: a few static files
// (HTML, one stylesheet, small ES modules) embedded in the binary and served
// under /console/. It holds no data of its own: the browser reads and changes
// everything through the token-checked admin API of the same origin, so the
// files themselves need no token.
//
// Every answer of the console, files, redirects and errors alike, carries the
// security headers of one place, Handler: a strict Content-Security-Policy
// that allows only the console's own scripts and styles and makes the browser
// enforce Trusted Types, so that text from strangers (contact ids, notes,
// messages) can never become markup or script.
package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// Prefix is the path the console is served under. The gateway routes
// "/console" and everything under Prefix to Handler.
const Prefix = "/console/"

// ContentSecurityPolicy is the policy of every console answer. script-src and
// style-src 'self' rule out inline scripts, style attributes and any CDN;
// connect-src 'self' keeps the token on the same origin; trusted-types 'none'
// with require-trusted-types-for 'script' makes innerHTML and its kin throw.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; " +
	"require-trusted-types-for 'script'; trusted-types 'none'"

//go:embed static
var static embed.FS

// Files returns the embedded files, rooted at the console's top: index.html,
// app.js, style.css, ...
func Files() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the directory is embedded above; cannot happen
	}
	return sub
}

// contentTypes are the types of the files the console ships. A file of
// another extension is not served: the table is the list of what the browser
// may receive, independent of the system's MIME database.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

type file struct {
	data        []byte
	contentType string
	etag        string
}

type handler struct {
	files map[string]file // by path below Prefix; "" is index.html
}

// Handler serves the console. It expects the request's full path ("/console",
// "/console/app.js"): "/console" redirects to "/console/", which is
// index.html; only GET and HEAD are answered.
func Handler() http.Handler {
	h := &handler{files: map[string]file{}}
	err := fs.WalkDir(Files(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			return nil
		}
		data, err := fs.ReadFile(Files(), p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		h.files[p] = file{data: data, contentType: ct, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil {
		panic(err) // reading the embedded FS cannot fail
	}
	h.files[""] = h.files["index.html"]
	return h
}

// setHeaders sets the headers every console answer carries.
func setHeaders(h http.Header) {
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	// Revalidate every time: a new hookwall binary ships new files under the
	// same names, and the ETag makes the check cheap.
	h.Set("Cache-Control", "no-cache")
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setHeaders(w.Header())
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		plain(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	if r.URL.Path == strings.TrimSuffix(Prefix, "/") {
		http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, Prefix)
	f, found := h.files[name]
	if !ok || !found {
		plain(w, http.StatusNotFound, "not found")
		return
	}
	w.Header().Set("Content-Type", f.contentType)
	w.Header().Set("ETag", f.etag)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.data))
}

func plain(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg + "\n"))
}
