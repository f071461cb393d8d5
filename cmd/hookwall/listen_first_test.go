package main

import (
	"bytes"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hookwall/hookwall/internal/redistest"
)

// TestServePortInUse: serve on an address another process holds fails with
// the bind error before it starts any work, and never logs that it is
// ready. (It used to log "hookwall ready" and start its delivery workers,
// then fail.)
func TestServePortInUse(t *testing.T) {
	t.Parallel()
	held, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	srv := redistest.Start(t)
	path := filepath.Join(t.TempDir(), "hookwall.yaml")
	conf := renderConfig(t, configData{
		Listen: held.Addr().String(), RedisURL: srv.URL(),
		BotURL: "http://127.0.0.1:9/bot", HelpdeskURL: "http://127.0.0.1:9/helpdesk",
	})
	if err := os.WriteFile(path, conf, 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- run([]string{"serve", "--config", path}, &out, &errOut) }()
	select {
	case err = <-done:
	case <-time.After(waitLimit):
		t.Fatalf("serve still runs after %s on a port in use", waitLimit)
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("serve = %v, want the bind error (address in use)", err)
	}
	if logs := out.String() + errOut.String(); strings.Contains(logs, "hookwall ready") {
		t.Errorf("serve logged ready on a port it could not bind:\n%s", logs)
	}
}
