// Package metricstest is the contract suite of ports.MetricsRecorder, run
// by every adapter of the port:
//
//	metricstest.Run(t, func(t *testing.T) ports.MetricsRecorder { return newRecorder(t) })
//
// Each case counts on sites of its own (random names) and runs in
// parallel, so adapters sharing one server pass too. Every record is made
// during the case, so it falls in any window of an hour or more.
package metricstest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	shared "github.com/openbackbeat/backbeat/ports/internal/suite"

	"github.com/openbackbeat/backbeat/ports"
)

// timeout bounds each case: generous for a real service on a slow machine.
const timeout = 60 * time.Second

// windows are the windows every case reads its counts over.
var windows = []time.Duration{time.Hour, 24 * time.Hour}

// Run checks the ports.MetricsRecorder contract. newRecorder is called once
// per case and registers its own cleanup with t.
func Run(t *testing.T, newRecorder func(t *testing.T) ports.MetricsRecorder) {
	t.Helper()
	shared.Run(t, newRecorder, []shared.Case[ports.MetricsRecorder]{
		{Name: "CountsPerKind", Fn: testCounts},
		{Name: "PendingNeverNegative", Fn: testPendingNotNegative},
		{Name: "NewSiteIsZero", Fn: testNewSite},
		{Name: "SitesAreIndependent", Fn: testSitesIndependent},
		{Name: "ConcurrentRecordsCountExactly", Fn: testConcurrent},
		{Name: "RetriedOpCountsOnce", Fn: testRetriedOp},
		{Name: "SeveralOpsInOneRecord", Fn: testSeveralOps},
		{Name: "NoOpRefused", Fn: testNoOp},
	})
}

func ctxFor(t *testing.T) context.Context { return shared.Context(t, timeout) }

func unique(prefix string) string { return shared.Unique(prefix) }

func record(t *testing.T, r ports.MetricsRecorder, site string, kind ports.MetricKind, bytes int64, times int) {
	t.Helper()
	for range times {
		if err := r.Record(ctxFor(t), site, kind, 1, bytes, ports.Op{}); err != nil {
			t.Fatalf("Record(%s, %s, %d): %v", site, kind, bytes, err)
		}
	}
}

func wantSite(t *testing.T, r ports.MetricsRecorder, site string, want ports.SiteMetrics) {
	t.Helper()
	for _, w := range windows {
		got, err := r.Site(ctxFor(t), site, w)
		if err != nil {
			t.Fatalf("Site(%s, %s): %v", site, w, err)
		}
		if got != want {
			t.Fatalf("Site(%s, %s):\n got  %s\n want %s", site, w, describe(got), describe(want))
		}
	}
}

func describe(m ports.SiteMetrics) string {
	return fmt.Sprintf("queued %+v completed %+v failed %+v pending %+v", m.Queued, m.Completed, m.Failed, m.Pending)
}

func testCounts(t *testing.T, r ports.MetricsRecorder) {
	site := unique("site")
	record(t, r, site, ports.MetricQueued, 100, 5)
	record(t, r, site, ports.MetricQueued, 1000, 1)
	record(t, r, site, ports.MetricCompleted, 100, 2)
	record(t, r, site, ports.MetricFailed, 1000, 1)
	wantSite(t, r, site, ports.SiteMetrics{
		Queued:    ports.Counts{Ops: 6, Bytes: 1500},
		Completed: ports.Counts{Ops: 2, Bytes: 200},
		Failed:    ports.Counts{Ops: 1, Bytes: 1000},
		Pending:   ports.Counts{Ops: 3, Bytes: 300},
	})
	// Zero-byte operations (delete markers, metadata only) still count.
	record(t, r, site, ports.MetricQueued, 0, 1)
	wantSite(t, r, site, ports.SiteMetrics{
		Queued:    ports.Counts{Ops: 7, Bytes: 1500},
		Completed: ports.Counts{Ops: 2, Bytes: 200},
		Failed:    ports.Counts{Ops: 1, Bytes: 1000},
		Pending:   ports.Counts{Ops: 4, Bytes: 300},
	})
}

// testSeveralOps records sums of several operations, as the populator
// records a batch: each counts as its operations, pending included.
func testSeveralOps(t *testing.T, r ports.MetricsRecorder) {
	site := unique("site")
	for _, c := range []struct {
		kind       ports.MetricKind
		ops, bytes int64
	}{{ports.MetricQueued, 40, 4000}, {ports.MetricQueued, 1, 10}, {ports.MetricCompleted, 25, 2500}, {ports.MetricFailed, 5, 0}} {
		if err := r.Record(ctxFor(t), site, c.kind, c.ops, c.bytes, ports.Op{}); err != nil {
			t.Fatalf("Record(%s, %d ops, %d bytes): %v", c.kind, c.ops, c.bytes, err)
		}
	}
	wantSite(t, r, site, ports.SiteMetrics{
		Queued:    ports.Counts{Ops: 41, Bytes: 4010},
		Completed: ports.Counts{Ops: 25, Bytes: 2500},
		Failed:    ports.Counts{Ops: 5},
		Pending:   ports.Counts{Ops: 11, Bytes: 1510},
	})
}

// testNoOp: a record of no operation is refused, and counts nothing.
func testNoOp(t *testing.T, r ports.MetricsRecorder) {
	site := unique("site")
	if err := r.Record(ctxFor(t), site, ports.MetricQueued, 0, 10, ports.Op{}); err == nil {
		t.Fatal("Record of 0 operations succeeded")
	}
	wantSite(t, r, site, ports.SiteMetrics{})
}

// testPendingNotNegative records outcomes of work queued before the
// recorder existed (or counted by a process that crashed): pending stays
// at zero rather than going below.
func testPendingNotNegative(t *testing.T, r ports.MetricsRecorder) {
	site := unique("site")
	record(t, r, site, ports.MetricQueued, 10, 1)
	record(t, r, site, ports.MetricCompleted, 50, 3)
	record(t, r, site, ports.MetricFailed, 50, 1)
	for _, w := range windows {
		got, err := r.Site(ctxFor(t), site, w)
		if err != nil {
			t.Fatalf("Site: %v", err)
		}
		if got.Pending.Ops != 0 || got.Pending.Bytes != 0 {
			t.Fatalf("pending after more outcomes than queued = %+v, want zero", got.Pending)
		}
		if got.Completed != (ports.Counts{Ops: 3, Bytes: 150}) || got.Failed != (ports.Counts{Ops: 1, Bytes: 50}) {
			t.Fatalf("Site(%s) = %s, want 3 ops/150 bytes completed and 1/50 failed", w, describe(got))
		}
	}
}

// testRetriedOp records counts again as a caller does after a lost reply:
// an op its lane recorded last counts nothing; another ID on the lane, the
// same ID on another lane, and the zero Op count.
func testRetriedOp(t *testing.T, r ports.MetricsRecorder) {
	site, lane, other := unique("site"), unique("lane"), unique("lane")
	rec := func(kind ports.MetricKind, op ports.Op) {
		t.Helper()
		if err := r.Record(ctxFor(t), site, kind, 1, 10, op); err != nil {
			t.Fatalf("Record(%s, %+v): %v", kind, op, err)
		}
	}
	rec(ports.MetricQueued, ports.Op{Lane: lane, ID: "1"})
	rec(ports.MetricQueued, ports.Op{Lane: lane, ID: "1"})  // retried: counted once
	rec(ports.MetricQueued, ports.Op{Lane: lane, ID: "2"})  // the lane's next op
	rec(ports.MetricQueued, ports.Op{Lane: other, ID: "2"}) // another lane's op
	rec(ports.MetricCompleted, ports.Op{Lane: lane, ID: "3"})
	rec(ports.MetricCompleted, ports.Op{Lane: lane, ID: "3"})
	rec(ports.MetricQueued, ports.Op{})
	rec(ports.MetricQueued, ports.Op{})
	wantSite(t, r, site, ports.SiteMetrics{
		Queued:    ports.Counts{Ops: 5, Bytes: 50},
		Completed: ports.Counts{Ops: 1, Bytes: 10},
		Pending:   ports.Counts{Ops: 4, Bytes: 40},
	})
}

func testNewSite(t *testing.T, r ports.MetricsRecorder) {
	wantSite(t, r, unique("site"), ports.SiteMetrics{})
}

func testSitesIndependent(t *testing.T, r ports.MetricsRecorder) {
	a, b := unique("site"), unique("site")
	record(t, r, a, ports.MetricQueued, 7, 3)
	record(t, r, b, ports.MetricQueued, 11, 2)
	record(t, r, b, ports.MetricCompleted, 11, 1)
	wantSite(t, r, a, ports.SiteMetrics{Queued: ports.Counts{Ops: 3, Bytes: 21}, Pending: ports.Counts{Ops: 3, Bytes: 21}})
	wantSite(t, r, b, ports.SiteMetrics{
		Queued: ports.Counts{Ops: 2, Bytes: 22}, Completed: ports.Counts{Ops: 1, Bytes: 11}, Pending: ports.Counts{Ops: 1, Bytes: 11},
	})
}

func testConcurrent(t *testing.T, r ports.MetricsRecorder) {
	const goroutines, each = 16, 25
	site := unique("site")
	ctx := ctxFor(t)
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				kind := ports.MetricQueued
				switch i % 5 {
				case 3:
					kind = ports.MetricCompleted
				case 4:
					kind = ports.MetricFailed
				}
				if err := r.Record(ctx, site, kind, 1, int64(g+1), ports.Op{}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Record: %v", err)
	}
	// Per goroutine: 15 queued, 5 completed, 5 failed, each of g+1 bytes;
	// the byte sums over g are 15*136, 5*136, 5*136 (1+...+16 = 136).
	wantSite(t, r, site, ports.SiteMetrics{
		Queued:    ports.Counts{Ops: 15 * goroutines, Bytes: 15 * 136},
		Completed: ports.Counts{Ops: 5 * goroutines, Bytes: 5 * 136},
		Failed:    ports.Counts{Ops: 5 * goroutines, Bytes: 5 * 136},
		Pending:   ports.Counts{Ops: 5 * goroutines, Bytes: 5 * 136},
	})
}
