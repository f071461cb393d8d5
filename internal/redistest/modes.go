package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// ModeEnv names the environment variable that selects the Redis topology of
// the tests that run on any: "single" (default), "cluster" (three masters)
// or "sentinel" (a master watched by one sentinel).
const ModeEnv = "HOOKWALL_TEST_REDIS"

// Topology is a running Redis of some mode, owned by a test.
type Topology struct {
	// Mode is single, cluster or sentinel.
	Mode string
	// Addrs are the addresses clients connect to: the server, the cluster's
	// masters, or the sentinel.
	Addrs []string
	// MasterName is the sentinel's master name (sentinel mode).
	MasterName string
	t          testing.TB
}

// StartTopology starts the Redis topology the environment asks for (ModeEnv).
func StartTopology(t testing.TB) *Topology {
	t.Helper()
	switch mode := os.Getenv(ModeEnv); mode {
	case "", "single":
		s := Start(t)
		return &Topology{Mode: "single", Addrs: []string{s.Addr}, t: t}
	case "cluster":
		return startCluster(t)
	case "sentinel":
		return startSentinel(t)
	default:
		t.Fatalf("redistest: %s=%q: want single, cluster or sentinel", ModeEnv, mode)
		return nil
	}
}

// Client returns a go-redis UniversalClient for the topology, closed at
// cleanup.
func (tp *Topology) Client() redis.UniversalClient {
	opts := &redis.UniversalOptions{Addrs: tp.Addrs, MasterName: tp.MasterName, MaxRetries: -1, DialerRetries: 1, DialTimeout: time.Second}
	if tp.Mode == "cluster" {
		opts.IsClusterMode = true
	}
	c := redis.NewUniversalClient(opts)
	tp.t.Cleanup(func() { _ = c.Close() })
	return c
}

// ConfigYAML is the hookwall config's redis section for the topology.
func (tp *Topology) ConfigYAML() string {
	switch tp.Mode {
	case "single":
		return "redis:\n  url: redis://" + tp.Addrs[0] + "/0\n"
	case "sentinel":
		return "redis:\n  master_name: " + tp.MasterName + "\n  addrs: [\"" + tp.Addrs[0] + "\"]\n"
	}
	return "redis:\n  addrs: [\"" + strings.Join(tp.Addrs, "\", \"") + "\"]\n"
}

// sharedCluster is one Cluster per test binary: creating one takes seconds,
// so the tests of a package share it and each starts from FLUSHALL. Its
// servers die with the test process (Pdeathsig).
var sharedCluster struct {
	once  sync.Once
	addrs []string
	err   error
}

func startCluster(t testing.TB) *Topology {
	t.Helper()
	sharedCluster.once.Do(func() { sharedCluster.addrs, sharedCluster.err = createCluster() })
	if sharedCluster.err != nil {
		t.Fatalf("redistest: %v", sharedCluster.err)
	}
	tp := &Topology{Mode: "cluster", Addrs: sharedCluster.addrs, t: t}
	ctx := context.Background()
	for _, a := range tp.Addrs {
		c := redis.NewClient(&redis.Options{Addr: a})
		err := c.FlushAll(ctx).Err()
		_ = c.Close()
		if err != nil {
			t.Fatalf("redistest: flushing cluster node %s: %v", a, err)
		}
	}
	return tp
}

// clusterNodeArgs are the redis-server arguments of a Cluster node that
// holds a node failing when it has not answered for nodeTimeout.
func clusterNodeArgs(nodeTimeout time.Duration) []string {
	return []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
		"--cluster-node-timeout", strconv.FormatInt(nodeTimeout.Milliseconds(), 10)}
}

// createCluster starts the three masters of the shared Cluster, detached
// from any test.
func createCluster() ([]string, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New("redis-server not found on PATH: install it (Debian: apt-get install redis-server) or run ./scripts/test, which does")
	}
	var addrs []string
	for range 3 {
		dir, err := os.MkdirTemp("", "hookwall-cluster-")
		if err != nil {
			return nil, err
		}
		var s *Server
		for range 5 {
			l, lerr := net.Listen("tcp", "127.0.0.1:0")
			if lerr != nil {
				return nil, lerr
			}
			port := l.Addr().(*net.TCPAddr).Port
			_ = l.Close()
			s = &Server{dir: dir, port: port, detached: true, args: append([]string{bin}, clusterNodeArgs(2*time.Second)...)}
			if err = s.start(); err == nil {
				break
			}
		}
		if err != nil {
			return nil, fmt.Errorf("starting a cluster node: %w", err)
		}
		addrs = append(addrs, s.Addr)
	}
	return addrs, formCluster(addrs, 0)
}

// formCluster makes a Cluster of the nodes at addrs, with replicas replicas
// per master (redis-cli picks which node is which), and waits until every
// node says the cluster is ok.
func formCluster(addrs []string, replicas int) error {
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("redis-cli --cluster create: %v: %s", err, out)
	}
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	for _, a := range addrs {
		c := redis.NewClient(&redis.Options{Addr: a})
		for {
			info, err := c.ClusterInfo(ctx).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				_ = c.Close()
				return fmt.Errorf("cluster not ok after 20s: %v %s", err, info)
			}
			time.Sleep(50 * time.Millisecond) // polling a state change, bounded by the deadline
		}
		_ = c.Close()
	}
	return nil
}

func startSentinel(t testing.TB) *Topology {
	t.Helper()
	master := Start(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	host, port, _ := strings.Cut(master.Addr, ":")
	body := fmt.Sprintf("sentinel monitor hookwall %s %s 1\nsentinel down-after-milliseconds hookwall 2000\n", host, port)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	s := runSentinel(t, dir, conf)
	tp := &Topology{Mode: "sentinel", Addrs: []string{s.Addr}, MasterName: "hookwall", t: t}
	// Wait until the sentinel knows the master.
	c := redis.NewSentinelClient(&redis.Options{Addr: s.Addr})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		addr, err := c.GetMasterAddrByName(context.Background(), "hookwall").Result()
		if err == nil && len(addr) == 2 && addr[1] == port {
			return tp
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: sentinel does not know the master after 10s: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // polling a state change, bounded by the deadline
	}
}

// Keys returns the keys matching pattern on every master of the topology.
func Keys(ctx context.Context, c redis.UniversalClient, pattern string) ([]string, error) {
	cc, ok := c.(*redis.ClusterClient)
	if !ok {
		return c.Keys(ctx, pattern).Result()
	}
	var (
		mu  sync.Mutex
		out []string
	)
	err := cc.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
		keys, err := n.Keys(ctx, pattern).Result()
		mu.Lock()
		out = append(out, keys...)
		mu.Unlock()
		return err
	})
	return out, err
}

// Parallel runs t in parallel with the other parallel tests of its binary,
// unless t runs on the Cluster the binary shares, which each test flushes
// when it starts: the tests on it run one at a time. Every other topology is
// a test's own.
func Parallel(t *testing.T) {
	t.Helper()
	if os.Getenv(ModeEnv) != "cluster" {
		t.Parallel()
	}
}

// Failover is a master with replicas watched by a Sentinel that promotes a
// replica when the master dies: the topology of the failover tests.
type Failover struct {
	*Topology
	// Master is the first master; Stop kills it (SIGKILL).
	Master *Server
	// Replicas replicate from Master.
	Replicas []*Server
}

// StartFailover starts a master, n replicas of it, and a Sentinel that
// fails over one second after the master stops answering. It returns once
// every replica is in step with the master and the Sentinel knows them all.
func StartFailover(t testing.TB, n int) *Failover {
	t.Helper()
	master, replicas := StartReplicated(t, n)
	host, port, _ := strings.Cut(master.Addr, ":")
	f := &Failover{Master: master, Replicas: replicas}
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	body := fmt.Sprintf("sentinel monitor hookwall %s %s 1\n"+
		"sentinel down-after-milliseconds hookwall 1000\n"+
		"sentinel failover-timeout hookwall 10000\n"+
		"sentinel parallel-syncs hookwall %d\n", host, port, n)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	s := runSentinel(t, dir, conf)
	f.Topology = &Topology{Mode: "sentinel", Addrs: []string{s.Addr}, MasterName: "hookwall", t: t}
	sc := redis.NewSentinelClient(&redis.Options{Addr: s.Addr})
	defer sc.Close()
	for {
		replicas, err := sc.Replicas(ctx, "hookwall").Result()
		if err == nil && len(replicas) >= n {
			return f
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: the sentinel knows %d of %d replicas after 20s: %v", len(replicas), n, err)
		}
		time.Sleep(50 * time.Millisecond) // polling a state change, bounded by the deadline
	}
}

// MasterAddr is the address the Sentinel names as the master now.
func (f *Failover) MasterAddr(ctx context.Context) (string, error) {
	sc := redis.NewSentinelClient(&redis.Options{Addr: f.Addrs[0]})
	defer sc.Close()
	addr, err := sc.GetMasterAddrByName(ctx, f.MasterName).Result()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(addr[0], addr[1]), nil
}

// OnlyIn runs t in one pass of ./scripts/test, whose packages run once per
// topology (ModeEnv): a test that starts Redis processes of its own — a
// failover topology, a server it kills or starves — proves the same thing in
// every pass, so it runs in the pass of mode ("single" is the default pass,
// ModeEnv unset) and is skipped, saying where it runs, in the others.
func OnlyIn(t *testing.T, mode string) {
	t.Helper()
	current := os.Getenv(ModeEnv)
	if current == "" {
		current = "single"
	}
	if current != mode {
		t.Skipf("starts its own Redis: runs in the %s pass of ./scripts/test (%s=%s), not in %s", mode, ModeEnv, mode, current)
	}
}

// runSentinel starts a Sentinel on the config file conf in dir, stopped at
// cleanup.
func runSentinel(t testing.TB, dir, conf string) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redistest: redis-server not found on PATH: install it (Debian: apt-get install redis-server) or run ./scripts/test, which does")
	}
	s := &Server{t: t, dir: dir}
	var lastErr error
	for range 5 {
		s.port = freePort(t)
		s.args = []string{bin, conf, "--sentinel", "--port", strconv.Itoa(s.port)}
		if lastErr = s.startSentinel(); lastErr == nil {
			t.Cleanup(s.Stop)
			return s
		}
	}
	t.Fatalf("redistest: starting redis sentinel: %v", lastErr)
	return nil
}
