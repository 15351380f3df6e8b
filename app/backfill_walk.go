package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// backfillWalk is one runner's pass over a backfill job: batch after
// batch from the job's checkpoint, each judged, queued through the
// metadata store's compare-and-swap, and checkpointed with its counts.
type backfillWalk struct {
	r   *JobRunner
	cfg JobRunnerConfig
	log *slog.Logger
	job domain.Job
	// earlier is the batch a previous runner recorded and did not finish:
	// the versions it planned and finds queued were queued by this job.
	earlier *domain.JobBatch
	pace    *pacer
}

// run walks until the end of the bucket, ctx's end or an error. It
// returns the counts of the batch it was on when it stopped early.
func (w *backfillWalk) run(ctx context.Context) (domain.JobCounts, error) {
	w.earlier = w.job.Batch
	w.pace = newPacer(w.job.Rate)
	if w.job.Checkpoint.IsZero() && w.job.Batch == nil && w.job.Scanned == 0 {
		if err := w.countTotal(ctx); err != nil {
			return domain.JobCounts{}, err
		}
	}
	after := w.job.Checkpoint
	for {
		if err := ctx.Err(); err != nil {
			return domain.JobCounts{}, err
		}
		bucket, err := w.r.Metadata.Bucket(ctx, w.job.Bucket)
		if errors.Is(err, ports.ErrNotFound) {
			return domain.JobCounts{}, fmt.Errorf("%w: bucket %s: %w", domain.ErrPermanent, w.job.Bucket, err)
		}
		if err != nil {
			return domain.JobCounts{}, fmt.Errorf("read bucket %s: %w", w.job.Bucket, err)
		}
		page, err := w.r.Scanner.ScanVersions(ctx, w.job.Bucket, w.job.Prefix, after, w.cfg.BatchSize)
		if err != nil {
			return domain.JobCounts{}, fmt.Errorf("walk %s after %v: %w", w.job.Bucket, after, err)
		}
		batch := wholeKeys(page, w.cfg.BatchSize)
		if len(batch) == 0 {
			return domain.JobCounts{}, nil
		}
		last := batch[len(batch)-1].Ref()
		counts, err := w.batch(ctx, bucket, batch, last)
		if err != nil {
			return counts, err
		}
		if w.earlier != nil && !w.earlier.Last.Less(last) {
			w.earlier = nil // its versions are all behind the checkpoint now
		}
		after = last
		if len(page) < w.cfg.BatchSize {
			return domain.JobCounts{}, nil
		}
	}
}

// countTotal records the number of versions to scan.
func (w *backfillWalk) countTotal(ctx context.Context) error {
	n, err := w.r.Scanner.CountVersions(ctx, w.job.Bucket, w.job.Prefix)
	if errors.Is(err, ports.ErrNotFound) {
		return fmt.Errorf("%w: count versions of %s: %w", domain.ErrPermanent, w.job.Bucket, err)
	}
	if err != nil {
		return fmt.Errorf("count versions of %s: %w", w.job.Bucket, err)
	}
	j, err := w.r.Jobs.UpdateJob(ctx, w.job.ID, func(j *domain.Job) error {
		if j.State != domain.JobRunning {
			return domain.ErrJobNotRunning
		}
		j.Total, j.UpdatedAt = n, time.Now().UTC()
		return nil
	})
	if err != nil {
		return fmt.Errorf("record the job's total: %w", err)
	}
	w.job = j
	w.r.Telemetry.progress(ctx, j)
	return nil
}

// wholeKeys drops from a full page the versions of its last key, unless
// the page holds that key only: the next batch starts with them, so that
// each key's versions are queued together, oldest first, whichever way
// the store's version ids sort.
func wholeKeys(page []ports.ScannedVersion, limit int) []ports.ScannedVersion {
	if len(page) < limit || len(page) == 0 {
		return page
	}
	lastKey := page[len(page)-1].Key
	cut := len(page)
	for cut > 0 && page[cut-1].Key == lastKey {
		cut--
	}
	if cut == 0 {
		return page
	}
	return page[:cut]
}

// judged is one version of a batch and its verdict on the copy scanned.
type judged struct {
	v        ports.ScannedVersion
	decision domain.BackfillDecision
	earlier  []string // sites an earlier runner planned to queue it for
}

// batch judges, records, queues and checkpoints one batch.
func (w *backfillWalk) batch(ctx context.Context, bucket domain.Bucket, batch []ports.ScannedVersion, last domain.VersionRef) (domain.JobCounts, error) {
	scope := w.job.Scope()
	items := make([]judged, len(batch))
	plan := domain.JobBatch{Last: last}
	sites := map[string]bool{}
	for i, v := range batch {
		items[i] = judged{v: v}
		if v.Err == nil {
			items[i].decision = bucket.DecideBackfill(v.ObjectVersion, scope)
		}
		items[i].earlier = w.earlier.PlannedSites(v.Ref())
		planned := slices.Clone(items[i].earlier)
		for _, s := range items[i].decision.Queue {
			if !slices.Contains(planned, s) {
				planned = append(planned, s)
			}
		}
		if len(planned) > 0 {
			plan.Planned = append(plan.Planned, domain.PlannedVersion{VersionRef: v.Ref(), Sites: planned})
			for _, s := range planned {
				sites[s] = true
			}
		}
	}
	if !w.job.DryRun && len(plan.Planned) > 0 {
		if err := w.update(ctx, func(j *domain.Job) error { return j.BeginBatch(plan, time.Now()) }); err != nil {
			return domain.JobCounts{}, err
		}
		if err := w.holdForBacklog(ctx, sites); err != nil {
			return domain.JobCounts{}, err
		}
	}
	counts, err := w.queue(ctx, bucket, items)
	if err != nil {
		return counts, err
	}
	err = w.update(ctx, func(j *domain.Job) error { return j.CommitBatch(last, counts, time.Now()) })
	if err != nil {
		return counts, err
	}
	w.r.Telemetry.batchDone(ctx, w.job, counts)
	return domain.JobCounts{}, nil
}

// update saves a change of the job and keeps the result.
func (w *backfillWalk) update(ctx context.Context, change func(*domain.Job) error) error {
	j, err := w.r.Jobs.UpdateJob(ctx, w.job.ID, change)
	if err != nil {
		return fmt.Errorf("save job %s: %w", w.job.ID, err)
	}
	w.job = j
	return nil
}

// queue works on the batch's keys concurrently, each key's versions one
// after the other, oldest first, and counts what became of each version.
// On ctx's end it stops starting versions and returns what it did.
func (w *backfillWalk) queue(ctx context.Context, bucket domain.Bucket, items []judged) (domain.JobCounts, error) {
	var keys [][]judged
	for i, it := range items {
		if i == 0 || it.v.Key != items[i-1].v.Key {
			keys = append(keys, nil)
		}
		keys[len(keys)-1] = append(keys[len(keys)-1], it)
	}
	var mu sync.Mutex
	var counts domain.JobCounts
	var firstErr error
	sem := make(chan struct{}, w.cfg.Concurrency)
	var wg sync.WaitGroup
	for _, versions := range keys {
		slices.SortStableFunc(versions, func(a, b judged) int { return a.v.LastModified.Compare(b.v.LastModified) })
		select {
		case <-ctx.Done():
		case sem <- struct{}{}:
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			for _, it := range versions {
				if ctx.Err() != nil {
					return
				}
				res, err := w.one(ctx, bucket, it)
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				res.count(&counts)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return counts, firstErr
}

// outcome is what became of one version.
type outcome struct {
	sites  []string // queued for
	bytes  int64
	reason domain.SkipReason
}

func (o outcome) count(c *domain.JobCounts) {
	if len(o.sites) > 0 {
		c.Queue(o.sites, o.bytes)
	} else {
		c.Skip(o.reason)
	}
}

// errNothingToWrite aborts an update that leaves the version as it is.
var errNothingToWrite = errors.New("nothing to write")

// one queues one version, judged again on the metadata as stored: a
// version that changed since the walk read it is never overwritten.
func (w *backfillWalk) one(ctx context.Context, bucket domain.Bucket, it judged) (outcome, error) {
	if it.v.Err != nil {
		w.log.Warn("backfill skips an unreadable version", "key", it.v.Key, "version", it.v.VersionID, "err", it.v.Err)
		return outcome{reason: domain.SkipUnreadable}, nil
	}
	if w.job.DryRun || !it.decision.Queued() && len(it.earlier) == 0 {
		if it.decision.Queued() { // a dry run: nothing written, nothing to pace
			return outcome{sites: it.decision.Queue, bytes: it.v.BackfillBytes()}, nil
		}
		return outcome{reason: it.decision.Reason}, nil
	}
	if err := w.pace.wait(ctx); err != nil {
		return outcome{}, err
	}
	var res outcome
	_, err := w.r.Metadata.UpdateVersion(ctx, it.v.Bucket, it.v.Key, it.v.VersionID, func(v *domain.ObjectVersion) error {
		d := bucket.DecideBackfill(*v, w.job.Scope())
		// Sites an earlier runner of this job planned, found queued (or
		// further along) now, were queued by it.
		var ours []string
		for _, s := range it.earlier {
			if b, ok := v.Site(s); ok && b.Status != domain.StatusNone && !slices.Contains(d.Queue, s) {
				ours = append(ours, s)
			}
		}
		res = outcome{sites: append(slices.Clone(d.Queue), ours...), bytes: v.BackfillBytes(), reason: d.Reason}
		if !d.Queued() {
			return errNothingToWrite
		}
		v.QueueBackfill(d)
		if d.Requeue {
			v.MicroVersionID = randomID() // else the write changes nothing the journal sees
		}
		return nil
	})
	switch {
	case err == nil, errors.Is(err, errNothingToWrite):
		return res, nil
	case errors.Is(err, ports.ErrNotFound):
		return outcome{reason: domain.SkipDeleted}, nil
	}
	return outcome{}, fmt.Errorf("queue %s/%s version %s: %w", it.v.Bucket, it.v.Key, it.v.VersionID, err)
}

// holdForBacklog waits while any of sites has more entries pending than
// the configured limit, so that a backfill never buries live traffic.
func (w *backfillWalk) holdForBacklog(ctx context.Context, sites map[string]bool) error {
	if w.r.Metrics == nil || w.cfg.MaxBacklog < 0 {
		return nil
	}
	logged := false
	for {
		over := ""
		var pending int64
		for s := range sites {
			m, err := w.r.Metrics.Site(ctx, s, time.Minute)
			if err != nil {
				w.log.Warn("read the backlog; not holding", "site", s, "err", err)
				continue
			}
			if m.Pending.Ops > w.cfg.MaxBacklog {
				over, pending = s, m.Pending.Ops
				break
			}
		}
		if over == "" {
			if logged {
				w.log.Info("backlog under the limit: backfill goes on")
			}
			return nil
		}
		if !logged {
			w.log.Info("backfill holds: a site's backlog is over the limit", "site", over, "pending", pending, "limit", w.cfg.MaxBacklog)
			logged = true
		}
		t := time.NewTimer(w.cfg.Poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// pacer spaces calls at rate per second; a zero rate never waits.
type pacer struct {
	mu    sync.Mutex
	every time.Duration
	next  time.Time
}

func newPacer(rate float64) *pacer {
	if rate <= 0 {
		return &pacer{}
	}
	return &pacer{every: time.Duration(float64(time.Second) / rate)}
}

func (p *pacer) wait(ctx context.Context) error {
	if p.every == 0 {
		return ctx.Err()
	}
	p.mu.Lock()
	now := time.Now()
	if p.next.Before(now) {
		p.next = now
	}
	at := p.next
	p.next = p.next.Add(p.every)
	p.mu.Unlock()
	d := time.Until(at)
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
