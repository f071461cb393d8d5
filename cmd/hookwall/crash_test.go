package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hookwall/hookwall/internal/redistest"
	"github.com/hookwall/hookwall/internal/testkit"
	"github.com/redis/go-redis/v9"
)

var (
	binMu     sync.Mutex // guards buildDir
	buildDir  string
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

func TestMain(m *testing.M) {
	// go-redis logs every failed dial of the store-outage test on its own;
	// hookwall's logs, which the tests keep, say the same once.
	redis.SetLogger(quietRedis{})
	code := m.Run()
	stopBrowser()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

// hookwallBinary builds this command once per test run, with the race
// detector when the tests have it, and returns the binary's path.
func hookwallBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() { buildBin, buildErr = build(raceEnabled) })
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

var (
	plainOnce sync.Once
	plainBin  string
	plainErr  error
)

// hookwallPlainBinary is hookwallBinary built as it ships, without the race
// detector, whose shadow memory would swamp a measure of the process's own.
func hookwallPlainBinary(t *testing.T) string {
	t.Helper()
	if !raceEnabled {
		return hookwallBinary(t)
	}
	plainOnce.Do(func() { plainBin, plainErr = build(false) })
	if plainErr != nil {
		t.Fatal(plainErr)
	}
	return plainBin
}

// build builds this command into the tests' build directory.
func build(race bool) (string, error) {
	binMu.Lock()
	defer binMu.Unlock()
	if buildDir == "" {
		dir, err := os.MkdirTemp("", "hookwall-test-bin-")
		if err != nil {
			return "", err
		}
		buildDir = dir
	}
	bin := filepath.Join(buildDir, "hookwall")
	args := []string{"build", "-o", bin}
	if race {
		bin += "-race"
		args = []string{"build", "-race", "-o", bin}
	}
	out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
}

// process is a hookwall binary running "serve".
type process struct {
	name string
	cmd  *exec.Cmd
	base string
	log  string
	done chan struct{} // closed when the process has ended
	err  error         // its exit, once done is closed
}

// startProcess writes the configuration and starts the binary on a free
// port; at cleanup it is stopped with SIGTERM, and must then exit 0.
func startProcess(t *testing.T, bin, dir, name string, d configData) *process {
	t.Helper()
	d.Listen = freeAddr(t)
	return startProcessWith(t, bin, dir, name, d.Listen, renderConfig(t, d))
}

// startProcessWith is startProcess with a whole configuration file, which
// listens on listen.
func startProcessWith(t *testing.T, bin, dir, name, listen string, config []byte) *process {
	t.Helper()
	cfg := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(cfg, config, 0o600); err != nil {
		t.Fatal(err)
	}
	p := &process{name: name, base: "http://" + listen, log: filepath.Join(dir, name+".log"), done: make(chan struct{})}
	logf, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, "serve", "--config", cfg)
	p.cmd.Env = append(os.Environ(), "HOOKWALL_LOG_LEVEL=warn")
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() {
		p.err = p.cmd.Wait()
		logf.Close()
		close(p.done)
		exited <- p.err
	}()
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := os.ReadFile(p.log)
			t.Logf("%s log (last 4k):\n%s", name, tail(out, 4096))
		}
	})
	t.Cleanup(func() { p.stop(t) })
	waitReady(t, &http.Client{Timeout: time.Second}, p.base, exited)
	return p
}

// kill sends SIGKILL, as a crash would, and waits for the process to end.
func (p *process) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("killing %s: %v", p.name, err)
	}
	<-p.done
}

// stop sends SIGTERM and expects a drain and exit status 0; a process that
// has ended already (killed) is left alone.
func (p *process) stop(t *testing.T) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			t.Errorf("%s: exit after SIGTERM: %v; want status 0", p.name, p.err)
		}
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Errorf("%s did not exit within 20s of SIGTERM", p.name)
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// TestCrashRecovery drives signed LINE events from many contacts into a
// hookwall process, kills it with SIGKILL mid-flight, starts another process
// on the same Redis, and checks that every event that got a 200 reaches the
// bot at least once, each contact's first deliveries in the order of its
// 200 answers.
func TestCrashRecovery(t *testing.T) {
	bin := hookwallBinary(t)
	srv := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	bot := testkit.NewTarget(t, "bot", botKey)
	helpdesk := testkit.NewTarget(t, "helpdesk", helpdeskKey)
	dir := t.TempDir()
	d := configData{
		RedisURL: srv.URL(), BotURL: bot.URL(), HelpdeskURL: helpdesk.URL(),
		MaxAttempts: 1000, LeaseTTL: "1s",
	}

	const (
		contacts = 50
		per      = 40
		killAt   = contacts * per / 3 // 200 answers before the crash
	)
	p1 := startProcess(t, bin, dir, "first", d)
	var base atomic.Pointer[string]
	base.Store(&p1.base)
	crash := make(chan struct{})
	start := time.Now()
	load := (&lineLoad{
		Name: "crash", Contacts: contacts, Per: per,
		Base: func() string { return *base.Load() },
		// The first process died under the request, or is dying: LINE
		// sends it again, and in time it reaches the second.
		Backoff: 50 * time.Millisecond, GiveUp: time.Minute,
		OnOK: func(n int64, _ time.Time) {
			if n == killAt {
				close(crash)
			}
		},
	}).start(t)

	select {
	case <-crash:
	case <-time.After(30 * time.Second):
		t.Fatal("no load before the crash")
	}
	p1.kill(t)
	atCrash := len(bot.Delivered())
	crashed := time.Now()
	p2 := startProcess(t, bin, dir, "second", d)
	base.Store(&p2.base)
	load.wait(t)
	dups := load.waitDelivered(t, bot, 60*time.Second)
	retried, _ := load.refusals()
	t.Logf("%d events; %d delivered before the crash at %s; %d requests sent again; %d duplicate deliveries; all delivered %s after the crash",
		contacts*per, atCrash, crashed.Sub(start).Round(time.Millisecond), retried, dups, time.Since(crashed).Round(time.Millisecond))
	if n := len(helpdesk.Requests()); n != 0 {
		t.Errorf("helpdesk got %d requests; want none", n)
	}
}
