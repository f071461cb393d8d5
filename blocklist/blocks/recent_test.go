package blocks_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hookwall/hookwall/blocklist/internal/storetest"

	"github.com/hookwall/hookwall/blocklist"
	"github.com/hookwall/hookwall/blocklist/blocks"
	"github.com/hookwall/hookwall/blocklist/decision"
	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/hookwall/hookwall/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// newRecentStore is a store on a settable clock whose recent-contacts index
// keeps max contacts per channel and bucket (0: the default).
func newRecentStore(t *testing.T, rdb redis.UniversalClient, clk *storetest.Clock, max int) *blocklist.Store {
	t.Helper()
	s, err := blocklist.New(blocklist.Config{
		DefaultEnabled: true, Now: clk.Now, RecentContacts: max,
		Channels: map[string]store.ChannelInfo{
			"line-main": {Type: "line", DedupeWindow: time.Hour},
			"wa-main":   {Type: "whatsapp", Bot: true, DedupeWindow: time.Hour},
		},
	}, rdb)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.InitSettings(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// pageAll pages through the recent contacts with the page size and returns
// every item, checking that each page but the last is full.
func pageAll(t *testing.T, s *blocklist.Store, channel string, limit int) []blocks.RecentContact {
	t.Helper()
	var all []blocks.RecentContact
	cursor := ""
	for pages := 0; ; pages++ {
		items, next, err := s.RecentContacts(context.Background(), blocks.RecentRequest{Channel: channel, Limit: limit, Cursor: cursor})
		if err != nil {
			t.Fatalf("page %d: %v", pages, err)
		}
		all = append(all, items...)
		if next == "" {
			return all
		}
		if len(items) != limit {
			t.Fatalf("page %d has %d items and a next cursor, want %d", pages, len(items), limit)
		}
		if pages > 10000 {
			t.Fatal("paging does not end")
		}
		cursor = next
	}
}

// contactsInBucket returns n contact ids of the channel that fall in the
// bucket.
func contactsInBucket(ch string, bucket, n int) []string {
	var out []string
	for i := 0; len(out) < n; i++ {
		co := fmt.Sprintf("U-b%d-%04d", bucket, i)
		if store.BucketOf(ch, co) == bucket {
			out = append(out, co)
		}
	}
	return out
}

func TestRecentContactsPaging(t *testing.T) {
	redistest.Parallel(t)
	start := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		limit int
		// build ingests the events and returns the contacts, newest first
		// (ties: the order the listing must give, member descending).
		build func(t *testing.T, s *blocklist.Store, clk *storetest.Clock) []string
	}{
		{
			name: "one millisecond apart across buckets", limit: 7,
			build: func(t *testing.T, s *blocklist.Store, clk *storetest.Clock) []string {
				var want []string
				for i := range 40 {
					clk.Add(time.Millisecond)
					co := fmt.Sprintf("U%02d", i)
					storetest.Ingest(t, s, storetest.TextEvent("line-main", co, "e"+co, "hi"))
					want = append([]string{co}, want...)
				}
				return want
			},
		},
		{
			// One batch is received at one instant: the listing orders
			// equal times by contact, descending, and pages through them.
			name: "one batch at one instant", limit: 4,
			build: func(t *testing.T, s *blocklist.Store, clk *storetest.Clock) []string {
				var evs []decision.Event
				var want []string
				for i := range 30 {
					co := fmt.Sprintf("U%02d", i)
					evs = append(evs, storetest.TextEvent("line-main", co, "e"+co, "hi"))
					want = append([]string{co}, want...)
				}
				storetest.Ingest(t, s, evs...)
				return want
			},
		},
		{
			// More contacts of one bucket share the cursor's instant than
			// a read takes beyond the page: the bucket is read again.
			name: "ties beyond the read margin in one bucket", limit: 10,
			build: func(t *testing.T, s *blocklist.Store, clk *storetest.Clock) []string {
				cos := contactsInBucket("line-main", 5, 150)
				var evs []decision.Event
				for _, co := range cos {
					evs = append(evs, storetest.TextEvent("line-main", co, "e"+co, "hi"))
				}
				storetest.Ingest(t, s, evs...)
				clk.Add(time.Millisecond)
				storetest.Ingest(t, s, storetest.TextEvent("line-main", "U-newest", "e-newest", "hi"))
				want := []string{"U-newest"}
				for i := len(cos) - 1; i >= 0; i-- {
					want = append(want, cos[i])
				}
				return want
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rdb := redistest.StartTopology(t).Client()
			clk := storetest.NewClock(start)
			s := newRecentStore(t, rdb, clk, 0)
			want := tc.build(t, s, clk)
			got := pageAll(t, s, "", tc.limit)
			var names []string
			for i, c := range got {
				names = append(names, c.Contact)
				if i > 0 && c.LastMessageAt.After(got[i-1].LastMessageAt) {
					t.Fatalf("item %d (%s at %v) is newer than the one before it", i, c.Contact, c.LastMessageAt)
				}
			}
			if strings.Join(names, " ") != strings.Join(want, " ") {
				t.Fatalf("listed (%d)\n%v\nwant (%d)\n%v", len(names), names, len(want), want)
			}
		})
	}
}

func TestRecentContactsItems(t *testing.T) {
	redistest.Parallel(t)
	rdb := redistest.StartTopology(t).Client()
	// Real time: block expiry is also Redis's own (PEXPIREAT).
	start := time.Now().UTC().Truncate(time.Millisecond)
	clk := storetest.NewClock(start)
	s := newRecentStore(t, rdb, clk, 0)
	ctx := context.Background()

	long := strings.Repeat("é", 99) + "日本語"
	storetest.Ingest(t, s, storetest.TextEvent("line-main", "U-long", "e1", long))
	clk.Add(time.Millisecond)
	storetest.Ingest(t, s, storetest.TextEvent("wa-main", "U-wa", "e2", "hello"))
	clk.Add(time.Millisecond)
	sticker := storetest.TextEvent("line-main", "U-sticker", "e3", "")
	sticker.Message = json.RawMessage(`{"id":"m","type":"sticker"}`)
	storetest.Ingest(t, s, sticker)
	clk.Add(time.Millisecond)
	// A follow is not writing: U-text stays listed by its message.
	storetest.Ingest(t, s, storetest.TextEvent("line-main", "U-text", "e4", "first words"))
	clk.Add(time.Millisecond)
	follow := decision.Event{Channel: "line-main", Contact: "U-text", ID: "e5", Type: "follow", ReceivedAt: time.Now(), Raw: json.RawMessage(`{}`)}
	storetest.Ingest(t, s, follow)
	clk.Add(time.Millisecond)
	if _, err := s.Block(ctx, blocks.BlockRequest{Channel: "line-main", Contact: "U-long", Action: blocks.ActionRecord, Actor: "alice"}); err != nil {
		t.Fatal(err)
	}
	exp := clk.Now().Add(time.Hour)
	if _, err := s.Block(ctx, blocks.BlockRequest{Channel: "wa-main", Contact: "U-wa", Action: blocks.ActionQueue, Actor: "alice", ExpiresAt: &exp}); err != nil {
		t.Fatal(err)
	}

	type item struct {
		channel, contact, preview string
		blocked                   bool
		at                        time.Time
	}
	tests := []struct {
		name    string
		channel string
		advance time.Duration
		want    []item
	}{
		{"every channel", "", 0, []item{
			{"line-main", "U-text", "first words", false, start.Add(3 * time.Millisecond)},
			{"line-main", "U-sticker", "", false, start.Add(2 * time.Millisecond)},
			{"wa-main", "U-wa", "hello", true, start.Add(time.Millisecond)},
			{"line-main", "U-long", strings.Repeat("é", 99) + "日", true, start},
		}},
		{"channel filter", "wa-main", 0, []item{
			{"wa-main", "U-wa", "hello", true, start.Add(time.Millisecond)},
		}},
		{"an expired block is no block", "wa-main", 2 * time.Hour, []item{
			{"wa-main", "U-wa", "hello", false, start.Add(time.Millisecond)},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk.Add(tc.advance)
			items, next, err := s.RecentContacts(ctx, blocks.RecentRequest{Channel: tc.channel, Limit: 50})
			if err != nil || next != "" {
				t.Fatalf("list: next %q, err %v", next, err)
			}
			var got []item
			for _, c := range items {
				got = append(got, item{c.Channel, c.Contact, c.Preview, c.Blocked, c.LastMessageAt})
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("listed\n%v\nwant\n%v", got, tc.want)
			}
		})
	}

	for _, req := range []blocks.RecentRequest{
		{Channel: "nope", Limit: 10},
		{Limit: 0},
		{Limit: store.MaxListLimit + 1},
		{Limit: 10, Cursor: "!!"},
		{Limit: 10, Cursor: "MTox"}, // "1:1", no contact in it
	} {
		if _, _, err := s.RecentContacts(ctx, req); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%+v: err %v, want ErrInvalid", req, err)
		}
	}
}

// TestRecentContactsIndexedDecisions: forwarded, recorded and queued events
// of a contact are indexed; duplicates and passthrough events are not.
func TestRecentContactsIndexedDecisions(t *testing.T) {
	redistest.Parallel(t)
	start := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		action blocks.Action // the contact's block, if any
		event  func() decision.Event
		want   decision.Decision
	}{
		{"forwarded", "", func() decision.Event { return storetest.TextEvent("line-main", "U1", "e1", "a") }, decision.Forwarded},
		{"recorded", blocks.ActionRecord, func() decision.Event { return storetest.TextEvent("line-main", "U1", "e1", "a") }, decision.Recorded},
		{"queued", blocks.ActionQueue, func() decision.Event { return storetest.TextEvent("line-main", "U1", "e1", "a") }, decision.Queued},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rdb := redistest.StartTopology(t).Client()
			clk := storetest.NewClock(start)
			s := newRecentStore(t, rdb, clk, 0)
			ctx := context.Background()
			if tc.action != "" {
				if _, err := s.Block(ctx, blocks.BlockRequest{Channel: "line-main", Contact: "U1", Action: tc.action, Actor: "alice"}); err != nil {
					t.Fatal(err)
				}
			}
			if out := storetest.Ingest(t, s, tc.event()); out[0].Decision != tc.want {
				t.Fatalf("decision %s, want %s", out[0].Decision, tc.want)
			}
			// The redelivery a minute later is a duplicate: it neither
			// moves the contact nor changes the preview.
			clk.Add(time.Minute)
			again := tc.event()
			again.Text = "changed"
			if out := storetest.Ingest(t, s, again); out[0].Decision != decision.Duplicate {
				t.Fatalf("redelivery: %s, want duplicate", out[0].Decision)
			}
			pass := decision.Event{Channel: "line-main", ID: "join", Type: "join", ReceivedAt: time.Now(), Raw: json.RawMessage(`{}`)}
			if out := storetest.Ingest(t, s, pass); out[0].Decision != decision.Forwarded {
				t.Fatalf("passthrough: %s", out[0].Decision)
			}
			items := pageAll(t, s, "", 10)
			if len(items) != 1 || items[0].Contact != "U1" || !items[0].LastMessageAt.Equal(start) || items[0].Preview != "a" {
				t.Fatalf("listed %+v, want U1 at %v with preview a only", items, start)
			}
		})
	}
}

// recentKeys counts the members of the recent-contacts sorted sets and
// preview hashes.
func recentKeys(t *testing.T, rdb redis.UniversalClient) (members, previews int64) {
	t.Helper()
	ctx := context.Background()
	zs, err := redistest.Keys(ctx, rdb, "hw:*:recent:*")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range zs {
		members += rdb.ZCard(ctx, k).Val()
	}
	hs, err := redistest.Keys(ctx, rdb, "hw:*:recentpv:*")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range hs {
		previews += rdb.HLen(ctx, k).Val()
	}
	return members, previews
}

func TestRecentContactsSizeBound(t *testing.T) {
	redistest.Parallel(t)
	rdb := redistest.StartTopology(t).Client()
	clk := storetest.NewClock(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC))
	const bound = 3
	s := newRecentStore(t, rdb, clk, bound)
	cos := contactsInBucket("line-main", 2, 6)
	for i, co := range cos {
		clk.Add(time.Millisecond)
		storetest.Ingest(t, s, storetest.TextEvent("line-main", co, fmt.Sprint("e", i), co))
	}
	// Another channel and another bucket have bounds of their own.
	storetest.Ingest(t, s, storetest.TextEvent("wa-main", cos[0], "w0", "x"))
	other := contactsInBucket("line-main", 3, 1)[0]
	storetest.Ingest(t, s, storetest.TextEvent("line-main", other, "o0", "x"))

	items := pageAll(t, s, "line-main", 50)
	var got []string
	for _, c := range items {
		got = append(got, c.Contact)
		if c.Preview != c.Contact && c.Contact != other {
			t.Errorf("%s has preview %q", c.Contact, c.Preview)
		}
	}
	want := []string{other, cos[5], cos[4], cos[3]}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("listed %v, want %v", got, want)
	}
	if m, p := recentKeys(t, rdb); m != bound+2 || p != bound+2 {
		t.Fatalf("index holds %d members and %d previews, want %d of each", m, p, bound+2)
	}
}

func TestRecentContactsAgeBound(t *testing.T) {
	redistest.Parallel(t)
	rdb := redistest.StartTopology(t).Client()
	start := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	clk := storetest.NewClock(start)
	s := newRecentStore(t, rdb, clk, 0)
	cos := contactsInBucket("line-main", 7, 2)
	storetest.Ingest(t, s, storetest.TextEvent("line-main", cos[0], "e0", "old"))
	clk.Add(store.RecentContactsAge - time.Minute)
	storetest.Ingest(t, s, storetest.TextEvent("line-main", cos[1], "e1", "new"))

	list := func() []string {
		var out []string
		for _, c := range pageAll(t, s, "", 50) {
			out = append(out, c.Contact)
		}
		return out
	}
	if got := list(); fmt.Sprint(got) != fmt.Sprint([]string{cos[1], cos[0]}) {
		t.Fatalf("within the age bound: %v", got)
	}
	// Past the bound the old contact is no longer listed, even before an
	// event trims it from the index ...
	clk.Add(2 * time.Minute)
	if got := list(); fmt.Sprint(got) != fmt.Sprint([]string{cos[1]}) {
		t.Fatalf("past the age bound: %v, want only %s", got, cos[1])
	}
	if m, p := recentKeys(t, rdb); m != 2 || p != 2 {
		t.Fatalf("before a trim: %d members, %d previews", m, p)
	}
	// ... and the next event of its channel and bucket trims it, preview
	// and all.
	storetest.Ingest(t, s, storetest.TextEvent("line-main", cos[1], "e2", "newer"))
	if m, p := recentKeys(t, rdb); m != 1 || p != 1 {
		t.Fatalf("after a trim: %d members, %d previews, want 1 and 1", m, p)
	}
	ttl := rdb.PTTL(context.Background(), "hw:"+bucketTag(t, rdb, "line-main", cos[1])+":recent:line-main").Val()
	if ttl <= 0 || ttl > store.RecentContactsAge {
		t.Fatalf("index ttl %v, want up to %v", ttl, store.RecentContactsAge)
	}
}

// bucketTag finds the hash tag of the contact's bucket from the stored keys.
func bucketTag(t *testing.T, rdb redis.UniversalClient, ch, co string) string {
	t.Helper()
	keys, err := redistest.Keys(context.Background(), rdb, "hw:*:conv:"+ch+":"+co)
	if err != nil || len(keys) != 1 {
		t.Fatalf("conversation key of %s: %v %v", co, keys, err)
	}
	k := strings.TrimPrefix(keys[0], "hw:")
	return k[:strings.Index(k, "}")+1]
}

func TestAuditPaging(t *testing.T) {
	redistest.Parallel(t)
	rdb := redistest.StartTopology(t).Client()
	s := storetest.NewStore(t, rdb, true)
	ctx := context.Background()
	for i := range 30 {
		storetest.Block(t, s, "line-main", fmt.Sprintf("U%02d", i))
	}
	// Records of one millisecond are ordered by bucket, not by time: the
	// settings update comes a few milliseconds after the blocks.
	time.Sleep(5 * time.Millisecond)
	if err := s.SetEnabled(ctx, "root", false); err != nil {
		t.Fatal(err)
	}
	whole, next, err := s.Audit(ctx, store.MaxListLimit, "")
	if err != nil || next != "" || len(whole) != 31 {
		t.Fatalf("one page: %d records, next %q, err %v", len(whole), next, err)
	}
	if whole[0].Action != "settings.update" {
		t.Fatalf("newest record %+v, want the settings update", whole[0])
	}
	for _, limit := range []int{1, 4, 30, 31} {
		t.Run(fmt.Sprint("limit ", limit), func(t *testing.T) {
			var got []blocks.AuditRecord
			cursor := ""
			for pages := 0; ; pages++ {
				items, next, err := s.Audit(ctx, limit, cursor)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, items...)
				if next == "" {
					break
				}
				if len(items) != limit || pages > 100 {
					t.Fatalf("page %d: %d records with a next cursor", pages, len(items))
				}
				cursor = next
			}
			if fmt.Sprint(got) != fmt.Sprint(whole) {
				t.Fatalf("paged records differ from the one page:\n%v\n%v", got, whole)
			}
		})
	}
	for _, c := range []string{"!!", "MTox", "MTowLjE", "MTowMDAwMDAwMDAwMDAwMDAwMDAwMC4xNg"} {
		if _, _, err := s.Audit(ctx, 10, c); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("cursor %q: err %v, want ErrInvalid", c, err)
		}
	}
}
