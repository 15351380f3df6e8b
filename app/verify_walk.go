package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// VerifyDeps is what a JobRunner needs, besides what backfills need, to
// run verify jobs. A runner without it fails the verify jobs it takes.
type VerifyDeps struct {
	// Sites gives each configured site's listing.
	Sites map[string]ports.SiteListing
	// Findings keeps the jobs' findings.
	Findings ports.FindingStore
	// Telemetry counts what verify jobs compare; nil counts nothing.
	Telemetry *VerifyTelemetry
}

// Bounds of a verify batch: the source versions, and the site versions,
// judged and checkpointed together (a single key with more is judged
// alone); and of the findings stored in one call.
const (
	verifySiteBatch    = 4 // times the batch size, in site versions
	verifyFindingChunk = 1000
)

// verifyWalk is one runner's pass over a verify job: the source's
// versions and each target's listing merged key by key (domain.
// VersionMerge), judged a batch of keys at a time (domain.KeyCheck), with
// the HEADs and tag reads of a batch made concurrently; then the batch's
// findings are stored, its counts, last key and repairs saved in one job
// update, and the repairs done through the metadata CAS.
type verifyWalk struct {
	r     *JobRunner
	cfg   JobRunnerConfig
	log   *slog.Logger
	job   domain.Job
	lists []ports.SiteListing // per target
}

// runVerify runs a verify job from its checkpoint to its end, ctx's end
// or an error (ErrPermanent ones fail the job).
func (r *JobRunner) runVerify(ctx context.Context, cfg JobRunnerConfig, log *slog.Logger, job domain.Job) error {
	if job.Verify == nil || len(job.Verify.Targets) == 0 {
		return fmt.Errorf("%w: verify job %s has no targets", domain.ErrPermanent, job.ID)
	}
	if r.Verify.Findings == nil {
		return fmt.Errorf("%w: this runner has no finding store: it cannot verify", domain.ErrPermanent)
	}
	w := &verifyWalk{r: r, cfg: cfg, log: log, job: job}
	for _, t := range job.Verify.Targets {
		l := r.Verify.Sites[t.Site]
		if l == nil {
			return fmt.Errorf("%w: site %s is not configured for listing here", domain.ErrPermanent, t.Site)
		}
		w.lists = append(w.lists, l)
	}
	return w.run(ctx)
}

func (w *verifyWalk) run(ctx context.Context) error {
	bucket, err := w.bucket(ctx)
	if err != nil {
		return err
	}
	if len(w.job.Verify.Requeue) > 0 { // a runner stopped before its repairs were done
		if err := w.repair(ctx, bucket, w.job.Verify.Requeue); err != nil {
			return err
		}
	}
	if w.job.Total == 0 && w.job.Scanned == 0 && w.job.Verify.LastKey == "" {
		if err := w.countTotal(ctx); err != nil {
			return err
		}
	}
	var srcAfter domain.VersionRef
	sitePos := make([]ports.ListPosition, len(w.lists))
	if k := w.job.Verify.LastKey; k != "" {
		srcAfter = domain.AfterKey(k)
		for i := range sitePos {
			sitePos[i] = ports.ListPosition{Key: k}
		}
	}
	fctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stop()
	src := make(chan sourcePage, feedAhead)
	wg.Go(func() { w.feedSource(fctx, srcAfter, src) })
	sites := make([]chan sitePage, len(w.lists))
	for i := range sites {
		sites[i] = make(chan sitePage, feedAhead)
		wg.Go(func() { w.feedSite(fctx, i, sitePos[i], sites[i]) })
	}

	m := domain.NewVersionMerge(len(w.lists))
	var batch []domain.KeyVersions
	srcN, siteN := 0, 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := w.batch(ctx, batch, srcN)
		batch, srcN, siteN = nil, 0, 0
		return err
	}
	for {
		for kv, ok := m.Next(); ok; kv, ok = m.Next() {
			batch = append(batch, kv)
			srcN += len(kv.Source)
			for _, s := range kv.Sites {
				siteN += len(s)
			}
			if srcN >= w.cfg.BatchSize || siteN >= verifySiteBatch*w.cfg.BatchSize {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if m.Done() {
			return flush()
		}
		wantSrc, wantSites := m.Wants()
		if wantSrc {
			p, err := receive(ctx, src)
			if err == nil {
				err = p.err
			}
			if err != nil {
				return err
			}
			if err := m.FeedSource(p.versions, p.last); err != nil {
				return err
			}
		}
		for _, i := range wantSites {
			p, err := receive(ctx, sites[i])
			if err == nil {
				err = p.err
			}
			if err != nil {
				return err
			}
			if err := m.FeedSite(i, p.versions, p.last); err != nil {
				return fmt.Errorf("site %s: %w", w.job.Verify.Targets[i].Site, err)
			}
		}
	}
}

// check is one key judged at one target.
type check struct {
	target int
	key    string
	c      *domain.KeyCheck
}

// batch judges the keys of a batch at every target, stores the findings,
// commits the batch and does its repairs.
func (w *verifyWalk) batch(ctx context.Context, keys []domain.KeyVersions, scanned int) error {
	bucket, err := w.bucket(ctx)
	if err != nil {
		return err
	}
	var checks []check
	for _, kv := range keys {
		for i, t := range w.job.Verify.Targets {
			checks = append(checks, check{target: i, key: kv.Key, c: domain.NewKeyCheck(bucket, t, kv, i)})
		}
	}
	if err := w.ask(ctx, checks, true); err != nil {
		return err
	}
	if err := w.ask(ctx, checks, false); err != nil {
		return err
	}
	var counts domain.VerifyCounts
	var findings []domain.Finding
	var repairs []domain.Repair
	for _, ch := range checks {
		res, err := ch.c.Result()
		if err != nil {
			return err
		}
		counts.Compared += res.Compared
		counts.SiteVersions += res.Listed
		counts.Heads += res.Heads
		counts.TagReads += res.TagReads
		for _, f := range res.Findings {
			counts.AddFinding(f)
		}
		findings = append(findings, res.Findings...)
		repairs = append(repairs, res.Repairs...)
	}
	for len(findings) > 0 {
		n := min(len(findings), verifyFindingChunk)
		if err := w.r.Verify.Findings.PutFindings(ctx, w.job.ID, findings[:n]); err != nil {
			return fmt.Errorf("store the findings of job %s: %w", w.job.ID, err)
		}
		findings = findings[n:]
	}
	if !w.job.Verify.Repair {
		repairs = nil
	}
	last := keys[len(keys)-1].Key
	if err := w.update(ctx, func(j *domain.Job) error {
		return j.CommitVerifyBatch(last, int64(scanned), counts, repairs, time.Now())
	}); err != nil {
		return err
	}
	w.r.Verify.Telemetry.batchDone(ctx, w.job, counts)
	if len(repairs) > 0 {
		return w.repair(ctx, bucket, repairs)
	}
	return nil
}

// ask answers one round of every check's questions, concurrently: the
// HEADs (heads true), else the tag reads. A site version gone meanwhile
// is answered as not found; other errors fail the batch, to be judged
// again from the checkpoint.
func (w *verifyWalk) ask(ctx context.Context, checks []check, heads bool) error {
	type question struct {
		ch  check
		vid string
	}
	var qs []question
	for _, ch := range checks {
		var vids []string
		if heads {
			vids = ch.c.HeadsNeeded()
		} else {
			var err error
			if vids, err = ch.c.TagsNeeded(); err != nil {
				return err
			}
		}
		for _, vid := range vids {
			qs = append(qs, question{ch, vid})
		}
	}
	type answer struct {
		markers domain.ReplicaMarkers
		tags    map[string]string
		found   bool
		err     error
	}
	answers := make([]answer, len(qs))
	sem := make(chan struct{}, w.concurrency())
	var wg sync.WaitGroup
	for i, q := range qs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			t := w.job.Verify.Targets[q.ch.target]
			var a answer
			if heads {
				a.markers, a.err = w.lists[q.ch.target].ReplicaMarkers(ctx, t.Bucket, q.ch.key, q.vid)
			} else {
				a.tags, a.err = w.lists[q.ch.target].Tags(ctx, t.Bucket, q.ch.key, q.vid)
			}
			a.found = a.err == nil
			if errors.Is(a.err, ports.ErrNotFound) {
				a.err = nil
			}
			answers[i] = a
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	for i, q := range qs {
		a := answers[i]
		if a.err != nil {
			return fmt.Errorf("read %s version %s at %s: %w", q.ch.key, q.vid, w.job.Verify.Targets[q.ch.target].Site, a.err)
		}
		if heads {
			q.ch.c.SetMarkers(q.vid, a.markers, a.found)
		} else {
			q.ch.c.SetTags(q.vid, a.tags, a.found)
		}
	}
	return nil
}

// concurrency bounds the HEADs and tag reads in flight: each is one small
// request, so a verify runs several for each key a backfill works on.
func (w *verifyWalk) concurrency() int { return 4 * w.cfg.Concurrency }

// bucket reads the source bucket's attributes (a missing bucket is a
// permanent error).
func (w *verifyWalk) bucket(ctx context.Context) (domain.Bucket, error) {
	b, err := w.r.Metadata.Bucket(ctx, w.job.Bucket)
	if errors.Is(err, ports.ErrNotFound) {
		return domain.Bucket{}, fmt.Errorf("%w: bucket %s: %w", domain.ErrPermanent, w.job.Bucket, err)
	}
	if err != nil {
		return domain.Bucket{}, fmt.Errorf("read bucket %s: %w", w.job.Bucket, err)
	}
	return b, nil
}

// countTotal records the number of source versions to compare.
func (w *verifyWalk) countTotal(ctx context.Context) error {
	n, err := w.r.Scanner.CountVersions(ctx, w.job.Bucket, w.job.Prefix)
	if errors.Is(err, ports.ErrNotFound) {
		return fmt.Errorf("%w: count versions of %s: %w", domain.ErrPermanent, w.job.Bucket, err)
	}
	if err != nil {
		return fmt.Errorf("count versions of %s: %w", w.job.Bucket, err)
	}
	return w.update(ctx, func(j *domain.Job) error {
		if j.State != domain.JobRunning {
			return domain.ErrJobNotRunning
		}
		j.Total, j.UpdatedAt = n, time.Now().UTC()
		return nil
	})
}

// update saves a change of the job and keeps the result.
func (w *verifyWalk) update(ctx context.Context, change func(*domain.Job) error) error {
	j, err := w.r.Jobs.UpdateJob(ctx, w.job.ID, change)
	if err != nil {
		return fmt.Errorf("save job %s: %w", w.job.ID, err)
	}
	w.job = j
	return nil
}
