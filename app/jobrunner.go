package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// JobRunner runs the jobs of the job store, in the API role: each under a
// lease (a renewed lock named job:<id>), so that one runner among the API
// instances works on a job, and another resumes it from its checkpoint
// when its runner dies. Jobs write only through the metadata store's
// compare-and-swap; the ordinary pipeline does the copying.
type JobRunner struct {
	Jobs     ports.JobStore
	Locks    ports.RenewableLocker
	Metadata ports.MetadataStore
	Scanner  ports.VersionScanner
	// Metrics gives the sites' backlogs, which a backfill holds on; nil
	// never holds.
	Metrics   ports.MetricsRecorder
	Telemetry *BackfillTelemetry
	// Verify is what verify jobs need besides.
	Verify VerifyDeps
	Config JobRunnerConfig
	Log    *slog.Logger
}

// Run looks for running jobs every Poll and runs those it gets the lease
// of, until ctx ends; then it stops them (their checkpoints stay, for the
// next runner) and returns nil.
func (r *JobRunner) Run(ctx context.Context) error {
	if r.Jobs == nil || r.Locks == nil || r.Metadata == nil || r.Scanner == nil {
		return errors.New("job runner: Jobs, Locks, Metadata and Scanner are required")
	}
	cfg := r.Config.WithDefaults()
	log := cmp.Or(r.Log, slog.New(slog.DiscardHandler))
	var wg sync.WaitGroup
	defer wg.Wait()
	var mu sync.Mutex
	active := map[string]bool{}
	tick := time.NewTicker(cfg.Poll)
	defer tick.Stop()
	for {
		jobs, err := r.Jobs.Jobs(ctx, ports.JobFilter{State: domain.JobRunning})
		if err != nil && ctx.Err() == nil {
			log.Warn("list running jobs", "err", err)
		}
		for _, j := range jobs {
			mu.Lock()
			busy := active[j.ID]
			mu.Unlock()
			if busy {
				continue
			}
			hold, ok, err := r.Locks.TryHold(ctx, jobLockName(j.ID), cfg.LeaseTTL)
			if err != nil {
				if ctx.Err() == nil {
					log.Warn("take job lease", "job", j.ID, "err", err)
				}
				continue
			}
			if !ok {
				continue // another runner has it
			}
			mu.Lock()
			active[j.ID] = true
			mu.Unlock()
			wg.Go(func() {
				defer func() {
					mu.Lock()
					delete(active, j.ID)
					mu.Unlock()
				}()
				r.runLeased(ctx, cfg, log.With("job", j.ID, "kind", string(j.Kind)), j.ID, hold)
			})
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func jobLockName(id string) string { return "job:" + id }

// runLeased runs one job while its lease holds: it renews the lease, and
// watches the job for a cancel, stopping the work at either's end.
func (r *JobRunner) runLeased(ctx context.Context, cfg JobRunnerConfig, log *slog.Logger, id string, hold ports.HeldLock) {
	jctx, stop := context.WithCancelCause(ctx)
	var wg sync.WaitGroup
	defer func() {
		stop(nil)
		wg.Wait()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := hold.Release(rctx); err != nil {
			log.Warn("release job lease", "err", err)
		}
	}()
	wg.Go(func() { r.keepLease(jctx, stop, cfg, hold) })
	wg.Go(func() { r.watchJob(jctx, stop, cfg, id) })
	job, err := r.Jobs.Job(jctx, id)
	if err != nil {
		log.Warn("read job", "err", err)
		return
	}
	if job.State != domain.JobRunning {
		return
	}
	log.Info("job started or resumed", "bucket", job.Bucket, "prefix", job.Prefix, "checkpoint", job.Checkpoint, "scanned", job.Scanned)
	var partial domain.JobCounts
	if job.Kind == domain.JobVerify {
		err = r.runVerify(jctx, cfg, log, job)
	} else {
		w := &backfillWalk{r: r, cfg: cfg, log: log, job: job}
		partial, err = w.run(jctx)
	}
	switch cause := context.Cause(jctx); {
	case errors.Is(cause, errJobCancelled), errors.Is(err, domain.ErrJobNotRunning):
		r.settleCancelled(ctx, log, id, partial)
	case jctx.Err() != nil:
		log.Info("job stopped, to be resumed from its checkpoint", "cause", cause)
	case err != nil && errors.Is(err, domain.ErrPermanent):
		r.finish(ctx, log, id, err)
	case err != nil:
		log.Warn("job batch failed; retried from its checkpoint", "err", err)
	default:
		r.finish(ctx, log, id, nil)
	}
}

// errJobCancelled is the cause of a job's context ending on a cancel.
var errJobCancelled = errors.New("job cancelled")

// errLeaseLost is the cause of a job's context ending on a lost lease.
var errLeaseLost = errors.New("job lease lost")

// keepLease renews the lease every third of its ttl; when it cannot before
// the lease expires, the job stops.
func (r *JobRunner) keepLease(ctx context.Context, stop context.CancelCauseFunc, cfg JobRunnerConfig, hold ports.HeldLock) {
	every := cfg.LeaseTTL / 3
	renewed := time.Now()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := hold.Renew(ctx, cfg.LeaseTTL)
		switch {
		case err == nil:
			renewed = time.Now()
		case errors.Is(err, ports.ErrLockLost) || time.Since(renewed) > cfg.LeaseTTL-every/2:
			stop(fmt.Errorf("%w: %w", errLeaseLost, err))
			return
		}
	}
}

// watchJob polls the job and stops the work when it is no longer running.
func (r *JobRunner) watchJob(ctx context.Context, stop context.CancelCauseFunc, cfg JobRunnerConfig, id string) {
	t := time.NewTicker(cfg.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		j, err := r.Jobs.Job(ctx, id)
		if err == nil && j.State != domain.JobRunning {
			stop(errJobCancelled)
			return
		}
	}
}

func (r *JobRunner) finish(ctx context.Context, log *slog.Logger, id string, jobErr error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	j, err := r.Jobs.UpdateJob(ctx, id, func(j *domain.Job) error { return j.Finish(jobErr, time.Now()) })
	switch {
	case errors.Is(err, domain.ErrJobNotRunning):
		return // cancelled as it ended
	case err != nil:
		log.Warn("record the job's end", "err", err)
		return
	}
	r.Telemetry.progress(ctx, j)
	log.Info("job ended", "state", j.State, "error", j.Error, "scanned", j.Scanned, "queued", j.Queued,
		"skipped", j.SkippedTotal(), "bytesQueued", j.BytesQueued)
}

func (r *JobRunner) settleCancelled(ctx context.Context, log *slog.Logger, id string, partial domain.JobCounts) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	j, err := r.Jobs.UpdateJob(ctx, id, func(j *domain.Job) error { return j.SettleCancelled(partial, time.Now()) })
	if err != nil {
		log.Warn("record the cancelled job's last counts", "err", err)
		return
	}
	log.Info("job cancelled", "scanned", j.Scanned, "queued", j.Queued, "skipped", j.SkippedTotal())
}
