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
