package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// jobsOf shows, lists and cancels the jobs of one kind: the part of the
// backfill and verify services that does not depend on the kind.
type jobsOf struct {
	jobs ports.JobStore
	kind domain.JobKind
	now  func() time.Time
}

// Job returns one job of the kind (ports.ErrNotFound when there is none).
func (k jobsOf) Job(ctx context.Context, id string) (domain.Job, error) {
	j, err := k.jobs.Job(ctx, id)
	if err != nil {
		return domain.Job{}, err
	}
	if j.Kind != k.kind || (k.kind == domain.JobVerify && j.Verify == nil) {
		return domain.Job{}, fmt.Errorf("%s job %s: %w", k.kind, id, ports.ErrNotFound)
	}
	return j, nil
}

// Jobs lists the jobs of the kind, newest first.
func (k jobsOf) Jobs(ctx context.Context) ([]domain.Job, error) {
	return k.jobs.Jobs(ctx, ports.JobFilter{Kind: k.kind})
}

// Cancel ends a running job: its runner stops within the batch it is on.
// A job already ended gives an error wrapping domain.ErrJobNotRunning.
func (k jobsOf) Cancel(ctx context.Context, id string) (domain.Job, error) {
	if _, err := k.Job(ctx, id); err != nil {
		return domain.Job{}, err
	}
	return k.jobs.UpdateJob(ctx, id, func(j *domain.Job) error { return j.Cancel(k.now()) })
}

// newJobID returns a short random job id after prefix.
func newJobID(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}
