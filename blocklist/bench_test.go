package blocklist_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookwall/hookwall/blocklist"
	"github.com/hookwall/hookwall/internal/redistest"
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
	s, err := blocklist.New(blocklist.Config{DefaultEnabled: true, Channels: map[string]blocklist.ChannelInfo{
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
	ev := func(i int) blocklist.Event {
		return blocklist.Event{
			Channel: "line-main", Contact: "U" + strconv.Itoa(i%10000), ID: "e" + strconv.Itoa(i),
			Type: "message", Message: msg, Text: "hello, is anyone there?", ReceivedAt: time.Now(), Raw: raw,
		}
	}
	if _, err := s.Ingest(ctx, []blocklist.Event{ev(-1)}); err != nil { // loads the script
		b.Fatal(err)
	}
	if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := s.Ingest(ctx, []blocklist.Event{ev(i)}); err != nil {
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
