package redistest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestStartStopRestart(t *testing.T) {
	s := Start(t)
	ctx := context.Background()
	c := s.Client()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("set: %v", err)
	}
	s.Stop()
	if err := s.Ping(ctx); err == nil {
		t.Fatal("ping after Stop succeeded; want an error")
	}
	s.Restart()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("ping after Restart: %v", err)
	}
}

func TestTopologies(t *testing.T) {
	for _, mode := range []string{"single", "cluster", "sentinel"} {
		t.Run(mode, func(t *testing.T) {
			t.Setenv(ModeEnv, mode)
			tp := StartTopology(t)
			c := tp.Client()
			ctx := context.Background()
			// Keys in every slot range must be writable: the topology is whole.
			for i := range 50 {
				k := "k" + string(rune('a'+i%26)) + string(rune('a'+i/26))
				if err := c.Set(ctx, k, "v", 0).Err(); err != nil {
					t.Fatalf("%s: set %s: %v", mode, k, err)
				}
			}
			if tp.Mode != mode {
				t.Fatalf("mode = %q", tp.Mode)
			}
		})
	}
}

// errorRecorder keeps what a check reports instead of failing the test.
type errorRecorder struct {
	testing.TB
	errs []string
}

func (r *errorRecorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// TestWatchScripts: the watch passes scripts that touch only their KEYS and
// reports each command on another key — written or only read, built inside
// the script or passed in ARGV — however its bytes are escaped on MONITOR.
func TestWatchScripts(t *testing.T) {
	s := Start(t)
	c := s.Client()
	ctx := context.Background()
	rec := &errorRecorder{TB: t}
	w := s.WatchScripts(rec)

	declared := redis.NewScript(`redis.call('SET', KEYS[1], ARGV[1]); return redis.call('GET', KEYS[1])`)
	built := redis.NewScript(`redis.call('DEL', KEYS[1], ARGV[1] .. 'b'); return 1`)
	read := redis.NewScript(`return redis.call('HGET', ARGV[1], 'f')`)
	odd := "{t}a \"q\"\x00\n\xff\\"
	for _, run := range []func() error{
		func() error { return declared.Run(ctx, c, []string{odd}, "v\x00\"").Err() },
		func() error { return declared.Run(ctx, c, []string{odd}, "w").Err() }, // EVALSHA this time
		func() error { return built.Run(ctx, c, []string{"{t}a"}, "{t}").Err() },
		func() error { return read.Run(ctx, c, nil, odd+"h").Err() },
	} {
		if err := run(); err != nil && err != redis.Nil {
			t.Fatal(err)
		}
	}
	runs := w.Check()

	var cmds int
	for _, r := range runs {
		cmds += len(r.Commands)
	}
	if cmds != 6 {
		t.Errorf("the watch saw %d script commands in %+v, want 6", cmds, runs)
	}
	want := []string{
		fmt.Sprintf("a script ran DEL on %q, which its KEYS [\"{t}a\"] do not hold", "{t}b"),
		fmt.Sprintf("a script ran HGET on %q, which its KEYS [] do not hold", odd+"h"),
	}
	if !slices.Equal(rec.errs, want) {
		t.Errorf("reported %q, want %q", rec.errs, want)
	}
}

// TestScriptRunsEvalLast ties script commands to their EVAL also where the
// server shows the EVAL after them, as a server newer than the tests' may.
func TestScriptRunsEvalLast(t *testing.T) {
	lines := []string{
		`+1.0 [0 127.0.0.1:1] "hello" "3"`,
		`+1.1 [0 lua] "set" "a" "1"`,
		`+1.2 [0 lua] "del" "b\x00"`,
		`+1.3 [0 127.0.0.1:1] "evalsha" "f00" "1" "a" "x"`,
		`+1.4 [0 127.0.0.1:1] "evalsha" "f00" "0"`,
		`+1.5 [0 127.0.0.1:1] "get" "a"`,
	}
	runs, err := scriptRuns(lines, true)
	want := []ScriptRun{
		{Keys: []string{"a"}, Commands: [][]string{{"set", "a", "1"}, {"del", "b\x00"}}},
		{Keys: []string{}},
	}
	if err != nil || fmt.Sprintf("%q", runs) != fmt.Sprintf("%q", want) {
		t.Errorf("runs %q, %v; want %q", runs, err, want)
	}
	if _, err := scriptRuns(append(lines, `+1.6 [0 lua] "get" "a"`, lines[5]), true); err == nil {
		t.Error("script commands followed by no EVAL: no error")
	}
}

// TestReplicatedCluster: each master's replica has its writes, and when the
// master dies the cluster promotes that replica, which then takes writes;
// a new node replaces the old master as its replica.
func TestReplicatedCluster(t *testing.T) {
	c := StartReplicatedCluster(t)
	ctx := t.Context()
	rdb := c.Client()
	keys := make([]string, len(c.Masters))
	for k := 0; slices.Contains(keys, ""); k++ {
		key := fmt.Sprintf("{k%d}.x", k) // Slot hashes the tag alone
		if keys[c.MasterOf(key)] == "" {
			keys[c.MasterOf(key)] = key
		}
	}
	for i, key := range keys {
		if slot, err := rdb.ClusterKeySlot(ctx, key).Result(); err != nil || int(slot) != Slot(key) {
			t.Fatalf("the server puts %q in slot %d (%v), Slot in %d", key, slot, err, Slot(key))
		}
		if err := rdb.Set(ctx, key, "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
		if n, err := c.Masters[i].Client().Do(ctx, "wait", 1, 5000).Int64(); err != nil || n != 1 {
			t.Fatalf("wait on master %d: %d, %v", i, n, err)
		}
		if got, err := c.ReadReplica(i).Get(ctx, key).Result(); err != nil || got != "v" {
			t.Fatalf("replica %d: %q, %v; want %q", i, got, err, "v")
		}
	}
	c.Masters[1].Stop()
	c.WaitPromoted(t, 1, 20*time.Second)
	// A client that has just learnt the cluster writes to the promoted replica.
	if err := c.Client().Set(ctx, keys[1], "w", 0).Err(); err != nil {
		t.Fatalf("set on the promoted replica: %v", err)
	}
	if got, err := c.Replicas[1].Client().Get(ctx, keys[1]).Result(); err != nil || got != "w" {
		t.Fatalf("the promoted replica: %q, %v; want %q", got, err, "w")
	}
	// A new node replaces the old master as the replica of the new one.
	c.ReplaceMaster(t, 1, 20*time.Second)
	if got, err := c.ReadReplica(1).Get(ctx, keys[1]).Result(); err != nil || got != "w" {
		t.Fatalf("the new replica: %q, %v; want %q", got, err, "w")
	}
}
