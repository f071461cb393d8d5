// Package storetest holds what the store's tests share: a store on a test
// Redis with the channels they use, a settable clock, and helpers that
// block, ingest and read back.
package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hookwall/hookwall/blocklist"
	"github.com/hookwall/hookwall/blocklist/blocks"
	"github.com/hookwall/hookwall/blocklist/decision"
	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/hookwall/hookwall/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// Clock is a settable clock for expiry tests.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock set to at.
func NewClock(at time.Time) *Clock { return &Clock{t: at} }

// Now is the time the clock is set to.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Add moves the clock on by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// NewStore returns a store on rdb with the tests' channels (line-main,
// line-other, c, web, a-chan, b-chan; bot-chan has a bot) and its settings
// initialised, block_contact_enabled as enabled says.
func NewStore(t *testing.T, rdb redis.UniversalClient, enabled bool) *blocklist.Store {
	t.Helper()
	chans := map[string]store.ChannelInfo{}
	for _, id := range []string{"line-main", "line-other", "c", "web", "a-chan", "b-chan"} {
		chans[id] = store.ChannelInfo{Type: "line", DedupeWindow: time.Hour}
	}
	chans["bot-chan"] = store.ChannelInfo{Type: "line", Bot: true, DedupeWindow: time.Hour}
	s, err := blocklist.New(blocklist.Config{DefaultEnabled: enabled, Channels: chans}, rdb)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.InitSettings(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// Block blocks the contact with action queue, failing the test on error.
func Block(t *testing.T, s *blocklist.Store, ch, co string) blocks.Entry {
	t.Helper()
	r, err := s.Block(context.Background(), blocks.BlockRequest{
		Channel: ch, Contact: co, Note: "spam", Action: blocks.ActionQueue, Actor: "alice",
	})
	if err != nil {
		t.Fatalf("block %s/%s: %v", ch, co, err)
	}
	return r.Entry
}

// TextEvent is a text message event of the contact.
func TextEvent(ch, co, id, text string) decision.Event {
	msg, _ := json.Marshal(map[string]string{"id": "m-" + id, "type": "text", "text": text})
	return decision.Event{
		Channel: ch, Contact: co, ID: id, Type: "message", Message: msg, Text: text,
		ReceivedAt: time.Now(), Raw: json.RawMessage(`{}`),
	}
}

// Ingest ingests the events, failing the test on error.
func Ingest(t *testing.T, s *blocklist.Store, evs ...decision.Event) []decision.Outcome {
	t.Helper()
	out, err := s.Ingest(context.Background(), evs)
	if err != nil {
		t.Fatalf("ingest: %v", err)
	}
	return out
}

// Entries returns the contact's delivery stream entries, in order.
func Entries(t *testing.T, rdb redis.UniversalClient, co string) []map[string]string {
	t.Helper()
	var out []map[string]string
	for _, k := range KeysLike(t, rdb, "hw:{*}:queue") {
		xs, err := rdb.XRange(t.Context(), k, "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range xs {
			if x.Values["co"] != co {
				continue
			}
			e := map[string]string{}
			for f, v := range x.Values {
				e[f], _ = v.(string)
			}
			out = append(out, e)
		}
	}
	return out
}

// Queue ingests one text message of the contact per text, all queued on its
// ticket, and returns the outcomes.
func Queue(t *testing.T, s *blocklist.Store, co string, texts ...string) []decision.Outcome {
	t.Helper()
	var out []decision.Outcome
	for _, text := range texts {
		o := Ingest(t, s, TextEvent("line-main", co, "ev-"+co+"-"+text, text))
		if o[0].Decision != decision.Queued {
			t.Fatalf("%s: %+v, want queued", text, o[0])
		}
		out = append(out, o[0])
	}
	return out
}

// Texts returns m1 ... mn from m<from>.
func Texts(from, n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("m%d", from+i))
	}
	return out
}

// Dump returns every key of the store with its DUMP: what a refusal must
// leave as it was.
func Dump(t *testing.T, rdb redis.UniversalClient) map[string]string {
	t.Helper()
	keys, err := redistest.Keys(t.Context(), rdb, "*")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range keys {
		out[k] = rdb.Dump(t.Context(), k).Val()
	}
	return out
}

func KeysLike(t *testing.T, rdb redis.UniversalClient, pattern string) []string {
	t.Helper()
	keys, err := redistest.Keys(t.Context(), rdb, pattern)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// Delivered returns what the contact's delivery stream holds, in order: the
// text of each message, the type of each notice.
func Delivered(t *testing.T, rdb redis.UniversalClient, co string) []string {
	t.Helper()
	keys, err := redistest.Keys(t.Context(), rdb, "hw:{*}:queue")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range keys {
		entries, err := rdb.XRange(t.Context(), k, "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Values["co"] != co {
				continue
			}
			var p struct {
				Type    string
				Message struct{ Text string }
			}
			if err := json.Unmarshal([]byte(e.Values["ev"].(string)), &p); err != nil {
				t.Fatalf("entry %v: %v", e.Values, err)
			}
			if p.Message.Text != "" {
				out = append(out, p.Message.Text)
			} else {
				out = append(out, p.Type)
			}
		}
	}
	return out
}
