package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a child process the bench started and must stop.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

// procs stops, in reverse order of start, everything the bench started.
type procs struct {
	mu   sync.Mutex
	list []*proc
	// cpus, when set, pins the processes it names to CPUs (taskset -c).
	cpus map[string]string
}

// start runs the command in its own process group (so a Ctrl-C reaches the
// bench, which then stops the children in order) with Pdeathsig, so that a
// child dies with the bench even if the bench is killed outright.
func (ps *procs) start(name, logPath string, env []string, args ...string) (*proc, error) {
	if c, ok := ps.cpus[name]; ok {
		args = append([]string{"taskset", "-c", c}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	ps.mu.Lock()
	ps.list = append(ps.list, p)
	ps.mu.Unlock()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, waits up to grace, then kills.
func (p *proc) stop(grace time.Duration) {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// stopAll stops every child, newest first.
func (ps *procs) stopAll() {
	ps.mu.Lock()
	list := ps.list
	ps.list = nil
	ps.mu.Unlock()
	for i := len(list) - 1; i >= 0; i-- {
		list[i].stop(10 * time.Second)
	}
}

// lastLines is the tail of a child's log, for error messages.
func lastLines(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func addrOf(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// startRedis starts a private redis-server on a free loopback port.
func startRedis(ps *procs, dir string, aof bool) (*proc, string, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, "", errors.New("redis-server not found on PATH (Debian: apt-get install redis-server)")
	}
	var lastErr error
	for range 3 {
		port, err := freePort()
		if err != nil {
			return nil, "", err
		}
		args := []string{bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "",
			"--dir", dir, "--daemonize", "no", "--logfile", "", "--protected-mode", "yes"}
		if aof {
			args = append(args, "--appendonly", "yes", "--appendfsync", "everysec")
		} else {
			args = append(args, "--appendonly", "no")
		}
		p, err := ps.start("redis-server", filepath.Join(dir, "redis.log"), os.Environ(), args...)
		if err != nil {
			return nil, "", err
		}
		if lastErr = waitLog(p, "Ready to accept connections", 10*time.Second); lastErr == nil {
			return p, addrOf(port), nil
		}
		p.stop(time.Second)
	}
	return nil, "", fmt.Errorf("redis-server did not start: %w", lastErr)
}

// waitLog waits until the child's log holds the line.
func waitLog(p *proc, want string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if b, _ := os.ReadFile(p.log); strings.Contains(string(b), want) {
			return nil
		}
		if p.exited() {
			return fmt.Errorf("%s exited:\n%s", p.name, lastLines(p.log, 10))
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %s:\n%s", p.name, timeout, lastLines(p.log, 10))
}

// waitHTTP waits until GET url answers 200.
func waitHTTP(ctx context.Context, p *proc, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	c := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if res, err := c.Get(url); err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		if p.exited() {
			return fmt.Errorf("%s exited:\n%s", p.name, lastLines(p.log, 20))
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %s:\n%s", p.name, timeout, lastLines(p.log, 20))
}

// pprofOverlay is compiled into cmd/hookwall (through go build -overlay, the
// tree is not touched) when the hookwall source does not serve
// HOOKWALL_PPROF itself yet.
const pprofOverlay = `package main

import (
	"net/http"
	_ "net/http/pprof"
	"os"
)

func init() {
	if addr := os.Getenv("HOOKWALL_PPROF"); addr != "" {
		go func() { _ = http.ListenAndServe(addr, nil) }()
	}
}
`

// buildHookwall builds cmd/hookwall into dir, with GOEXPERIMENT set to
// experiment. With withPprof and a hookwall that does not read
// HOOKWALL_PPROF, it adds a pprof listener through an overlay; it reports
// whether it did.
func buildHookwall(ctx context.Context, root, dir string, withPprof bool, experiment string) (string, bool, error) {
	out := filepath.Join(dir, "hookwall")
	args := []string{"build", "-o", out}
	overlaid := false
	if withPprof && !sourceHasPprof(filepath.Join(root, "cmd", "hookwall")) {
		src := filepath.Join(dir, "bench_pprof.go")
		if err := os.WriteFile(src, []byte(pprofOverlay), 0o644); err != nil {
			return "", false, err
		}
		ov := filepath.Join(dir, "overlay.json")
		target := filepath.Join(root, "cmd", "hookwall", "zz_bench_pprof.go")
		js := fmt.Sprintf(`{"Replace":{%q:%q}}`, target, src)
		if err := os.WriteFile(ov, []byte(js), 0o644); err != nil {
			return "", false, err
		}
		args = append(args, "-overlay", ov)
		overlaid = true
	}
	args = append(args, "./cmd/hookwall")
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOEXPERIMENT="+experiment)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", false, fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, b)
	}
	return out, overlaid, nil
}

func sourceHasPprof(dir string) bool {
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), "HOOKWALL_PPROF") {
			return true
		}
	}
	return false
}

// moduleRoot finds the directory of go.mod from the working directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/hookwall/hookwall") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run the bench inside the hookwall module (go run ./scripts/bench)")
		}
		dir = parent
	}
}

// hookwallConfig is the generated configuration: real Redis, one LINE
// channel whose bot and helpdesk are the sink.
func hookwallConfig(listen, redisAddr, sinkAddr, secret string) string {
	return fmt.Sprintf(`# generated by scripts/bench
listen: %q
redis:
  url: "redis://%s/0"
admin:
  tokens:
    - name: bench-admin
      role: admin
      token: "bench-admin-token-000000000001"
channels:
  - id: line-main
    type: line
    secret: %q
    access_token: "bench-line-access-token"
    blocked_action: queue
    bot:
      url: "http://%s/bot"
      secret: "whsec_YmVuY2ggbGluZSBib3Qga2V5IC0gbm90IGEgc2VjcmV0"
      enabled: true
    helpdesk:
      url: "http://%s/helpdesk"
      secret: "whsec_YmVuY2ggaGVscGRlc2sga2V5IC0gbm90IGEgc2VjcmV0"
shutdown:
  grace: 5s
`, listen, redisAddr, secret, sinkAddr, sinkAddr)
}

// firstLine is the first line of a command's output (for version strings).
func firstLine(name string, args ...string) string {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	if sc.Scan() {
		return strings.TrimSpace(sc.Text())
	}
	return ""
}
