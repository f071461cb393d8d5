package redistest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// ScriptWatch checks that every Lua script run on a server touches only the
// keys its EVAL or EVALSHA declared in KEYS. Redis Cluster requires that of
// a script, but checks only that the keys share a slot: a key of the
// script's own slot built inside it (a prefix from ARGV and an id it read)
// passes there and still breaks the rule, which the Cluster may enforce one
// day and which a proxy that routes by KEYS relies on. Nothing in Redis
// checks it outside cluster mode, so ScriptWatch reads the server's MONITOR
// stream, which shows each command a script runs right next to the EVAL or
// EVALSHA that ran it, and asks the server (COMMAND GETKEYS) which of each
// command's arguments are keys.
type ScriptWatch struct {
	t      testing.TB
	addr   string
	conn   net.Conn
	mu     sync.Mutex
	lines  []string
	notify chan struct{}
	done   chan struct{}
	err    error
	// evalLast is true when the server shows a script's EVAL after the
	// commands the script ran, false when before them (Redis 7.0).
	evalLast bool
}

// WatchScripts starts watching the server's scripts. Call Check to stop and
// report; the watch ends with the test in any case.
func (s *Server) WatchScripts(t testing.TB) *ScriptWatch {
	t.Helper()
	conn, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
	if err != nil {
		t.Fatalf("redistest: monitor: %v", err)
	}
	w := &ScriptWatch{t: t, addr: s.Addr, conn: conn, notify: make(chan struct{}, 1), done: make(chan struct{})}
	t.Cleanup(func() { _ = conn.Close(); <-w.done })
	r := bufio.NewReader(conn)
	if _, err := conn.Write([]byte("MONITOR\r\n")); err != nil {
		t.Fatalf("redistest: monitor: %v", err)
	}
	if line, err := r.ReadString('\n'); err != nil || line != "+OK\r\n" {
		t.Fatalf("redistest: monitor: %q, %v", line, err)
	}
	go w.read(r)

	// Which side of its EVAL does a script's command show?
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	defer c.Close()
	ctx := context.Background()
	if err := c.Eval(ctx, "return redis.call('EXISTS', KEYS[1])", []string{"redistest:calibrate"}).Err(); err != nil {
		t.Fatalf("redistest: monitor: %v", err)
	}
	lines := w.until(ctx, c)
	w.evalLast = true
	for _, l := range lines {
		m, err := parseMonitorLine(l)
		switch {
		case err != nil:
			t.Fatalf("redistest: monitor: %v", err)
		case m.lua:
			return w
		case isEval(m.args):
			w.evalLast = false
		}
	}
	t.Fatalf("redistest: monitor: the calibration script did not show: %q", lines)
	return nil
}

func (w *ScriptWatch) read(r *bufio.Reader) {
	defer close(w.done)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			w.mu.Lock()
			w.err = err
			w.mu.Unlock()
			return
		}
		w.mu.Lock()
		w.lines = append(w.lines, strings.TrimSuffix(line, "\r\n"))
		w.mu.Unlock()
		select {
		case w.notify <- struct{}{}:
		default:
		}
	}
}

// until sends a marker through c and returns every line up to it; they are
// then taken from the watch.
func (w *ScriptWatch) until(ctx context.Context, c *redis.Client) []string {
	w.t.Helper()
	marker := "redistest:monitor:" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if err := c.Exists(ctx, marker).Err(); err != nil {
		w.t.Fatalf("redistest: monitor: %v", err)
	}
	deadline := time.After(10 * time.Second)
	for {
		w.mu.Lock()
		for i, l := range w.lines {
			if strings.HasSuffix(l, `"`+marker+`"`) {
				out := w.lines[:i]
				w.lines = append([]string(nil), w.lines[i+1:]...)
				w.mu.Unlock()
				return out
			}
		}
		err := w.err
		w.mu.Unlock()
		if err != nil {
			w.t.Fatalf("redistest: monitor: %v", err)
		}
		select {
		case <-w.notify:
		case <-deadline:
			w.t.Fatal("redistest: monitor: the marker did not show within 10s")
		}
	}
}

// ScriptRun is one script run the watch saw: what it declared and the
// commands it ran.
type ScriptRun struct {
	// Keys are the keys the EVAL or EVALSHA declared.
	Keys []string
	// Commands are the commands the script ran, as they ran.
	Commands [][]string
}

// Check stops the watch and returns the script runs it saw; it fails the
// test for each command of a script on a key its KEYS do not hold.
func (w *ScriptWatch) Check() []ScriptRun {
	w.t.Helper()
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: w.addr})
	defer c.Close()
	lines := w.until(ctx, c)
	_ = w.conn.Close()
	<-w.done

	runs, err := scriptRuns(lines, w.evalLast)
	if err != nil {
		w.t.Fatalf("redistest: monitor: %v", err)
	}
	for _, r := range runs {
		declared := make(map[string]bool, len(r.Keys))
		for _, k := range r.Keys {
			declared[k] = true
		}
		for _, cmd := range r.Commands {
			keys, err := commandKeys(ctx, c, cmd)
			if err != nil {
				w.t.Errorf("redistest: a script ran %q, whose keys the server does not tell: %v", cmd, err)
				continue
			}
			for _, k := range keys {
				if !declared[k] {
					w.t.Errorf("a script ran %s on %q, which its KEYS %q do not hold", cmd[0], k, r.Keys)
				}
			}
		}
	}
	return runs
}

// scriptRuns ties the commands scripts ran to the EVAL or EVALSHA that ran
// them, in MONITOR lines where that shows after them (evalLast) or before.
func scriptRuns(lines []string, evalLast bool) ([]ScriptRun, error) {
	var (
		runs    []ScriptRun
		pending [][]string // script commands not yet tied to their EVAL
		open    = -1       // the run whose commands follow its EVAL
	)
	for _, l := range lines {
		m, err := parseMonitorLine(l)
		if err != nil {
			return nil, err
		}
		switch {
		case m.lua && evalLast:
			pending = append(pending, m.args)
		case m.lua && open < 0:
			return nil, fmt.Errorf("a script command without its EVAL: %s", l)
		case m.lua:
			runs[open].Commands = append(runs[open].Commands, m.args)
		case isEval(m.args):
			keys, err := evalKeys(m.args)
			if err != nil {
				return nil, fmt.Errorf("%v: %s", err, l)
			}
			runs = append(runs, ScriptRun{Keys: keys, Commands: pending})
			pending, open = nil, len(runs)-1
		case len(pending) > 0:
			return nil, fmt.Errorf("script commands not followed by their EVAL: %q", pending)
		default:
			open = -1
		}
	}
	if len(pending) > 0 {
		return nil, fmt.Errorf("script commands not followed by their EVAL: %q", pending)
	}
	return runs, nil
}

// commandKeys asks the server which arguments of cmd are keys.
func commandKeys(ctx context.Context, c *redis.Client, cmd []string) ([]string, error) {
	if len(cmd) < 2 {
		return nil, nil // a command without arguments names no key
	}
	args := make([]any, len(cmd))
	for i, a := range cmd {
		args[i] = a
	}
	keys, err := c.CommandGetKeys(ctx, args...).Result()
	if err != nil && strings.Contains(err.Error(), "no key arguments") {
		return nil, nil
	}
	return keys, err
}

func isEval(args []string) bool {
	return len(args) > 0 && (strings.EqualFold(args[0], "eval") || strings.EqualFold(args[0], "evalsha") ||
		strings.EqualFold(args[0], "eval_ro") || strings.EqualFold(args[0], "evalsha_ro"))
}

// evalKeys returns the KEYS of an EVAL or EVALSHA: script numkeys keys...
func evalKeys(args []string) ([]string, error) {
	if len(args) < 3 {
		return nil, errors.New("an EVAL without numkeys")
	}
	n, err := strconv.Atoi(args[2])
	if err != nil || n < 0 || 3+n > len(args) {
		return nil, fmt.Errorf("an EVAL with numkeys %q", args[2])
	}
	return args[3 : 3+n], nil
}

// monitorLine is one line of MONITOR: `+<time> [<db> <client>] "arg" ...`.
type monitorLine struct {
	lua  bool // run by a script
	args []string
}

func parseMonitorLine(l string) (monitorLine, error) {
	open := strings.IndexByte(l, '[')
	end := strings.Index(l, "] ")
	if !strings.HasPrefix(l, "+") || open < 0 || end < open {
		return monitorLine{}, fmt.Errorf("not a MONITOR line: %q", l)
	}
	m := monitorLine{lua: strings.HasSuffix(l[open:end], " lua")}
	rest := l[end+2:]
	for rest != "" {
		arg, n, err := unquote(rest)
		if err != nil {
			return monitorLine{}, fmt.Errorf("%v in %q", err, l)
		}
		m.args = append(m.args, arg)
		rest = strings.TrimPrefix(rest[n:], " ")
	}
	return m, nil
}

// unquote reads one argument as MONITOR writes it (sdscatrepr: "...", with
// \\ \" \n \r \t \a \b and \xHH escapes) and returns it and the length read.
func unquote(s string) (string, int, error) {
	if s == "" || s[0] != '"' {
		return "", 0, errors.New("an argument without its opening quote")
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			return b.String(), i + 1, nil
		case c != '\\':
			b.WriteByte(c)
		case i+1 >= len(s):
			return "", 0, errors.New("an escape at the end")
		default:
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'a':
				b.WriteByte('\a')
			case 'b':
				b.WriteByte('\b')
			case 'x':
				if i+2 >= len(s) {
					return "", 0, errors.New("a short \\x escape")
				}
				v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
				if err != nil {
					return "", 0, fmt.Errorf("a bad \\x escape: %v", err)
				}
				b.WriteByte(byte(v))
				i += 2
			default:
				b.WriteByte(s[i])
			}
		}
	}
	return "", 0, errors.New("an argument without its closing quote")
}
