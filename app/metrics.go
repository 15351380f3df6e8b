package app

import (
	"context"
	"crypto/rand"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openbackbeat/backbeat/ports"
)

// maxDeferredCounts bounds the counts a metricsBacklog keeps while its
// store is down: beyond it they are dropped, with a log line.
const maxDeferredCounts = 100_000

// opLanes are one process's lanes for ports.Op: a count takes a lane for
// its call and the retries of that call, and puts it back once recorded,
// so each count is counted once even when a reply is lost. The store keeps
// every lane it sees until the counters expire, so lanes are reused.
type opLanes struct {
	prefix string
	free   chan string
	extra  atomic.Uint64
	ids    atomic.Uint64
}

// newOpLanes returns n reusable lanes, named for this process only.
func newOpLanes(n int) *opLanes {
	l := &opLanes{prefix: rand.Text()[:16], free: make(chan string, n)}
	for i := range n {
		l.free <- l.prefix + "-" + strconv.Itoa(i)
	}
	return l
}

// take returns a free lane, or a new one when all of them are in use.
func (l *opLanes) take() string {
	select {
	case lane := <-l.free:
		return lane
	default:
		return l.prefix + "-x" + strconv.FormatUint(l.extra.Add(1), 10)
	}
}

// put gives a lane whose count is recorded back; extra ones beyond the
// pool's size are forgotten.
func (l *opLanes) put(lane string) {
	select {
	case l.free <- lane:
	default:
	}
}

// nextID names a new count; IDs never repeat within the process.
func (l *opLanes) nextID() string { return strconv.FormatUint(l.ids.Add(1), 36) }

// metricsBacklog records counts without making the caller wait on the
// metrics store (Redis): a count that could not be recorded is kept and
// recorded again, in order, once the store answers, so that the counters
// are right after an outage. A count whose reply was lost is retried on
// its lane and so counted once (ports.Op). Counts kept are lost if the
// process dies.
type metricsBacklog struct {
	m     ports.MetricsRecorder
	log   *slog.Logger
	lanes *opLanes

	mu      sync.Mutex
	pending []deferredCount
	running bool
}

type deferredCount struct {
	site  string
	kind  ports.MetricKind
	ops   int64 // operations counted, at least 1
	bytes int64
	op    ports.Op // set when the count is first sent; kept for its retries
}

// newMetricsBacklog returns a backlog in front of m, with lanes for
// recordConcurrency counts at once.
func newMetricsBacklog(m ports.MetricsRecorder, log *slog.Logger) *metricsBacklog {
	return &metricsBacklog{m: m, log: log, lanes: newOpLanes(recordConcurrency + 1)}
}

// record counts one operation; a nil backlog or store records nothing.
// While counts are kept, new ones join them without a call to the store,
// so an outage costs the caller at most one failed call (recordAll: one
// round of concurrent calls).
func (b *metricsBacklog) record(ctx context.Context, c deferredCount) {
	if b == nil || b.m == nil {
		return
	}
	b.mu.Lock()
	if !b.running {
		b.mu.Unlock()
		c.op = ports.Op{Lane: b.lanes.take(), ID: b.lanes.nextID()}
		err := b.m.Record(ctx, c.site, c.kind, c.ops, c.bytes, c.op)
		if err == nil || ctx.Err() != nil {
			b.lanes.put(c.op.Lane)
			return
		}
		// The store may have counted it before the reply was lost: the
		// lane stays with the count until its retry is recorded.
		b.log.WarnContext(ctx, "metrics store unavailable: counting later", "site", c.site, "kind", c.kind, "err", err)
		b.mu.Lock()
	}
	defer b.mu.Unlock()
	if len(b.pending) >= maxDeferredCounts {
		b.log.ErrorContext(ctx, "metrics store unavailable too long: a count is dropped", "site", c.site, "kind", c.kind)
		return // its lane, if it has one, is not reused: it may hold the count
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

// recordAll counts the operations of counts, summed per site and kind
// (one call to the store each, up to recordConcurrency of them at once),
// and returns when each sum was recorded or kept for later. Counts are
// sums, so their order within a call does not matter.
func (b *metricsBacklog) recordAll(ctx context.Context, counts []deferredCount) {
	if b == nil || b.m == nil {
		return
	}
	type siteKind struct {
		site string
		kind ports.MetricKind
	}
	var sums []deferredCount
	at := map[siteKind]int{}
	for _, c := range counts {
		k := siteKind{c.site, c.kind}
		i, ok := at[k]
		if !ok {
			i, at[k] = len(sums), len(sums)
			sums = append(sums, deferredCount{site: c.site, kind: c.kind})
		}
		sums[i].ops += c.ops
		sums[i].bytes += c.bytes
	}
	sem := make(chan struct{}, recordConcurrency)
	var wg sync.WaitGroup
	for _, c := range sums {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			b.record(ctx, c)
		})
	}
	wg.Wait()
}

// drain records the kept counts, oldest first, retrying every second, each
// on its lane (a count kept without being sent takes one here).
func (b *metricsBacklog) drain(ctx context.Context) {
	for {
		b.mu.Lock()
		if len(b.pending) == 0 {
			b.running = false
			b.mu.Unlock()
			return
		}
		if b.pending[0].op.ID == "" {
			b.pending[0].op = ports.Op{Lane: b.lanes.take(), ID: b.lanes.nextID()}
		}
		c := b.pending[0]
		b.mu.Unlock()
		if err := b.m.Record(ctx, c.site, c.kind, c.ops, c.bytes, c.op); err != nil {
			time.Sleep(time.Second)
			continue
		}
		b.lanes.put(c.op.Lane)
		b.mu.Lock()
		b.pending = b.pending[1:]
		b.mu.Unlock()
	}
}
