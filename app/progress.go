package app

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// progressCallTimeout bounds one write to the progress store, and
// progressStopTimeout the last writes when the replicator stops.
const (
	progressCallTimeout = 2 * time.Second
	progressStopTimeout = time.Second
)

// progressReporter writes the progress of one replicator's copies to a
// ports.ProgressStore off the copies' path, as upstream's replicator
// publishes each part's bytes (extensions/replication/tasks/
// ReplicateObject.js): a copy only adds to counters in memory and one
// goroutine writes them out, so that a slow or absent store (Redis down)
// never slows a copy; a record is at worst a little behind, or, after an
// outage, missing (the API then falls back to the version's status).
type progressReporter struct {
	store ports.ProgressStore
	log   *slog.Logger
	now   func() time.Time

	mu      sync.Mutex
	pending map[attemptKey]*progressDelta
	order   []attemptKey // first change since the last flush, in order
	last    time.Time    // the latest attempt start handed out
	kick    chan struct{}
}

// attemptKey names one attempt at one copy.
type attemptKey struct {
	ref     ports.CopyRef
	started int64 // Unix ms
}

// progressDelta is what an attempt reported since the last flush.
type progressDelta struct {
	begin bool // the attempt is not recorded yet
	total int64
	n     int64
	at    time.Time
}

func newProgressReporter(store ports.ProgressStore, log *slog.Logger) *progressReporter {
	return &progressReporter{store: store, log: log, now: time.Now, pending: map[attemptKey]*progressDelta{}, kick: make(chan struct{}, 1)}
}

// copyProgress is one attempt at a copy, as the copy reports it.
type copyProgress struct {
	p        *progressReporter
	key      attemptKey
	total    int64
	reported atomic.Int64
}

// begin starts the record of a new attempt at copying obj to site; nil
// when p is nil or the copy moves no data.
func (p *progressReporter) begin(site string, obj domain.ObjectVersion) *copyProgress {
	if p == nil || obj.IsDeleteMarker || obj.Size <= 0 {
		return nil
	}
	p.mu.Lock()
	// Each attempt starts later than the one before, at millisecond
	// precision, so that a late report of one never counts for the next.
	started := p.now().Truncate(time.Millisecond)
	if !started.After(p.last) {
		started = p.last.Add(time.Millisecond)
	}
	p.last = started
	key := attemptKey{ref: ports.CopyRef{Site: site, Bucket: obj.Bucket, Key: obj.Key, VersionID: obj.VersionID}, started: started.UnixMilli()}
	p.pending[key] = &progressDelta{begin: true, total: obj.Size, at: started}
	p.order = append(p.order, key)
	p.mu.Unlock()
	p.wake()
	return &copyProgress{p: p, key: key, total: obj.Size}
}

// reporter returns the callback for ports.Replica.Progress, nil for a
// nil c.
func (c *copyProgress) reporter() func(int64) {
	if c == nil {
		return nil
	}
	return c.add
}

// add counts n more bytes held by the site.
func (c *copyProgress) add(n int64) {
	if n <= 0 {
		return
	}
	c.reported.Add(n)
	c.p.add(c.key, n)
}

// finish counts the bytes the destination did not report (a copy in one
// request reports none): the copy is done.
func (c *copyProgress) finish() {
	if c == nil {
		return
	}
	if rest := c.total - c.reported.Load(); rest > 0 {
		c.add(rest)
	}
}

func (p *progressReporter) add(key attemptKey, n int64) {
	now := p.now()
	p.mu.Lock()
	d, ok := p.pending[key]
	if !ok {
		d = &progressDelta{}
		p.pending[key] = d
		p.order = append(p.order, key)
	}
	d.n += n
	d.at = now
	p.mu.Unlock()
	p.wake()
}

func (p *progressReporter) wake() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// run writes the changes out as they come until ctx ends, then once more.
func (p *progressReporter) run(ctx context.Context) {
	for {
		select {
		case <-p.kick:
			p.flush(ctx)
		case <-ctx.Done():
			// The last flush is bounded as a whole: a store that does not
			// answer must not hold the replicator's stop.
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), progressStopTimeout)
			p.flush(fctx)
			cancel()
			return
		}
	}
}

// flush writes what changed since the last flush, each attempt's changes
// in the order they came. When ctx ends first, what is left goes back to
// be written by the next flush.
func (p *progressReporter) flush(ctx context.Context) {
	p.mu.Lock()
	pending, order := p.pending, p.order
	p.pending, p.order = map[attemptKey]*progressDelta{}, nil
	p.mu.Unlock()
	for i, key := range order {
		if ctx.Err() != nil {
			p.putBack(order[i:], pending)
			return
		}
		d := pending[key]
		started := time.UnixMilli(key.started)
		if d.begin {
			p.call(ctx, key.ref, "begin", func(ctx context.Context) error {
				return p.store.Begin(ctx, key.ref, d.total, started)
			})
		}
		if d.n > 0 {
			p.call(ctx, key.ref, "advance", func(ctx context.Context) error {
				return p.store.Advance(ctx, key.ref, started, d.n, d.at)
			})
		}
	}
}

// putBack returns changes not written to the front of the pending ones,
// merged with what came since.
func (p *progressReporter) putBack(order []attemptKey, old map[attemptKey]*progressDelta) {
	p.mu.Lock()
	defer p.mu.Unlock()
	keep := slices.Clone(order)
	for _, key := range p.order {
		o, ok := old[key]
		if !ok {
			keep = append(keep, key)
			continue
		}
		d := p.pending[key]
		o.begin = o.begin || d.begin
		if d.begin {
			o.total = d.total
		}
		o.n += d.n
		if d.at.After(o.at) {
			o.at = d.at
		}
	}
	for _, key := range order {
		p.pending[key] = old[key]
	}
	p.order = keep
}

func (p *progressReporter) call(ctx context.Context, ref ports.CopyRef, what string, fn func(context.Context) error) {
	cctx, cancel := context.WithTimeout(ctx, progressCallTimeout)
	defer cancel()
	if err := fn(cctx); err != nil {
		p.log.Debug("copy progress not recorded", "op", what, "site", ref.Site, "bucket", ref.Bucket, "key", ref.Key, "version", ref.VersionID, "err", err)
	}
}

// startProgress starts the replicator's progress reporter, when it has a
// store; stop writes out what is left and waits for it.
func (r *Replicator) startProgress() (stop func()) {
	if r.Progress == nil {
		return func() {}
	}
	r.progress = newProgressReporter(r.Progress, r.Log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.progress.run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}
