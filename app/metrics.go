package app

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/openbackbeat/backbeat/ports"
)

// maxDeferredCounts bounds the counts a metricsBacklog keeps while its
// store is down: beyond it they are dropped, with a log line.
const maxDeferredCounts = 100_000

// metricsBacklog records counts without making the caller wait on the
// metrics store (Redis): a count that could not be recorded is kept and
// recorded again, in order, once the store answers, so that the counters
// are right after an outage. Counts kept are lost if the process dies.
type metricsBacklog struct {
	m   ports.MetricsRecorder
	log *slog.Logger

	mu      sync.Mutex
	pending []deferredCount
	running bool
}

type deferredCount struct {
	site  string
	kind  ports.MetricKind
	bytes int64
}

// record counts one operation; a nil backlog or store records nothing.
// While counts are kept, new ones join them without a call to the store,
// so an outage costs the caller at most one failed call (recordAll: one
// round of concurrent calls).
func (b *metricsBacklog) record(ctx context.Context, site string, kind ports.MetricKind, bytes int64) {
	if b == nil || b.m == nil {
		return
	}
	c := deferredCount{site, kind, bytes}
	b.mu.Lock()
	if !b.running {
		b.mu.Unlock()
		err := b.m.Record(ctx, site, kind, bytes)
		if err == nil || ctx.Err() != nil {
			return
		}
		b.log.WarnContext(ctx, "metrics store unavailable: counting later", "site", site, "kind", kind, "err", err)
		b.mu.Lock()
	}
	defer b.mu.Unlock()
	if len(b.pending) >= maxDeferredCounts {
		b.log.ErrorContext(ctx, "metrics store unavailable too long: a count is dropped", "site", site, "kind", kind)
		return
	}
	b.pending = append(b.pending, c)
	if !b.running {
		b.running = true
		go b.drain(context.WithoutCancel(ctx))
	}
}

// recordConcurrency is how many counts recordAll sends to the store at
// once: the counts of a populator batch are independent additions, and
// one at a time they cost it a round trip to the store each.
const recordConcurrency = 16

// recordAll counts the operations of counts, up to recordConcurrency of
// them at once, and returns when each was recorded or kept for later.
// Counts are sums, so their order within a call does not matter.
func (b *metricsBacklog) recordAll(ctx context.Context, counts []deferredCount) {
	if b == nil || b.m == nil {
		return
	}
	sem := make(chan struct{}, recordConcurrency)
	var wg sync.WaitGroup
	for _, c := range counts {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			b.record(ctx, c.site, c.kind, c.bytes)
		})
	}
	wg.Wait()
}

// drain records the kept counts, oldest first, retrying every second.
func (b *metricsBacklog) drain(ctx context.Context) {
	for {
		b.mu.Lock()
		if len(b.pending) == 0 {
			b.running = false
			b.mu.Unlock()
			return
		}
		c := b.pending[0]
		b.mu.Unlock()
		if err := b.m.Record(ctx, c.site, c.kind, c.bytes); err != nil {
			time.Sleep(time.Second)
			continue
		}
		b.mu.Lock()
		b.pending = b.pending[1:]
		b.mu.Unlock()
	}
}
