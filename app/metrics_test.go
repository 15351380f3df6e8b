package app

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/adapters/memory"
	"github.com/openbackbeat/backbeat/ports"
)

// flakyRecorder is a memory recorder whose store can be down (nothing is
// counted) or can lose replies (the count is in, the caller sees an error).
type flakyRecorder struct {
	*memory.Metrics
	mu        sync.Mutex
	down      bool
	lostReply int // calls still to come whose reply is lost
	calls     int
}

func newFlakyRecorder(t *testing.T) *flakyRecorder {
	m, err := memory.NewMetrics(memory.MetricsConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return &flakyRecorder{Metrics: m}
}

func (f *flakyRecorder) Record(ctx context.Context, site string, kind ports.MetricKind, ops, bytes int64, op ports.Op) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.down {
		return errors.New("down")
	}
	if err := f.Metrics.Record(ctx, site, kind, ops, bytes, op); err != nil {
		return err
	}
	if f.lostReply > 0 {
		f.lostReply--
		return errors.New("connection reset: reply lost")
	}
	return nil
}

func (f *flakyRecorder) set(down bool, lostReply int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down, f.lostReply = down, lostReply
}

// wantQueued waits for b to have recorded or dropped every count it kept,
// then checks site-a's queued count.
func (f *flakyRecorder) wantQueued(t *testing.T, b *metricsBacklog, want int64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		b.mu.Lock()
		idle := !b.running
		b.mu.Unlock()
		if idle {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the backlog still keeps counts after 10 s")
		}
	}
	got, err := f.Site(context.Background(), "site-a", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if got.Queued.Ops != want {
		t.Fatalf("%d counts recorded, want %d", got.Queued.Ops, want)
	}
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func queued() deferredCount {
	return deferredCount{site: "site-a", kind: ports.MetricQueued, ops: 1, bytes: 1}
}

func TestMetricsBacklogKeepsCountsThroughAnOutage(t *testing.T) {
	f := newFlakyRecorder(t)
	f.set(true, 0)
	b := newMetricsBacklog(f, discardLog())
	ctx := context.Background()
	for range 100 {
		b.record(ctx, queued())
	}
	f.mu.Lock()
	calls := f.calls
	f.mu.Unlock()
	f.set(false, 0)
	if calls > 3 {
		t.Fatalf("100 counts during an outage made %d calls to the store: the caller waits on it", calls)
	}
	f.wantQueued(t, b, 100)
}

// A count the store took but whose reply was lost (Redis stopped between
// the two) is retried and still counted once: the e2e Redis outage left a
// site's backlog at 1 for good before counts had ops.
func TestMetricsBacklogCountsALostReplyOnce(t *testing.T) {
	f := newFlakyRecorder(t)
	f.set(false, 4)
	b := newMetricsBacklog(f, discardLog())
	counts := make([]deferredCount, 100)
	for i := range counts {
		counts[i] = queued()
	}
	b.recordAll(context.Background(), counts)
	f.wantQueued(t, b, 100)
}

// overlapRecorder records how many calls to Record run at once; each
// waits (up to a second) for a few others, so sequential calls show as 1.
type overlapRecorder struct {
	*flakyRecorder
	inFlight, peak int
}

func (o *overlapRecorder) Record(ctx context.Context, site string, kind ports.MetricKind, ops, bytes int64, op ports.Op) error {
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
	return o.flakyRecorder.Record(ctx, site, kind, ops, bytes, op)
}

// A populator batch's counts go to the store summed, one call per site
// and kind, and the sums several at a time, not one round trip after the
// other; every operation and byte is counted.
func TestRecordAllSendsOneSumPerSiteAndKind(t *testing.T) {
	o := &overlapRecorder{flakyRecorder: newFlakyRecorder(t)}
	b := newMetricsBacklog(o, discardLog())
	sites := []string{"site-a", "site-b", "site-c", "site-d"}
	var counts []deferredCount
	for i := range 100 {
		counts = append(counts, deferredCount{site: sites[i%len(sites)], kind: ports.MetricQueued, ops: 1, bytes: int64(i)})
	}
	b.recordAll(context.Background(), counts)
	o.mu.Lock()
	peak, calls := o.peak, o.calls
	o.mu.Unlock()
	if calls != len(sites) {
		t.Errorf("%d calls to the store for 100 counts of %d sites, want one per site", calls, len(sites))
	}
	if peak < len(sites) {
		t.Errorf("at most %d sums were sent at once, want %d", peak, len(sites))
	}
	for i, site := range sites {
		got, err := o.Site(context.Background(), site, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		var bytes int64
		for j := i; j < 100; j += len(sites) {
			bytes += int64(j)
		}
		if want := (ports.Counts{Ops: 25, Bytes: bytes}); got.Queued != want {
			t.Errorf("%s queued %+v, want %+v", site, got.Queued, want)
		}
	}
}
