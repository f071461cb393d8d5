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
