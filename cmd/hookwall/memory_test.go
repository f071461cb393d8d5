package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMemoryUnderBodyFlood: clients without a token or a signature cannot
// make hookwall hold more than its body budget. 64 connections each announce
// a 4 MB body — half to /healthz, half to the WhatsApp webhook, whose
// channel takes up to 4 MiB — send all of it but the last bytes, and hold.
// Before the budget, every one of them was buffered whole: RSS rose by some
// 260 MB and stayed there. Now /healthz refuses from the announced length,
// the webhook route admits only what the budget holds (64 MiB: 16 bodies)
// and answers the rest 503. So the process's RSS stays under what it was
// before the flood plus three times the budget: what the bodies take, and
// twice as much again, which Go's collector may leave as garbage before it
// collects (hookwall runs with GOGC=200). A second flood after the first
// stays under the same bound: nothing the first left behind pins memory.
func TestMemoryUnderBodyFlood(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads the process's RSS from /proc")
	}
	bin := hookwallPlainBinary(t)
	example, err := os.ReadFile("../../examples/hookwall.yaml")
	if err != nil {
		t.Fatal(err)
	}
	listen := freeAddr(t)
	config := bytes.Replace(example, []byte(`listen: "127.0.0.1:8080"`), []byte(`listen: "`+listen+`"`), 1)
	if bytes.Equal(config, example) {
		t.Fatal("examples/hookwall.yaml no longer listens on 127.0.0.1:8080; update this test")
	}
	p := startProcessWith(t, bin, t.TempDir(), "flood", listen, config)
	pid := p.cmd.Process.Pid
	base := rss(t, pid)
	const (
		conns    = 64
		announce = 4_000_000
		budget   = 64 << 20 // limits.body_bytes_in_flight of the example
	)
	bound := base + 3*budget
	for round := 1; round <= 2; round++ {
		peak := flood(t, pid, listen, conns, announce)
		t.Logf("round %d: RSS %d MiB before any flood, peak %d MiB, bound %d MiB", round, base>>20, peak>>20, bound>>20)
		if peak > bound {
			t.Fatalf("round %d: RSS peaked at %d MiB; bound %d MiB (%d MiB before the flood + 3 x the body budget)", round, peak>>20, bound>>20, base>>20)
		}
	}
}

// flood holds conns connections, each sending all but the last 100 bytes of
// an announced body, until every one has sent what it will or has been
// answered; it returns the highest RSS seen meanwhile, then closes them.
func flood(t *testing.T, pid int, addr string, conns, announce int) int {
	t.Helper()
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	var (
		wg     sync.WaitGroup
		opened []net.Conn
	)
	for i := range conns {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		opened = append(opened, conn)
		path := "/healthz"
		if i%2 == 1 {
			path = "/webhooks/wa-main"
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = conn.SetWriteDeadline(time.Now().Add(20 * time.Second))
			head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", path, announce)
			if _, err := io.WriteString(conn, head); err != nil {
				return
			}
			for left := announce - 100; left > 0; left -= len(chunk) {
				// A refused request's connection is closed under the
				// writer: the write fails, and this client is done.
				if _, err := conn.Write(chunk[:min(left, len(chunk))]); err != nil {
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	peak := 0
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for sampling := true; sampling; {
		select {
		case <-done:
			sampling = false
		case <-tick.C:
		}
		peak = max(peak, rss(t, pid))
	}
	for _, c := range opened {
		c.Close()
	}
	return peak
}

// rss is the resident set size of process pid, in bytes.
func rss(t *testing.T, pid int) int {
	t.Helper()
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatalf("VmRSS line %q: %v", line, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/pid/status")
	return 0
}
