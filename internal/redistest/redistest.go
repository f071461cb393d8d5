// Package redistest starts a private redis-server process for tests, on a
// free port of the loopback interface, and stops it when the test ends.
//
// Tests never use a Redis somebody else started: a machine may already run one
// on 6379, and it is left alone.
package redistest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is one redis-server process owned by a test.
type Server struct {
	// Addr is host:port of the server.
	Addr string
	t    testing.TB
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{}
	args []string
	// detached servers outlive the test that started them and die with the
	// test process.
	detached bool
}

// Start starts a redis-server for t and registers its shutdown with
// t.Cleanup. Extra arguments are passed to redis-server as they are.
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redistest: redis-server not found on PATH: install it (Debian: apt-get install redis-server) or run ./scripts/test, which does")
	}
	s := &Server{t: t, dir: t.TempDir()}
	s.args = append([]string{bin}, extra...)
	var lastErr error
	for range 5 {
		s.port = freePort(t)
		if lastErr = s.start(); lastErr == nil {
			t.Cleanup(s.Stop)
			return s
		}
	}
	t.Fatalf("redistest: starting redis-server: %v", lastErr)
	return nil
}

// Client returns a go-redis client for the server, closed at cleanup. It
// gives up quickly when the server is down, so outage tests stay short.
func (s *Server) Client() redis.UniversalClient {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1, DialerRetries: 1, DialTimeout: time.Second})
	s.t.Cleanup(func() { _ = c.Close() })
	return c
}

// URL returns the redis:// URL of the server.
func (s *Server) URL() string { return "redis://" + s.Addr + "/0" }

func (s *Server) start() error {
	args := append([]string{
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir,
		"--daemonize", "no", "--logfile", "",
	}, s.args[1:]...)
	cmd := exec.Command(s.args[0], args...)
	if s.detached {
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	}
	return s.run(cmd, "Ready to accept connections")
}

// startSentinel runs s.args as they are (a sentinel takes its config file
// first).
func (s *Server) startSentinel() error {
	cmd := exec.Command(s.args[0], append(s.args[1:], "--bind", "127.0.0.1", "--daemonize", "no", "--logfile", "", "--dir", s.dir)...)
	return s.run(cmd, "+monitor master")
}

// run starts cmd and waits for its log to show ready.
func (s *Server) run(cmd *exec.Cmd, ready string) error {
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	s.cmd, s.done = cmd, make(chan struct{})
	readyc := make(chan struct{})
	var log strings.Builder
	go func() {
		sc := bufio.NewScanner(out)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			if !signalled {
				log.WriteString(line + "\n")
				if strings.Contains(line, ready) {
					signalled = true
					close(readyc)
				}
			}
		}
		_ = cmd.Wait()
		close(s.done)
	}()
	select {
	case <-readyc:
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
		return nil
	case <-s.done:
		return fmt.Errorf("redis-server exited: %s", lastLines(log.String()))
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-s.done
		return fmt.Errorf("redis-server not ready after 10s")
	}
}

// Stop kills the server (as an outage would) and waits for it to exit. The
// data it held is gone.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Pause stops the server's process (SIGSTOP): it holds its connections and
// answers nothing, replicates nothing, until Resume.
func (s *Server) Pause() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		s.t.Fatalf("redistest: pausing redis-server: %v", err)
	}
}

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		s.t.Fatalf("redistest: resuming redis-server: %v", err)
	}
}

// Restart starts the server again on the same port after Stop.
func (s *Server) Restart() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatalf("redistest: restarting redis-server: %v", err)
	}
}

// Dir is the server's working directory (for AOF or RDB files).
func (s *Server) Dir() string { return filepath.Clean(s.dir) }

// Ping reports whether the server answers.
func (s *Server) Ping(ctx context.Context) error {
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	defer c.Close()
	return c.Ping(ctx).Err()
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func lastLines(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	return strings.Join(lines, " | ")
}

// StartReplicated starts a master and n replicas of it, each syncing at
// once rather than after Redis's default pause, and returns once every
// replica is in step (WaitReplicas).
func StartReplicated(t testing.TB, n int, extra ...string) (master *Server, replicas []*Server) {
	t.Helper()
	fast := append([]string{"--repl-diskless-sync-delay", "0"}, extra...)
	master = Start(t, fast...)
	host, port, _ := strings.Cut(master.Addr, ":")
	for range n {
		replicas = append(replicas, Start(t, append([]string{"--replicaof", host, port}, fast...)...))
	}
	WaitReplicas(t, master.Addr, n, 20*time.Second)
	return master, replicas
}

// WaitReplicas waits, at most within, until the master at addr has n
// replicas connected and in step with it: what WAIT n answers.
func WaitReplicas(t testing.TB, addr string, n int, within time.Duration) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	deadline := time.Now().Add(within)
	for {
		got, err := c.Do(context.Background(), "wait", n, 100).Int64()
		if err == nil && got >= int64(n) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: %d of %d replicas of %s in step after %s: %v", got, n, addr, within, err)
		}
	}
}
