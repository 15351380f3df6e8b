package memory_test

import (
	"context"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/adapters/memory"
	"github.com/openbackbeat/backbeat/ports"
	"github.com/openbackbeat/backbeat/ports/sitestest"
)

func TestSiteControlContract(t *testing.T) {
	sitestest.Run(t, func(t *testing.T) (ports.SiteControl, ports.SiteControl) {
		c := memory.NewSiteControl() // one store: both "processes" share it
		return c, c
	})
}

// TestSiteControlSlowWatcherGetsLatest checks that SetState never waits
// for a watcher and that a watcher that reads late gets the last state.
func TestSiteControlSlowWatcherGetsLatest(t *testing.T) {
	c := memory.NewSiteControl()
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	ch, err := c.Watch(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 { // nobody reads ch meanwhile
		if err := c.SetState(ctx, "s", ports.SiteState{Paused: i%2 == 0}); err != nil {
			t.Fatal(err)
		}
	}
	last := ports.SiteState{Paused: true, ScheduledResume: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	if err := c.SetState(ctx, "s", last); err != nil {
		t.Fatal(err)
	}
	got, sawLast := 0, false
	for st := range ch {
		got++
		if st == last {
			sawLast = true
			cancel()
		}
	}
	if !sawLast {
		t.Fatal("the watch ended without sending the last state")
	}
	if got > 2 {
		t.Fatalf("a watcher that read late received %d states, want the current one then the last", got)
	}
}
