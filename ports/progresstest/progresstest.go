// Package progresstest is the contract suite of ports.ProgressStore, run
// by every adapter of the port:
//
//	progresstest.Run(t, func(t *testing.T) ports.ProgressStore { return newStore(t) })
//
// Each case uses copies of its own (random names) and runs in parallel,
// so adapters sharing one server pass too.
package progresstest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	shared "github.com/openbackbeat/backbeat/ports/internal/suite"

	"github.com/openbackbeat/backbeat/ports"
)

// timeout bounds each case: generous for a real service on a slow machine.
const timeout = 60 * time.Second

// Run checks the ports.ProgressStore contract. newStore is called once per
// case and registers its own cleanup with t.
func Run(t *testing.T, newStore func(t *testing.T) ports.ProgressStore) {
	t.Helper()
	shared.Run(t, newStore, []shared.Case[ports.ProgressStore]{
		{Name: "BeginThenAdvance", Fn: testBeginAdvance},
		{Name: "UnknownCopyIsNotFound", Fn: testUnknown},
		{Name: "NewAttemptReplacesTheOld", Fn: testNewAttempt},
		{Name: "ConcurrentAdvancesAddUp", Fn: testConcurrent},
		{Name: "UpdatedNeverGoesBack", Fn: testUpdatedMonotonic},
		{Name: "CopiesAreIndependent", Fn: testIndependent},
	})
}

func ctxFor(t *testing.T) context.Context { return shared.Context(t, timeout) }

func newRef(key string) ports.CopyRef {
	return ports.CopyRef{Site: shared.Unique("site"), Bucket: shared.Unique("bucket"), Key: key, VersionID: shared.Unique("v")}
}

// t0 is a time with more than millisecond precision: stores keep
// milliseconds.
var t0 = time.Date(2030, 5, 6, 7, 8, 9, 123456789, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func begin(t *testing.T, s ports.ProgressStore, ref ports.CopyRef, total int64, started time.Time) {
	t.Helper()
	if err := s.Begin(ctxFor(t), ref, total, started); err != nil {
		t.Fatalf("Begin(%+v, %d): %v", ref, total, err)
	}
}

func advance(t *testing.T, s ports.ProgressStore, ref ports.CopyRef, started time.Time, n int64, when time.Time) {
	t.Helper()
	if err := s.Advance(ctxFor(t), ref, started, n, when); err != nil {
		t.Fatalf("Advance(%+v, %d): %v", ref, n, err)
	}
}

func want(t *testing.T, s ports.ProgressStore, ref ports.CopyRef, w ports.CopyProgress) {
	t.Helper()
	got, err := s.Progress(ctxFor(t), ref)
	if err != nil {
		t.Fatalf("Progress(%+v): %v", ref, err)
	}
	w.Started, w.Updated = w.Started.Truncate(time.Millisecond), w.Updated.Truncate(time.Millisecond)
	if got.Total != w.Total || got.Done != w.Done || !got.Started.Equal(w.Started) || !got.Updated.Equal(w.Updated) {
		t.Fatalf("Progress(%+v):\n got  %+v\n want %+v", ref, got, w)
	}
}

func testBeginAdvance(t *testing.T, s ports.ProgressStore) {
	ref := newRef("dir/obj")
	begin(t, s, ref, 100, at(0))
	want(t, s, ref, ports.CopyProgress{Total: 100, Started: at(0), Updated: at(0)})
	advance(t, s, ref, at(0), 30, at(time.Second))
	want(t, s, ref, ports.CopyProgress{Total: 100, Done: 30, Started: at(0), Updated: at(time.Second)})
	// Done is capped at Total.
	advance(t, s, ref, at(0), 80, at(2*time.Second))
	want(t, s, ref, ports.CopyProgress{Total: 100, Done: 100, Started: at(0), Updated: at(2 * time.Second)})
}

func testUnknown(t *testing.T, s ports.ProgressStore) {
	ref := newRef("never")
	if _, err := s.Progress(ctxFor(t), ref); !errors.Is(err, ports.ErrNotFound) {
		t.Fatalf("Progress of an unknown copy: %v, want ErrNotFound", err)
	}
	// A report without a record records nothing.
	advance(t, s, ref, at(0), 10, at(time.Second))
	if _, err := s.Progress(ctxFor(t), ref); !errors.Is(err, ports.ErrNotFound) {
		t.Fatalf("Progress after Advance without Begin: %v, want ErrNotFound", err)
	}
}

func testNewAttempt(t *testing.T, s ports.ProgressStore) {
	ref := newRef("retried")
	begin(t, s, ref, 100, at(0))
	advance(t, s, ref, at(0), 50, at(time.Second))
	begin(t, s, ref, 200, at(5*time.Second))
	want(t, s, ref, ports.CopyProgress{Total: 200, Started: at(5 * time.Second), Updated: at(5 * time.Second)})
	// The first attempt's late report does not count for the second.
	advance(t, s, ref, at(0), 50, at(6*time.Second))
	want(t, s, ref, ports.CopyProgress{Total: 200, Started: at(5 * time.Second), Updated: at(5 * time.Second)})
	advance(t, s, ref, at(5*time.Second), 20, at(7*time.Second))
	want(t, s, ref, ports.CopyProgress{Total: 200, Done: 20, Started: at(5 * time.Second), Updated: at(7 * time.Second)})
}

func testConcurrent(t *testing.T, s ports.ProgressStore) {
	ref := newRef("parts")
	begin(t, s, ref, 1<<40, at(0))
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 20 {
		wg.Go(func() {
			for j := range 10 {
				if err := s.Advance(ctxFor(t), ref, at(0), 3, at(time.Duration(i*10+j)*time.Millisecond)); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	want(t, s, ref, ports.CopyProgress{Total: 1 << 40, Done: 600, Started: at(0), Updated: at(199 * time.Millisecond)})
}

func testUpdatedMonotonic(t *testing.T, s ports.ProgressStore) {
	ref := newRef("late")
	begin(t, s, ref, 100, at(0))
	advance(t, s, ref, at(0), 10, at(3*time.Second))
	advance(t, s, ref, at(0), 10, at(2*time.Second))
	want(t, s, ref, ports.CopyProgress{Total: 100, Done: 20, Started: at(0), Updated: at(3 * time.Second)})
}

func testIndependent(t *testing.T, s ports.ProgressStore) {
	a := newRef("a:b/ünï:c")
	b := a
	b.Site = shared.Unique("other-site")
	c := a
	c.VersionID = ""
	// Joined with ':' d would name the same copy as a.
	d := a
	d.Key = "a:b/ünï"
	d.VersionID = "c:" + a.VersionID
	begin(t, s, a, 100, at(0))
	begin(t, s, b, 200, at(0))
	advance(t, s, a, at(0), 10, at(time.Second))
	want(t, s, a, ports.CopyProgress{Total: 100, Done: 10, Started: at(0), Updated: at(time.Second)})
	want(t, s, b, ports.CopyProgress{Total: 200, Started: at(0), Updated: at(0)})
	for _, r := range []ports.CopyRef{c, d} {
		if _, err := s.Progress(ctxFor(t), r); !errors.Is(err, ports.ErrNotFound) {
			t.Fatalf("Progress(%+v): %v, want ErrNotFound", r, err)
		}
	}
}
