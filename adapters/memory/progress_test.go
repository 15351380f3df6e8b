package memory_test

import (
	"errors"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/adapters/memory"
	"github.com/openbackbeat/backbeat/ports"
	"github.com/openbackbeat/backbeat/ports/progresstest"
)

func TestProgressContract(t *testing.T) {
	progresstest.Run(t, func(t *testing.T) ports.ProgressStore {
		s, err := memory.NewProgress(memory.ProgressConfig{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestProgressRetention: a record is forgotten Retention after its last
// change, as upstream's per-object Redis keys expire.
func TestProgressRetention(t *testing.T) {
	clk := &clock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	s, err := memory.NewProgress(memory.ProgressConfig{Retention: time.Hour, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	ref := ports.CopyRef{Site: "s", Bucket: "b", Key: "k", VersionID: "v"}
	started := clk.Now()
	if err := s.Begin(ctx, ref, 10, started); err != nil {
		t.Fatal(err)
	}
	clk.Advance(50 * time.Minute)
	if err := s.Advance(ctx, ref, started, 5, clk.Now()); err != nil {
		t.Fatal(err)
	}
	clk.Advance(50 * time.Minute) // 100 min after Begin, 50 after the last change
	if p, err := s.Progress(ctx, ref); err != nil || p.Done != 5 {
		t.Fatalf("kept: %+v %v", p, err)
	}
	clk.Advance(10 * time.Minute)
	if _, err := s.Progress(ctx, ref); !errors.Is(err, ports.ErrNotFound) {
		t.Fatalf("expired: %v", err)
	}
	if _, err := memory.NewProgress(memory.ProgressConfig{Retention: -time.Second}); err == nil {
		t.Fatal("negative retention accepted")
	}
}
