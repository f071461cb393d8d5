package delivery

import (
	"bufio"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// connectProxy is a fake HTTP proxy that answers CONNECT with status and,
// for 200, tunnels to the requested address. It sends every CONNECT request
// it reads on seen.
func connectProxy(t *testing.T, status int) (*url.URL, <-chan *http.Request) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	seen := make(chan *http.Request, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				seen <- req
				if status != http.StatusOK {
					_, _ = io.WriteString(c, "HTTP/1.1 "+strconv.Itoa(status)+" "+http.StatusText(status)+"\r\n\r\n")
					return
				}
				up, err := net.Dial("tcp", req.Host)
				if err != nil {
					return
				}
				defer up.Close()
				_, _ = io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
				go func() { _, _ = io.Copy(up, br) }()
				_, _ = io.Copy(c, up)
			}()
		}
	}()
	return &url.URL{Scheme: "http", Host: ln.Addr().String(), User: url.UserPassword("hook wall", "p@ss:word")}, seen
}

func TestProxyTunnel(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	target, _ := url.Parse(srv.URL + "/hook")

	for _, tc := range []struct {
		name   string
		status int
	}{{"tunnel", http.StatusOK}, {"refused", http.StatusForbidden}} {
		t.Run(tc.name, func(t *testing.T) {
			proxy, seen := connectProxy(t, tc.status)
			hc, err := newHostClient(target, 2*time.Second, func(*url.URL) (*url.URL, error) { return proxy, nil })
			if err != nil {
				t.Fatal(err)
			}
			status, err := postTo(hc, target)
			switch {
			case tc.status == http.StatusOK && (err != nil || status != http.StatusNoContent):
				t.Fatalf("post through the tunnel: %v, status %d; want 204", err, status)
			case tc.status != http.StatusOK && (err == nil || !strings.Contains(err.Error(), "403")):
				t.Fatalf("post through a refusing proxy: %v; want an error naming its 403", err)
			}
			got := <-seen
			wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte("hook wall:p@ss:word"))
			if got.Method != http.MethodConnect || got.Host != target.Host || got.Header.Get("Proxy-Authorization") != wantAuth {
				t.Errorf("proxy got %s %s, Proxy-Authorization %q; want CONNECT %s, %q",
					got.Method, got.Host, got.Header.Get("Proxy-Authorization"), target.Host, wantAuth)
			}
		})
	}
}

func TestProxyScheme(t *testing.T) {
	target, _ := url.Parse("https://helpdesk.example/hook")
	_, err := newHostClient(target, time.Second, func(*url.URL) (*url.URL, error) {
		return url.Parse("https://proxy.example:3128")
	})
	if err == nil || !strings.Contains(err.Error(), "only http:// proxies") {
		t.Fatalf("newHostClient with an https proxy: %v; want it refused", err)
	}
}

// TestPathAsWritten: the target URL's path reaches the target as written in
// the configuration, escapes and double slashes included.
func TestPathAsWritten(t *testing.T) {
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.RequestURI
	}))
	t.Cleanup(srv.Close)
	const path = "/hooks/a%2Fb//c/../d?k=v"
	target, _ := url.Parse(srv.URL + path)
	hc, err := newHostClient(target, 2*time.Second, func(*url.URL) (*url.URL, error) { return nil, nil })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := postTo(hc, target); err != nil {
		t.Fatal(err)
	}
	if uri := <-got; uri != path {
		t.Errorf("target got %q, want %q", uri, path)
	}
}

// postTo posts an empty body to target through hc and returns the status.
func postTo(hc *fasthttp.HostClient, target *url.URL) (int, error) {
	req, res := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(res)
	req.SetRequestURI(target.String())
	req.Header.SetMethod(fasthttp.MethodPost)
	err := hc.DoTimeout(req, res, 2*time.Second)
	return res.StatusCode(), err
}

// TestTLSTarget posts to an https target directly and through a CONNECT
// tunnel: the handshake runs over the tunnel, with the target's name.
func TestTLSTarget(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	target, _ := url.Parse(srv.URL + "/hook")
	proxy, seen := connectProxy(t, http.StatusOK)
	for _, tc := range []struct {
		name  string
		proxy *url.URL
	}{{"direct", nil}, {"tunnel", proxy}} {
		t.Run(tc.name, func(t *testing.T) {
			hc, err := newHostClient(target, 2*time.Second, func(*url.URL) (*url.URL, error) { return tc.proxy, nil })
			if err != nil {
				t.Fatal(err)
			}
			hc.TLSConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig // trusts srv's certificate
			if status, err := postTo(hc, target); err != nil || status != http.StatusNoContent {
				t.Fatalf("post: %v, status %d; want 204", err, status)
			}
		})
	}
	if got := <-seen; got.Host != target.Host {
		t.Errorf("proxy got CONNECT %s, want %s", got.Host, target.Host)
	}
}
