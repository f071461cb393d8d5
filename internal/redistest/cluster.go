package redistest

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is a Redis Cluster of a test's own whose three masters have one
// replica each: the topology of the Cluster failover tests. Unlike the
// Cluster the tests of a binary share (StartTopology), a test may pause and
// kill its nodes.
type Cluster struct {
	*Topology
	// Masters are the masters in the order of their slots: Masters[0]
	// serves the lowest.
	Masters []*Server
	// Replicas[i] replicates Masters[i]; when Masters[i] dies, the cluster
	// promotes it.
	Replicas []*Server
	// slots[i] is the first and last slot Masters[i] serves.
	slots [][2]int
	// nodes are every node started, killed ones included.
	nodes []*Server
}

// clusterNodeTimeout is how long the nodes of a Cluster of a test's own wait
// for a silent node before they fail it over: short, for short tests.
const clusterNodeTimeout = time.Second

// replicatedClusterArgs are the redis-server arguments of a node of a
// Cluster of a test's own.
func replicatedClusterArgs() []string {
	return append(clusterNodeArgs(clusterNodeTimeout),
		// The replicas sync at once rather than after the default 5 s pause.
		"--repl-diskless-sync-delay", "0",
		// CLUSTER SLOTS lists a replica once its replication offset is not
		// 0, which on a master without writes takes the master's first ping
		// to its replicas: every second rather than 10.
		"--repl-ping-replica-period", "1",
		// A replica takes over however long it was cut off from its master:
		// the tests pause replicas to make them lag.
		"--cluster-replica-validity-factor", "0")
}

// StartReplicatedCluster starts a Cluster of three masters with a replica
// each, all stopped at cleanup. It returns once every node agrees which node
// is which and every replica is in step with its master.
func StartReplicatedCluster(t testing.TB) *Cluster {
	t.Helper()
	c := &Cluster{Topology: &Topology{Mode: "cluster", t: t}}
	for range 6 {
		n := Start(t, replicatedClusterArgs()...)
		c.nodes, c.Addrs = append(c.nodes, n), append(c.Addrs, n.Addr)
	}
	if err := formCluster(c.Addrs, 1); err != nil {
		t.Fatalf("redistest: %v", err)
	}
	c.settle(t, 20*time.Second)
	return c
}

// settle waits until every node alive has the same view of the cluster,
// says it is ok, and each master's replica is in step (learn); it fails t
// after within.
func (c *Cluster) settle(t testing.TB, within time.Duration) {
	t.Helper()
	ctx := t.Context()
	deadline := time.Now().Add(within)
	var alive []*Server
	for _, n := range c.nodes {
		if n.cmd != nil {
			alive = append(alive, n)
		}
	}
	for {
		err := c.learn(ctx, alive)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: the cluster not settled in %s: %v", within, err)
		}
		time.Sleep(50 * time.Millisecond) // polling a state change, bounded by the deadline
	}
	for _, m := range c.Masters {
		WaitReplicas(t, m.Addr, 1, time.Until(deadline))
	}
}

// learn sets c's masters, replicas and slots once every one of servers
// says the cluster is ok and has the same view of it: three masters, each
// serving a range of slots and followed by a replica that is in sync and
// not failing (CLUSTER SLOTS leaves out the others).
func (c *Cluster) learn(ctx context.Context, servers []*Server) error {
	byAddr := map[string]*Server{}
	var view []redis.ClusterSlot
	for _, s := range servers {
		byAddr[s.Addr] = s
		slots, err := slotsIfOK(ctx, s.Addr)
		if err != nil {
			return err
		}
		slices.SortFunc(slots, func(a, b redis.ClusterSlot) int { return a.Start - b.Start })
		if view == nil {
			view = slots
		} else if !reflect.DeepEqual(view, slots) {
			return fmt.Errorf("%s sees %v, %s %v", s.Addr, slots, servers[0].Addr, view)
		}
	}
	if len(view) != 3 {
		return fmt.Errorf("%d ranges of slots, want 3: %v", len(view), view)
	}
	c.Masters, c.Replicas, c.slots = nil, nil, nil
	for _, sh := range view {
		if len(sh.Nodes) != 2 {
			return fmt.Errorf("slots %d-%d: %d nodes, want a master and its replica", sh.Start, sh.End, len(sh.Nodes))
		}
		m, r := byAddr[sh.Nodes[0].Addr], byAddr[sh.Nodes[1].Addr]
		if m == nil || r == nil {
			return fmt.Errorf("slots %d-%d: nodes %v unknown", sh.Start, sh.End, sh.Nodes)
		}
		c.Masters, c.Replicas = append(c.Masters, m), append(c.Replicas, r)
		c.slots = append(c.slots, [2]int{sh.Start, sh.End})
	}
	return nil
}

// MasterOf returns the index in Masters of the master that served key's
// slot when the cluster started.
func (c *Cluster) MasterOf(key string) int {
	slot := Slot(key)
	for i, r := range c.slots {
		if r[0] <= slot && slot <= r[1] {
			return i
		}
	}
	c.t.Fatalf("redistest: slot %d of %q served by no master", slot, key)
	return -1
}

// ReadReplica returns a client of Replicas[i] that reads its data (READONLY)
// rather than redirecting to the master; closed at cleanup.
func (c *Cluster) ReadReplica(i int) *redis.Client {
	cl := redis.NewClient(&redis.Options{Addr: c.Replicas[i].Addr, OnConnect: func(ctx context.Context, cn *redis.Conn) error {
		return cn.ReadOnly(ctx).Err()
	}})
	c.t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// WaitPromoted waits until Replicas[i] has taken over the slots of
// Masters[i] (once the test killed it) as every other node sees the
// cluster, and every one of them says the cluster is ok. It fails t after
// within.
func (c *Cluster) WaitPromoted(t testing.TB, i int, within time.Duration) {
	t.Helper()
	ctx := t.Context()
	deadline := time.Now().Add(within)
	for {
		err := c.promoted(ctx, i)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: replica %s not promoted in %s: %v", c.Replicas[i].Addr, within, err)
		}
		time.Sleep(50 * time.Millisecond) // polling a state change, bounded by the deadline
	}
}

// ReplaceMaster gives Replicas[i], promoted in place of Masters[i] once
// the test killed it (WaitPromoted), a replica of its own: a new node on a
// new address, as when a dead machine is replaced rather than restarted.
// It waits until the cluster has settled again (as StartReplicatedCluster
// does); then Masters[i] is the promoted node and Replicas[i] the new one.
// It fails t after within. Until then the promoted replica has no replica.
func (c *Cluster) ReplaceMaster(t testing.TB, i int, within time.Duration) {
	t.Helper()
	ctx := t.Context()
	promoted := c.Replicas[i]
	n := Start(t, replicatedClusterArgs()...)
	nc := redis.NewClient(&redis.Options{Addr: n.Addr})
	defer nc.Close()
	pc := redis.NewClient(&redis.Options{Addr: promoted.Addr})
	defer pc.Close()
	id, err := pc.Do(ctx, "cluster", "myid").Text()
	if err != nil {
		t.Fatalf("redistest: the id of %s: %v", promoted.Addr, err)
	}
	host, port, _ := strings.Cut(promoted.Addr, ":")
	if err := nc.ClusterMeet(ctx, host, port).Err(); err != nil {
		t.Fatalf("redistest: %s meeting %s: %v", n.Addr, promoted.Addr, err)
	}
	deadline := time.Now().Add(within)
	for {
		// Refused until the handshake has told the new node of the master.
		err := nc.ClusterReplicate(ctx, id).Err()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: %s not the replica of %s in %s: %v", n.Addr, promoted.Addr, within, err)
		}
		time.Sleep(50 * time.Millisecond) // polling a state change, bounded by the deadline
	}
	c.nodes, c.Addrs = append(c.nodes, n), append(c.Addrs, n.Addr)
	c.settle(t, time.Until(deadline))
}

func (c *Cluster) promoted(ctx context.Context, i int) error {
	for _, s := range append(slices.Clone(c.Masters), c.Replicas...) {
		if s == c.Masters[i] {
			continue
		}
		slots, err := slotsIfOK(ctx, s.Addr)
		if err != nil {
			return err
		}
		k := slices.IndexFunc(slots, func(sh redis.ClusterSlot) bool { return sh.Start == c.slots[i][0] })
		if k < 0 || slots[k].End != c.slots[i][1] || slots[k].Nodes[0].Addr != c.Replicas[i].Addr {
			return fmt.Errorf("%s: slots %d-%d not served by %s: %v", s.Addr, c.slots[i][0], c.slots[i][1], c.Replicas[i].Addr, slots)
		}
	}
	return nil
}

// Slot is the Cluster hash slot of key: CRC16 (XMODEM) of its hash tag, or
// of the whole key when it has none, modulo 16384.
func Slot(key string) int {
	if s := strings.IndexByte(key, '{'); s >= 0 {
		if e := strings.IndexByte(key[s+1:], '}'); e > 0 {
			key = key[s+1 : s+1+e]
		}
	}
	var crc uint16
	for i := range len(key) {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc % 16384)
}

// slotsIfOK returns the node's CLUSTER SLOTS once it says the cluster is ok.
func slotsIfOK(ctx context.Context, addr string) ([]redis.ClusterSlot, error) {
	cl := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, ReadTimeout: time.Second})
	defer cl.Close()
	info, err := cl.ClusterInfo(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	if !strings.Contains(info, "cluster_state:ok") {
		return nil, fmt.Errorf("%s: cluster not ok", addr)
	}
	slots, err := cl.ClusterSlots(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	return slots, nil
}
