package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// clkTck is USER_HZ, the unit of /proc CPU times; 100 on every Linux the
// bench runs on.
const clkTck = 100

// cpuSnap is a reading of the CPU time of the bench's processes and of the
// whole machine.
type cpuSnap struct {
	at      time.Time
	procs   map[string]uint64 // ticks of user+system time
	busy    uint64            // machine ticks not idle, iowait or steal
	steal   uint64            // ticks the hypervisor gave to other guests
	total   uint64
	loadavg string
}

type watched struct {
	name string
	pid  int
}

func readCPU(ps []watched) cpuSnap {
	s := cpuSnap{at: time.Now(), procs: map[string]uint64{}}
	for _, p := range ps {
		s.procs[p.name] = procTicks(p.pid)
	}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line)
		for i, v := range f[1:] {
			n, _ := strconv.ParseUint(v, 10, 64)
			if i == 8 || i == 9 {
				continue // guest time is already in user
			}
			s.total += n
			switch i {
			case 3, 4:
			case 7:
				s.steal += n
			default:
				s.busy += n
			}
		}
	}
	s.loadavg = loadavg()
	return s
}

func procTicks(pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseUint(f[11], 10, 64)
	s, _ := strconv.ParseUint(f[12], 10, 64)
	return u + s
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// cpuUse is the CPU used between two snapshots, in % of one core, per
// process, and the machine's busy time besides the bench's ("others").
type cpuUse struct {
	procs   map[string]float64
	machine float64 // % of all cores
	steal   float64 // % of all cores
	others  float64 // % of one core
	cores   int
}

func cpuBetween(a, b cpuSnap, ps []watched) cpuUse {
	secs := b.at.Sub(a.at).Seconds()
	u := cpuUse{procs: map[string]float64{}, cores: runtime.NumCPU()}
	var ours float64
	for _, p := range ps {
		v := float64(b.procs[p.name]-a.procs[p.name]) / clkTck / secs * 100
		u.procs[p.name] = v
		ours += v
	}
	if dt := b.total - a.total; dt > 0 {
		u.machine = float64(b.busy-a.busy) / float64(dt) * 100
		u.steal = float64(b.steal-a.steal) / float64(dt) * 100
		u.others = max(u.machine*float64(u.cores)-ours, 0)
	}
	return u
}

// deliveryWatch reads the sink's count and the delivery queue's depth.
type deliveryWatch struct {
	sinkURL string
	rdb     *redis.Client
	queues  []string
	http    *http.Client
}

func (w *deliveryWatch) findQueues(ctx context.Context) error {
	var keys []string
	iter := w.rdb.Scan(ctx, 0, "hw:*:queue", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return err
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		return fmt.Errorf("no hw:*:queue keys in redis")
	}
	w.queues = keys
	return nil
}

// delivered is the number of POSTs the sink has answered.
func (w *deliveryWatch) delivered(ctx context.Context) (int64, error) {
	d, _, _, err := w.sinkCounts(ctx)
	return d, err
}

// sinkCounts returns the POSTs the sink answered, the connections opened to
// it and the envelope ids it saw more than once.
func (w *deliveryWatch) sinkCounts(ctx context.Context) (delivered, conns, repeats int64, err error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, w.sinkURL, nil)
	res, err := w.http.Do(req)
	if err != nil {
		return 0, 0, 0, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, 0, 0, err
	}
	f := strings.Fields(string(b))
	if len(f) != 5 {
		return 0, 0, 0, fmt.Errorf("sink answered %q", b)
	}
	var n [5]int64
	for i, v := range f {
		n[i], _ = strconv.ParseInt(v, 10, 64)
	}
	return n[0] + n[1] + n[2], n[3], n[4], nil
}

// depth is the sum of XLEN over the queue shards: entries not yet delivered
// (delivered entries are deleted from the stream).
func (w *deliveryWatch) depth(ctx context.Context) (int64, error) {
	cmds := make([]*redis.IntCmd, len(w.queues))
	_, err := w.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, q := range w.queues {
			cmds[i] = p.XLen(ctx, q)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	var sum int64
	for _, c := range cmds {
		sum += c.Val()
	}
	return sum, nil
}

type sample struct {
	at        time.Duration // since the ingest started
	accepted  int64
	delivered int64
	depth     int64
}

// sampler records the delivery pace every interval until stopped.
type sampler struct {
	w        *deliveryWatch
	began    time.Time
	accepted func() int64
	samples  []sample
	stop     chan struct{}
	done     chan struct{}
}

func (w *deliveryWatch) sample(interval time.Duration, accepted func() int64) *sampler {
	s := &sampler{w: w, began: time.Now(), accepted: accepted, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			s.take()
			select {
			case <-s.stop:
				s.take()
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *sampler) take() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	d, _ := s.w.delivered(ctx)
	q, _ := s.w.depth(ctx)
	s.samples = append(s.samples, sample{at: time.Since(s.began), accepted: s.accepted(), delivered: d, depth: q})
}

func (s *sampler) finish() []sample {
	close(s.stop)
	<-s.done
	return s.samples
}

// drain waits until the queue is empty and the sink has seen want
// deliveries; it returns how long that took, or false at the timeout.
func (w *deliveryWatch) drain(ctx context.Context, want int64, timeout time.Duration) (time.Duration, bool) {
	began := time.Now()
	for time.Since(began) < timeout && ctx.Err() == nil {
		d, err1 := w.delivered(ctx)
		q, err2 := w.depth(ctx)
		if err1 == nil && err2 == nil && q == 0 && d >= want {
			return time.Since(began), true
		}
		sleepCtx(ctx, 50*time.Millisecond)
	}
	return time.Since(began), false
}

// commandStats returns Redis's INFO commandstats, busiest first.
func commandStats(ctx context.Context, rdb *redis.Client) []string {
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return []string{"INFO commandstats: " + err.Error()}
	}
	type row struct {
		name        string
		calls       int64
		usec        int64
		perCall     float64
		description string
	}
	var rows []row
	for _, line := range strings.Split(info, "\n") {
		line = strings.TrimSpace(line)
		name, rest, ok := strings.Cut(line, ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		r := row{name: strings.TrimPrefix(name, "cmdstat_")}
		for _, kv := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "calls":
				r.calls, _ = strconv.ParseInt(v, 10, 64)
			case "usec":
				r.usec, _ = strconv.ParseInt(v, 10, 64)
			case "usec_per_call":
				r.perCall, _ = strconv.ParseFloat(v, 64)
			}
		}
		rows = append(rows, r)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].usec > rows[j].usec })
	var out []string
	for i, r := range rows {
		if i == 8 {
			break
		}
		out = append(out, fmt.Sprintf("| %s | %d | %.2f | %.2f |", r.name, r.calls, float64(r.usec)/1e6, r.perCall))
	}
	return out
}
