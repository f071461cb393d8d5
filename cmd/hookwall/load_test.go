package main

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/hookwall/hookwall/internal/testkit"
	"github.com/redis/go-redis/v9"
)

// lineLoad is a load of signed LINE text messages from several contacts,
// each contact's sent in turn, as LINE sends them: the next once the last is
// answered 200. A refused request (any other answer, or none) is sent again
// after Backoff, as LINE retries, for up to GiveUp.
type lineLoad struct {
	// Name makes the contacts' ids ("U"+Name+"00", ...) and the event ids.
	Name          string
	Contacts, Per int
	// Base is where to post. It is asked at each try: a test may move the
	// load to another process.
	Base func() string
	// Backoff is the pause before a refused request is sent again: the
	// platform's retry backoff. GiveUp bounds one event's retries.
	Backoff, GiveUp time.Duration
	// OnOK, when set, is called after each answer 200 with how many there
	// have been and when the request answered was sent.
	OnOK func(n int64, sent time.Time)
	// OnRefused, when set, is called after each refused try with the
	// contact's number and the answer, or the error that left it without one.
	OnRefused func(c int, a answer, err error)
}

func (l *lineLoad) contact(c int) string { return fmt.Sprintf("U%s%02d", l.Name, c) }

func (l *lineLoad) text(c, i int) string { return fmt.Sprintf("%s-%03d", l.contact(c), i) }

// loadRun is a lineLoad under way.
type loadRun struct {
	l        *lineLoad
	client   *http.Client
	done     chan struct{} // closed when every poster has ended
	answered atomic.Int64

	mu       sync.Mutex
	ok       [][]string     // each contact's texts answered 200, in order
	refused  map[string]int // refused tries by answer: "503 store_unavailable", "error"
	problems []string
}

// start starts one poster per contact.
func (l *lineLoad) start(t *testing.T) *loadRun {
	t.Helper()
	bodies := make([][][]byte, l.Contacts)
	for c := range l.Contacts {
		for i := range l.Per {
			id := fmt.Sprintf("%s-%02d-%03d", l.Name, c, i)
			bodies[c] = append(bodies[c], lineBody(t, lineEvent{Contact: l.contact(c), ID: id, Text: l.text(c, i)}))
		}
	}
	r := &loadRun{
		l:       l,
		client:  &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: l.Contacts}},
		done:    make(chan struct{}),
		ok:      make([][]string, l.Contacts),
		refused: map[string]int{},
	}
	t.Cleanup(r.client.CloseIdleConnections)
	var wg sync.WaitGroup
	for c := range l.Contacts {
		wg.Go(func() { r.post(c, bodies[c]) })
	}
	go func() {
		wg.Wait()
		close(r.done)
	}()
	return r
}

// post sends one contact's events in turn.
func (r *loadRun) post(c int, bodies [][]byte) {
	l := r.l
	for i, body := range bodies {
		for first := time.Now(); ; {
			sent := time.Now()
			a, err := postLineRaw(r.client, l.Base(), body, "")
			if err == nil && a.Status == http.StatusOK {
				r.mu.Lock()
				r.ok[c] = append(r.ok[c], l.text(c, i))
				r.mu.Unlock()
				n := r.answered.Add(1)
				if l.OnOK != nil {
					l.OnOK(n, sent)
				}
				break
			}
			why := "error"
			if err == nil {
				why = strconv.Itoa(a.Status) + " " + a.code()
			}
			r.mu.Lock()
			r.refused[why]++
			r.mu.Unlock()
			if l.OnRefused != nil {
				l.OnRefused(c, a, err)
			}
			if time.Since(first) > l.GiveUp {
				r.mu.Lock()
				r.problems = append(r.problems, fmt.Sprintf("%s not accepted in %s: %v %d %s", l.text(c, i), l.GiveUp, err, a.Status, a.Body))
				r.mu.Unlock()
				return
			}
			time.Sleep(l.Backoff) // the platform's retry backoff, not a wait for a state
		}
	}
}

// wait waits for the posters to end, and fails t now when an event was not
// accepted.
func (r *loadRun) wait(t *testing.T) {
	t.Helper()
	<-r.done
	for _, p := range r.problems {
		t.Error(p)
	}
	if t.Failed() {
		t.FailNow()
	}
}

// accepted returns each contact's texts answered 200 so far, in order.
func (r *loadRun) accepted() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([][]string, len(r.ok))
	for c, texts := range r.ok {
		out[c] = slices.Clone(texts)
	}
	return out
}

// refusals returns the refused tries, in all and by answer.
func (r *loadRun) refusals() (int, map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, k := range r.refused {
		n += k
	}
	return n, maps.Clone(r.refused)
}

// waitDelivered waits until the bot has taken every event answered 200 and
// checks that each contact's first deliveries are those events, in the order
// of their answers. It returns how many deliveries were duplicates.
func (r *loadRun) waitDelivered(t *testing.T, bot *testkit.Target, limit time.Duration) (dups int) {
	t.Helper()
	ok := r.accepted()
	bot.WaitUntil(t, limit, "every event that got a 200", func() bool {
		for c := range r.l.Contacts {
			if len(firstOrder(texts(bot.Envs(r.l.contact(c))))) < len(ok[c]) {
				return false
			}
		}
		return true
	})
	for c := range r.l.Contacts {
		envs := bot.Envs(r.l.contact(c))
		got := firstOrder(texts(envs))
		dups += len(envs) - len(got)
		if !slices.Equal(got, ok[c]) {
			t.Errorf("%s: first deliveries out of order or unknown:\n got %q\nwant %q", r.l.contact(c), got, ok[c])
		}
	}
	return dups
}

// lost returns the events answered 200 that the bot never took. It fails t
// when a contact's first deliveries are not in the order of their answers
// (a lost event leaving a gap) or include one never answered 200.
func (r *loadRun) lost(t *testing.T, bot *testkit.Target) []string {
	t.Helper()
	return lostInOrder(t, bot, r.l.contact, r.accepted())
}

// lostInOrder is loadRun.lost for the texts ok[c] answered 200 to contact(c).
func lostInOrder(t *testing.T, bot *testkit.Target, contact func(int) string, ok [][]string) []string {
	t.Helper()
	var lost []string
	for c, want := range ok {
		got := firstOrder(texts(bot.Envs(contact(c))))
		j := 0
		for _, text := range got {
			k := slices.Index(want[j:], text)
			if k < 0 {
				t.Errorf("%s: %q delivered out of order or never answered 200:\n got %q\nwant %q", contact(c), text, got, want)
				break
			}
			lost = append(lost, want[j:j+k]...)
			j += k + 1
		}
		lost = append(lost, want[j:]...)
	}
	return lost
}

// duplicates counts the bot's deliveries of contact(c) beyond the first of
// each event, for c below n.
func duplicates(bot *testkit.Target, contact func(int) string, n int) int {
	dups := 0
	for c := range n {
		envs := bot.Envs(contact(c))
		dups += len(envs) - len(firstOrder(texts(envs)))
	}
	return dups
}

// waitQueuesEmpty waits until every delivery shard's stream is empty: all
// that Redis holds was delivered and acknowledged. It fails t after limit.
func waitQueuesEmpty(t *testing.T, rdb redis.UniversalClient, bot *testkit.Target, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for queued := int64(-1); queued != 0; {
		queued = 0
		for b := range store.Buckets {
			n, err := rdb.XLen(t.Context(), store.KeysOfBucket(b).Queue).Result()
			if err != nil && err != redis.Nil {
				queued = -1 // the client still finds its way to the master
				break
			}
			queued += n
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d entries still queued %s after the load", queued, limit)
		}
		if queued != 0 {
			waitChange(t.Context(), bot, 100*time.Millisecond)
		}
	}
}

// takeShards has a stand-in replica, which delivers nothing, take every
// delivery shard's lease: hookwall reads nothing more from the queue until
// releaseShards.
func takeShards(t *testing.T, rdb redis.UniversalClient) {
	t.Helper()
	for b := range store.Buckets {
		if err := rdb.Set(t.Context(), store.KeysOfBucket(b).Lease, "stand-in", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// releaseShards has the stand-in let go of the shards: hookwall takes them
// again.
func releaseShards(t *testing.T, rdb redis.UniversalClient) {
	t.Helper()
	for b := range store.Buckets {
		if err := rdb.Del(t.Context(), store.KeysOfBucket(b).Lease).Err(); err != nil {
			t.Fatal(err)
		}
	}
}
