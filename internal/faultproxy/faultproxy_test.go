package faultproxy_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/hookwall/hookwall/internal/faultproxy"
)

// echo starts a TCP server that sends back what it reads, until the test
// ends.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// roundTrip sends msg through a new connection to addr and reads the echo,
// within limit; it returns what it read and the read's error.
func roundTrip(t *testing.T, addr string, msg []byte, limit time.Duration) ([]byte, error) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(limit)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(msg); err != nil {
		return nil, err
	}
	got := make([]byte, 0, len(msg))
	buf := make([]byte, 4096)
	for len(got) < len(msg) {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			return got, err
		}
	}
	return got, nil
}

// TestToxics checks each fault the helper offers on a real TCP echo server,
// and that the link is whole again once the fault is removed.
func TestToxics(t *testing.T) {
	t.Parallel()
	msg := bytes.Repeat([]byte("hookwall "), 4000) // 36 KB
	for _, tc := range []struct {
		name  string
		toxic faultproxy.Toxic
		// check judges a round trip under the fault.
		check func(t *testing.T, got []byte, err error, took time.Duration)
	}{
		{"latency", faultproxy.Latency(300), func(t *testing.T, got []byte, err error, took time.Duration) {
			if err != nil || !bytes.Equal(got, msg) || took < 300*time.Millisecond {
				t.Errorf("echo under 300ms latency: %d bytes, %v, in %s; want it whole, after 300ms or more", len(got), err, took)
			}
		}},
		{"silence", faultproxy.Silence(), func(t *testing.T, got []byte, err error, _ time.Duration) {
			if !isTimeout(err) || len(got) != 0 {
				t.Errorf("echo of a silent peer: %d bytes, %v; want nothing until the read deadline", len(got), err)
			}
		}},
		{"reset", faultproxy.Reset(), func(t *testing.T, got []byte, err error, _ time.Duration) {
			if !errors.Is(err, syscall.ECONNRESET) || len(got) != 0 {
				t.Errorf("echo through a reset: %d bytes, %v; want a connection reset and nothing", len(got), err)
			}
		}},
		{"cut reply", faultproxy.CutReply(1000), func(t *testing.T, got []byte, err error, _ time.Duration) {
			if !errors.Is(err, io.EOF) || len(got) != 1000 {
				t.Errorf("echo cut after 1000 bytes: %d bytes, %v; want 1000 and the end of the connection", len(got), err)
			}
		}},
		{"bandwidth", faultproxy.Bandwidth(90), func(t *testing.T, got []byte, err error, took time.Duration) {
			// 36 KB at 90 KB/s: 400ms at least.
			if err != nil || !bytes.Equal(got, msg) || took < 350*time.Millisecond {
				t.Errorf("echo at 90 KB/s: %d bytes, %v, in %s; want it whole, after 350ms or more", len(got), err, took)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := faultproxy.Start(t, echo(t))
			if got, err := roundTrip(t, p.Addr, msg, 5*time.Second); err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("echo before the fault: %d bytes, %v", len(got), err)
			}
			p.Add(t, tc.toxic)
			start := time.Now()
			got, err := roundTrip(t, p.Addr, msg, time.Second)
			tc.check(t, got, err, time.Since(start))
			p.Remove(t, tc.toxic.Name)
			start = time.Now()
			if got, err := roundTrip(t, p.Addr, msg, 5*time.Second); err != nil || !bytes.Equal(got, msg) {
				t.Errorf("echo after the fault: %d bytes, %v", len(got), err)
			} else if took := time.Since(start); took >= 300*time.Millisecond {
				t.Errorf("echo after the fault took %s: the fault is still there", took)
			}
		})
	}
}

// TestSilenceHeldUntilRemoved: a silent peer's connection stays open, and
// removing the fault closes it, so that what waited on it is released.
func TestSilenceHeldUntilRemoved(t *testing.T) {
	t.Parallel()
	p := faultproxy.Start(t, echo(t))
	p.Add(t, faultproxy.Silence())
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := c.Read(make([]byte, 8)); !isTimeout(err) {
		t.Fatalf("read from a silent peer: %d bytes, %v; want none until the deadline", n, err)
	}
	p.Remove(t, "silence")
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 8)); !errors.Is(err, io.EOF) {
		t.Fatalf("read after the silence was removed: %d bytes, %v; want the connection closed", n, err)
	}
}

// TestCutRestore: a cut proxy refuses connections; restored, it forwards
// again on the same address.
func TestCutRestore(t *testing.T) {
	t.Parallel()
	p := faultproxy.Start(t, echo(t))
	p.Cut()
	if _, err := net.DialTimeout("tcp", p.Addr, time.Second); err == nil {
		t.Fatal("a cut proxy accepted a connection")
	}
	p.Restore(t)
	if got, err := roundTrip(t, p.Addr, []byte("ping"), 5*time.Second); err != nil || string(got) != "ping" {
		t.Fatalf("echo after restore: %q, %v", got, err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
