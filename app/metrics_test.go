package app

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/ports"
)

type flakyRecorder struct {
	mu     sync.Mutex
	down   bool
	calls  int
	counts map[ports.MetricKind]int
}

func (f *flakyRecorder) Record(_ context.Context, _ string, kind ports.MetricKind, _ int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.down {
		return errors.New("down")
	}
	f.counts[kind]++
	return nil
}

func (f *flakyRecorder) Site(context.Context, string, time.Duration) (ports.SiteMetrics, error) {
	return ports.SiteMetrics{}, nil
}

func TestMetricsBacklogKeepsCountsThroughAnOutage(t *testing.T) {
	f := &flakyRecorder{down: true, counts: map[ports.MetricKind]int{}}
	b := &metricsBacklog{m: f, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx := context.Background()
	for range 100 {
		b.record(ctx, "site-a", ports.MetricQueued, 1)
	}
	f.mu.Lock()
	calls := f.calls
	f.down = false
	f.mu.Unlock()
	if calls > 3 {
		t.Fatalf("100 counts during an outage made %d calls to the store: the caller waits on it", calls)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		f.mu.Lock()
		n := f.counts[ports.MetricQueued]
		f.mu.Unlock()
		if n == 100 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the outage %d of 100 counts were recorded", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// overlapRecorder records how many calls to Record run at once; each
// waits (up to a second) for a few others, so sequential calls show as 1.
type overlapRecorder struct {
	flakyRecorder
	inFlight, peak int
}

func (o *overlapRecorder) Record(ctx context.Context, site string, kind ports.MetricKind, bytes int64) error {
	o.mu.Lock()
	o.inFlight++
	o.peak = max(o.peak, o.inFlight)
	o.mu.Unlock()
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		o.mu.Lock()
		enough := o.peak >= 4
		o.mu.Unlock()
		if enough {
			break
		}
	}
	o.mu.Lock()
	o.inFlight--
	o.mu.Unlock()
	return o.flakyRecorder.Record(ctx, site, kind, bytes)
}

// A populator batch's counts go to the store several at a time, not one
// round trip after the other, and every one of them is recorded.
func TestRecordAllSendsCountsConcurrently(t *testing.T) {
	o := &overlapRecorder{flakyRecorder: flakyRecorder{counts: map[ports.MetricKind]int{}}}
	b := &metricsBacklog{m: o, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	counts := make([]deferredCount, 100)
	for i := range counts {
		counts[i] = deferredCount{"site-a", ports.MetricQueued, 1}
	}
	b.recordAll(context.Background(), counts)
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.peak < 4 {
		t.Errorf("at most %d counts were sent at once, want several", o.peak)
	}
	if o.counts[ports.MetricQueued] != 100 {
		t.Errorf("%d of 100 counts recorded", o.counts[ports.MetricQueued])
	}
}
