// Package sitestest is the contract suite of ports.SiteControl, run by
// every adapter of the port. The constructor returns two handles on one
// backing store, as two processes would hold (for an in-process store both
// may be the same value):
//
//	sitestest.Run(t, func(t *testing.T) (a, b ports.SiteControl) {
//		return newControl(t), newControl(t)
//	})
//
// Each case uses sites of its own (random names) and runs in parallel.
package sitestest

import (
	"context"
	"testing"
	"time"

	shared "github.com/openbackbeat/backbeat/ports/internal/suite"

	"github.com/openbackbeat/backbeat/ports"
)

// Timeouts. The product needs a change to reach every watcher within a
// second; the suite allows NotifyTimeout for a loaded test machine and logs
// anything slower than a second.
const (
	opTimeout     = 20 * time.Second
	NotifyTimeout = 3 * time.Second
	notifyTarget  = time.Second
)

// Run checks the ports.SiteControl contract. newControl is called once per
// case and registers its own cleanup with t.
func Run(t *testing.T, newControl func(t *testing.T) (a, b ports.SiteControl)) {
	t.Helper()
	cases := []struct {
		name string
		fn   func(t *testing.T, a, b ports.SiteControl)
	}{
		{"DefaultIsRunning", testDefault},
		{"SetStatePersists", testPersists},
		{"ScheduledResumeRoundTrip", testScheduledResume},
		{"WatchSendsCurrentStateFirst", testWatchCurrent},
		{"WatchSendsChanges", testWatchChanges},
		{"WatchEndsWithContext", testWatchEnds},
		{"SitesAreIndependent", testSitesIndependent},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			a, b := newControl(t)
			c.fn(t, a, b)
		})
	}
}

func ctxFor(t *testing.T) context.Context { return shared.Context(t, opTimeout) }

func unique(prefix string) string { return shared.Unique(prefix) }

// same compares states at the millisecond precision the port promises.
func same(a, b ports.SiteState) bool {
	return a.Paused == b.Paused && a.ScheduledResume.IsZero() == b.ScheduledResume.IsZero() &&
		a.ScheduledResume.UnixMilli() == b.ScheduledResume.UnixMilli()
}

func state(t *testing.T, c ports.SiteControl, site string) ports.SiteState {
	t.Helper()
	st, err := c.State(ctxFor(t), site)
	if err != nil {
		t.Fatalf("State(%s): %v", site, err)
	}
	return st
}

func wantState(t *testing.T, c ports.SiteControl, which, site string, want ports.SiteState) {
	t.Helper()
	if got := state(t, c, site); !same(got, want) {
		t.Fatalf("State(%s) on handle %s = %+v, want %+v", site, which, got, want)
	}
}

func set(t *testing.T, c ports.SiteControl, site string, st ports.SiteState) {
	t.Helper()
	if err := c.SetState(ctxFor(t), site, st); err != nil {
		t.Fatalf("SetState(%s, %+v): %v", site, st, err)
	}
}

func watch(t *testing.T, ctx context.Context, c ports.SiteControl, site string) <-chan ports.SiteState {
	t.Helper()
	ch, err := c.Watch(ctx, site)
	if err != nil {
		t.Fatalf("Watch(%s): %v", site, err)
	}
	return ch
}

// next returns the next state sent on ch within d.
func next(t *testing.T, ch <-chan ports.SiteState, d time.Duration, what string) ports.SiteState {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case st, ok := <-ch:
		if !ok {
			t.Fatalf("the watch channel closed while waiting for %s", what)
		}
		return st
	case <-timer.C:
		t.Fatalf("no state sent within %s while waiting for %s", d, what)
	}
	return ports.SiteState{}
}

// waitFor reads ch until it sends want, within NotifyTimeout of the call.
// Intermediate states may be skipped (a watcher may see only the latest)
// or repeated, but each one seen must be one that was set, in order.
func waitFor(t *testing.T, ch <-chan ports.SiteState, want ports.SiteState, allowed []ports.SiteState) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(NotifyTimeout)
	pos := 0
	for {
		st := next(t, ch, time.Until(deadline), "a state change")
		if same(st, want) {
			if d := time.Since(start); d > notifyTarget {
				t.Logf("a state change reached its watcher after %s, over the %s the product needs", d, notifyTarget)
			}
			return
		}
		found := pos > 0 && same(allowed[pos-1], st)
		for !found && pos < len(allowed) {
			pos++
			if same(allowed[pos-1], st) {
				found = true
				break
			}
		}
		if !found {
			t.Fatalf("watch sent %+v, which is not among the states set (in order) %+v", st, allowed)
		}
	}
}

func testDefault(t *testing.T, a, b ports.SiteControl) {
	site := unique("site")
	wantState(t, a, "a", site, ports.SiteState{})
	wantState(t, b, "b", site, ports.SiteState{})
}

func testPersists(t *testing.T, a, b ports.SiteControl) {
	site := unique("site")
	paused := ports.SiteState{Paused: true}
	set(t, a, site, paused)
	wantState(t, a, "a", site, paused)
	wantState(t, b, "b", site, paused)
	set(t, b, site, ports.SiteState{})
	wantState(t, a, "a", site, ports.SiteState{})
	wantState(t, b, "b", site, ports.SiteState{})
}

func testScheduledResume(t *testing.T, a, b ports.SiteControl) {
	site := unique("site")
	st := ports.SiteState{Paused: true, ScheduledResume: time.Now().Add(6*time.Hour + 123*time.Millisecond).UTC()}
	set(t, a, site, st)
	wantState(t, a, "a", site, st)
	wantState(t, b, "b", site, st)
	ctx := ctxFor(t)
	if got := next(t, watch(t, ctx, b, site), NotifyTimeout, "the current state"); !same(got, st) {
		t.Fatalf("Watch first sent %+v, want %+v", got, st)
	}
	// Cancelling the schedule: paused with no resume time.
	set(t, b, site, ports.SiteState{Paused: true})
	got := state(t, a, site)
	if !got.Paused || !got.ScheduledResume.IsZero() {
		t.Fatalf("after cancelling the scheduled resume, State = %+v, want paused with no resume time", got)
	}
}

func testWatchCurrent(t *testing.T, a, b ports.SiteControl) {
	site := unique("site")
	ctx := ctxFor(t)
	if got := next(t, watch(t, ctx, a, site), NotifyTimeout, "the current state"); !same(got, ports.SiteState{}) {
		t.Fatalf("Watch of a site never set first sent %+v, want running", got)
	}
	paused := ports.SiteState{Paused: true}
	set(t, a, site, paused)
	// A watcher started later, from the other handle, learns the state at once.
	if got := next(t, watch(t, ctx, b, site), NotifyTimeout, "the current state"); !same(got, paused) {
		t.Fatalf("Watch on handle b first sent %+v, want the stored %+v", got, paused)
	}
}

func testWatchChanges(t *testing.T, a, b ports.SiteControl) {
	site := unique("site")
	ctx := ctxFor(t)
	onA, onB := watch(t, ctx, a, site), watch(t, ctx, b, site)
	for _, ch := range []<-chan ports.SiteState{onA, onB} {
		if got := next(t, ch, NotifyTimeout, "the current state"); !same(got, ports.SiteState{}) {
			t.Fatalf("Watch first sent %+v, want running", got)
		}
	}
	paused := ports.SiteState{Paused: true}
	set(t, a, site, paused)
	waitFor(t, onA, paused, nil)
	waitFor(t, onB, paused, nil)

	running := ports.SiteState{}
	set(t, b, site, running)
	waitFor(t, onA, running, nil)
	waitFor(t, onB, running, nil)

	// A burst of changes: a watcher may skip some, but it ends on the last.
	burst := []ports.SiteState{
		{Paused: true},
		{},
		{Paused: true, ScheduledResume: time.Now().Add(time.Hour).UTC()},
		{Paused: true, ScheduledResume: time.Now().Add(2 * time.Hour).UTC()},
	}
	for _, st := range burst {
		set(t, a, site, st)
	}
	last := burst[len(burst)-1]
	waitFor(t, onA, last, burst)
	waitFor(t, onB, last, burst)
}

func testWatchEnds(t *testing.T, a, _ ports.SiteControl) {
	site := unique("site")
	ctx, cancel := context.WithCancel(context.Background())
	ch := watch(t, ctx, a, site)
	next(t, ch, NotifyTimeout, "the current state")
	cancel()
	timer := time.NewTimer(opTimeout)
	defer timer.Stop()
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timer.C:
			t.Fatalf("the watch channel did not close within %s of its context ending", opTimeout)
		}
	}
}

func testSitesIndependent(t *testing.T, a, b ports.SiteControl) {
	one, two := unique("site"), unique("site")
	ctx := ctxFor(t)
	onTwo := watch(t, ctx, b, two)
	next(t, onTwo, NotifyTimeout, "the current state")
	set(t, a, one, ports.SiteState{Paused: true})
	wantState(t, b, "b", two, ports.SiteState{})
	wantState(t, b, "b", one, ports.SiteState{Paused: true})
	// The watcher of the other site hears nothing of it; a change of its
	// own site is what it sees next.
	set(t, a, two, ports.SiteState{Paused: true, ScheduledResume: time.Now().Add(time.Hour).UTC()})
	st := next(t, onTwo, NotifyTimeout, "the change of its own site")
	if !st.Paused || st.ScheduledResume.IsZero() {
		t.Fatalf("the watcher of site two received %+v, want its own site's change (paused with a resume time)", st)
	}
}
