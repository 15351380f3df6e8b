package memory_test

import (
	"sync"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/adapters/memory"
	"github.com/openbackbeat/backbeat/ports"
	"github.com/openbackbeat/backbeat/ports/failurestest"
)

func TestFailuresContract(t *testing.T) {
	failurestest.Run(t, func(t *testing.T) ports.FailureStore {
		f, err := memory.NewFailures(memory.FailuresConfig{})
		if err != nil {
			t.Fatal(err)
		}
		return f
	})
}

func TestLockerContract(t *testing.T) {
	failurestest.RunLocker(t, func(t *testing.T) ports.Locker { return memory.NewLocker() })
}

// clock is a settable time source for tests.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestFailuresExpire(t *testing.T) {
	clk := &clock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	f, err := memory.NewFailures(memory.FailuresConfig{Retention: time.Hour, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	old := ports.FailedEntry{Site: "s", Bucket: "b", Key: "old", VersionID: "1", FailedAt: clk.Now()}
	if err := f.Add(ctx, old); err != nil {
		t.Fatal(err)
	}
	clk.Advance(40 * time.Minute)
	recent := ports.FailedEntry{Site: "s", Bucket: "b", Key: "recent", VersionID: "1"} // zero time: now
	if err := f.Add(ctx, recent); err != nil {
		t.Fatal(err)
	}
	clk.Advance(30 * time.Minute) // old is 70 min old, recent 30
	p, err := f.List(ctx, "s", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Entries) != 1 || p.Entries[0].Key != "recent" || !p.Entries[0].FailedAt.Equal(clk.Now().Add(-30*time.Minute)) {
		t.Fatalf("after retention, List = %+v, want only the recent entry, failed at the time it was added", p.Entries)
	}
	if found, _ := f.Find(ctx, "b", "old", "1"); len(found) != 0 {
		t.Fatalf("Find of an expired entry = %+v", found)
	}
	if _, err := memory.NewFailures(memory.FailuresConfig{Retention: -time.Second}); err == nil {
		t.Fatal("NewFailures accepted a negative retention")
	}
	if _, err := f.List(ctx, "s", 0, 0); err == nil {
		t.Fatal("List with limit 0 succeeded")
	}
}
