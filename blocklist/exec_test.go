package blocklist_test

import (
	"errors"
	"testing"

	"github.com/hookwall/hookwall/blocklist/internal/storetest"

	"github.com/hookwall/hookwall/blocklist/decision"
	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/hookwall/hookwall/internal/redistest"
)

// TestFullRedisIsUnavailable: a Redis out of memory with maxmemory-policy
// noeviction answers OOM to a script whose first write would grow memory.
// The decision and settings are such writes: they fail with ErrUnavailable
// (503: retry later), never an internal error, and store nothing. OOM used to
// be missing from the table of unavailable replies. (A script whose first
// write frees memory — a block starts by deleting the old entry — Redis lets
// run to the end, for atomicity: it succeeds, and says so.)
func TestFullRedisIsUnavailable(t *testing.T) {
	redistest.Parallel(t)
	srv := redistest.Start(t)
	rdb := srv.Client()
	s := storetest.NewStore(t, rdb, true)
	ctx := t.Context()
	before := storetest.Dump(t, rdb)
	if err := rdb.ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
		t.Fatal(err)
	}
	writes := []struct {
		name  string
		write func() error
	}{
		{"ingest", func() error {
			_, err := s.Ingest(ctx, []decision.Event{storetest.TextEvent("line-main", "Ufull", "ev-full", "hi")})
			return err
		}},
		{"settings", func() error { return s.SetEnabled(ctx, "root", false) }},
	}
	for _, w := range writes {
		if err := w.write(); !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s on a full Redis: %v; want ErrUnavailable", w.name, err)
		}
	}
	if err := rdb.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	after := storetest.Dump(t, rdb)
	if len(after) != len(before) {
		t.Errorf("%d keys before, %d after", len(before), len(after))
	}
	for k, v := range before {
		if after[k] != v {
			t.Errorf("key %s changed on a full Redis", k)
		}
	}
	// Memory back: the same writes go through.
	for _, w := range writes {
		if err := w.write(); err != nil {
			t.Errorf("%s once memory is back: %v", w.name, err)
		}
	}
}
