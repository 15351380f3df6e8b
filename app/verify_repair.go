package app

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// repair re-queues each repair's version for its site through the
// metadata CAS, judged again on the stored copy, keys concurrently and
// each key's versions in the order given (oldest first); then it records
// them done, counting the versions left PENDING for their site.
func (w *verifyWalk) repair(ctx context.Context, bucket domain.Bucket, repairs []domain.Repair) error {
	var keys [][]domain.Repair
	for i, r := range repairs {
		if i == 0 || r.Key != repairs[i-1].Key {
			keys = append(keys, nil)
		}
		keys[len(keys)-1] = append(keys[len(keys)-1], r)
	}
	var mu sync.Mutex
	var requeued int64
	var firstErr error
	sem := make(chan struct{}, w.cfg.Concurrency)
	var wg sync.WaitGroup
	for _, rs := range keys {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			for _, r := range rs {
				ok, err := w.requeue(ctx, bucket, r)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				if ok {
					requeued++
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		return firstErr
	}
	return w.update(ctx, func(j *domain.Job) error { return j.RequeueDone(requeued, time.Now()) })
}

// requeue sets one version PENDING for a site, as a backfill queues it,
// unless it is queued already; it reports whether the version is left
// PENDING (or PROCESSING) for the site.
func (w *verifyWalk) requeue(ctx context.Context, bucket domain.Bucket, r domain.Repair) (bool, error) {
	target := domain.VerifyTarget{Site: r.Site}
	for _, t := range w.job.Verify.Targets {
		if t.Site == r.Site {
			if rule, ok := bucket.RuleFor(r.Key); ok && rule.DestinationBucketName() == t.Bucket {
				target = t
			}
		}
	}
	queued := false
	_, err := w.r.Metadata.UpdateVersion(ctx, w.job.Bucket, r.Key, r.VersionID, func(v *domain.ObjectVersion) error {
		if v.RequeueForVerify(bucket, target, r) {
			queued = true
			return nil
		}
		be, ok := v.Site(r.Site)
		queued = ok && (be.Status == domain.StatusPending || be.Status == domain.StatusProcessing)
		return errNothingToWrite
	})
	switch {
	case err == nil, errors.Is(err, errNothingToWrite):
		return queued, nil
	case errors.Is(err, ports.ErrNotFound):
		return false, nil // deleted since: nothing to repair
	}
	return false, fmt.Errorf("re-queue %s/%s version %s for %s: %w", w.job.Bucket, r.Key, r.VersionID, r.Site, err)
}
