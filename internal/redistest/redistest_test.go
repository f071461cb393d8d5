package redistest

import (
	"context"
	"testing"
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
