package blocklist_test

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookwall/hookwall/blocklist"
	"github.com/hookwall/hookwall/blocklist/blocks"
	"github.com/hookwall/hookwall/blocklist/decision"
	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/hookwall/hookwall/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// BenchmarkIngest decides one forwarded text message per iteration, from
// 10,000 contacts in turn, on a redis-server of its own. Besides the time it
// reports redis-us/op: the microseconds Redis itself spent in the decision
// script per event (INFO commandstats), which the load on the client's side
// does not change.
func BenchmarkIngest(b *testing.B) {
	srv := redistest.Start(b)
	rdb := srv.Client()
	ctx := context.Background()
	s, err := blocklist.New(blocklist.Config{DefaultEnabled: true, Channels: map[string]store.ChannelInfo{
		"line-main": {Type: "line", Bot: true, DedupeWindow: time.Hour},
	}}, rdb)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	if err := s.InitSettings(ctx); err != nil {
		b.Fatal(err)
	}
	msg, _ := json.Marshal(map[string]string{"id": "m", "type": "text", "text": "hello, is anyone there?"})
	raw := json.RawMessage(`{"type":"message","message":{"id":"m","type":"text","text":"hello, is anyone there?"}}`)
	ev := func(i int) decision.Event {
		return decision.Event{
			Channel: "line-main", Contact: "U" + strconv.Itoa(i%10000), ID: "e" + strconv.Itoa(i),
			Type: "message", Message: msg, Text: "hello, is anyone there?", ReceivedAt: time.Now(), Raw: raw,
		}
	}
	if _, err := s.Ingest(ctx, []decision.Event{ev(-1)}); err != nil { // loads the script
		b.Fatal(err)
	}
	if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := s.Ingest(ctx, []decision.Event{ev(i)}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if rest, ok := strings.CutPrefix(line, "cmdstat_evalsha:"); ok {
			for _, kv := range strings.Split(rest, ",") {
				if v, ok := strings.CutPrefix(kv, "usec_per_call="); ok {
					us, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
					b.ReportMetric(us, "redis-us/op")
				}
			}
		}
	}
}

// BenchmarkReleaseTicket releases a full blocked ticket per iteration — the
// default bound of 1,000 messages, and 20,000 with the bound raised — each
// message with a raw event of about 400 bytes. Besides the time of a whole
// release it reports, from Redis's slow log (every command logged), the
// scripts one release runs and the longest and mean time Redis spent in one
// of them: what every other command, any channel's webhook, may wait.
func BenchmarkReleaseTicket(b *testing.B) {
	for _, size := range []int{decision.DefaultTicketMessages, 20000} {
		b.Run(strconv.Itoa(size), func(b *testing.B) { benchmarkRelease(b, size) })
	}
}

func benchmarkRelease(b *testing.B, size int) {
	srv := redistest.Start(b)
	rdb := srv.Client()
	ctx := context.Background()
	s, err := blocklist.New(blocklist.Config{DefaultEnabled: true, TicketMessages: size, Channels: map[string]store.ChannelInfo{
		"wa-main": {Type: "whatsapp", DedupeWindow: time.Hour},
	}}, rdb)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	if err := s.InitSettings(ctx); err != nil {
		b.Fatal(err)
	}
	for _, kv := range [][2]string{{"slowlog-log-slower-than", "0"}, {"slowlog-max-len", "100000"}} {
		if err := rdb.ConfigSet(ctx, kv[0], kv[1]).Err(); err != nil {
			b.Fatal(err)
		}
	}
	pad := strings.Repeat("x", 300)
	var scripts int
	var longest, sum, cpu time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		co := "U" + strconv.Itoa(i)
		if _, err := s.Block(ctx, blocks.BlockRequest{Channel: "wa-main", Contact: co, Action: blocks.ActionQueue, Actor: "bench"}); err != nil {
			b.Fatal(err)
		}
		evs := make([]decision.Event, 0, 500)
		var id string
		for j := range size {
			text := "m" + strconv.Itoa(j)
			msg, _ := json.Marshal(map[string]string{"id": text, "type": "text", "text": text})
			evs = append(evs, decision.Event{
				Channel: "wa-main", Contact: co, ID: co + "-" + text, Type: "message", Message: msg, Text: text,
				ReceivedAt: time.Now(), Raw: json.RawMessage(`{"text":"` + text + `","pad":"` + pad + `"}`),
			})
			if len(evs) == cap(evs) || j == size-1 {
				out, err := s.Ingest(ctx, evs)
				if err != nil {
					b.Fatal(err)
				}
				id, evs = out[0].Ticket, evs[:0]
			}
		}
		if err := rdb.SlowLogReset(ctx).Err(); err != nil {
			b.Fatal(err)
		}
		cpu0 := redisCPU(b, rdb)
		b.StartTimer()
		if r, err := s.ReleaseTicket(ctx, id, "bench"); err != nil || r.Messages != size {
			b.Fatalf("release %+v, %v", r, err)
		}
		b.StopTimer()
		cpu += redisCPU(b, rdb) - cpu0
		log, err := rdb.SlowLogGet(ctx, -1).Result()
		if err != nil {
			b.Fatal(err)
		}
		for _, l := range log {
			if len(l.Args) > 0 && strings.HasPrefix(strings.ToLower(l.Args[0]), "eval") {
				scripts++
				sum += l.Duration
				longest = max(longest, l.Duration)
			}
		}
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(scripts)/float64(b.N), "scripts/op")
	b.ReportMetric(float64(longest.Microseconds()), "max-script-us")
	b.ReportMetric(float64(sum.Microseconds())/float64(scripts), "mean-script-us")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "redis-cpu-us/op")
}

// redisCPU returns the CPU time the redis-server has used (INFO cpu): unlike
// the slow log's wall time, it does not grow when other processes take the
// machine's cores.
func redisCPU(b *testing.B, rdb redis.UniversalClient) time.Duration {
	info, err := rdb.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var sec float64
	for _, line := range strings.Split(info, "\n") {
		for _, k := range []string{"used_cpu_user:", "used_cpu_sys:"} {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), k); ok {
				f, _ := strconv.ParseFloat(v, 64)
				sec += f
			}
		}
	}
	return time.Duration(sec * float64(time.Second))
}

// BenchmarkIngestAck decides one event per iteration on a master with one
// replica, with the replicated acknowledgement off (ack=0) and on (ack=1),
// and reports the p50 and p99 latency of a decision: what
// redis.ack_replicas adds to a webhook's answer (README, "Failover").
func BenchmarkIngestAck(b *testing.B) {
	master, _ := redistest.StartReplicated(b, 1)
	rdb := master.Client()
	ctx := context.Background()
	for _, replicas := range []int{0, 1} {
		b.Run("ack="+strconv.Itoa(replicas), func(b *testing.B) {
			s, err := blocklist.New(blocklist.Config{
				DefaultEnabled: true, Ack: store.Ack{Replicas: replicas, Timeout: 500 * time.Millisecond},
				Channels: map[string]store.ChannelInfo{"line-main": {Type: "line", Bot: true, DedupeWindow: time.Hour}},
			}, rdb)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(s.Close)
			took := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				ev := decision.Event{
					Channel: "line-main", Contact: "U" + strconv.Itoa(i%10000), ID: "a" + strconv.Itoa(replicas) + "-" + strconv.Itoa(i),
					Type: "message", Message: json.RawMessage(`{"type":"text","text":"hi"}`), Text: "hi", ReceivedAt: time.Now(), Raw: json.RawMessage(`{}`),
				}
				start := time.Now()
				if _, err := s.Ingest(ctx, []decision.Event{ev}); err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-us")
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-us")
		})
	}
}
