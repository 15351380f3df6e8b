package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// BackfillService starts, lists, shows and cancels backfill jobs. It only
// records them: a JobRunner of some API instance runs each.
type BackfillService struct {
	jobs     ports.JobStore
	metadata ports.MetadataStore
	sites    []string
	now      func() time.Time
}

// NewBackfillService returns the service over a job store and the source
// metadata; sites are the configured destination sites.
func NewBackfillService(jobs ports.JobStore, metadata ports.MetadataStore, sites []string) (*BackfillService, error) {
	if jobs == nil || metadata == nil {
		return nil, errors.New("backfill service: a job store and a metadata store are required")
	}
	return &BackfillService{jobs: jobs, metadata: metadata, sites: slices.Clone(sites), now: time.Now}, nil
}

// ErrNoReplication says a backfill named a bucket that replicates nothing.
var ErrNoReplication = errors.New("bucket has no replication configuration")

// Start records a new backfill job of req and returns it. The bucket must
// exist (else an error wrapping ports.ErrNotFound), have versioning and a
// replication configuration (ErrNoReplication), and the sites must be
// configured ones (ErrUnknownSite); other problems of req wrap
// domain.ErrInvalidJob.
func (s *BackfillService) Start(ctx context.Context, req domain.JobRequest) (domain.Job, error) {
	req.Kind = domain.JobBackfill
	for _, site := range req.Sites {
		if !slices.Contains(s.sites, site) {
			return domain.Job{}, fmt.Errorf("%w: %q", ErrUnknownSite, site)
		}
	}
	id := newJobID()
	job, err := domain.NewJob(id, req, s.now())
	if err != nil {
		return domain.Job{}, err
	}
	b, err := s.metadata.Bucket(ctx, req.Bucket)
	if err != nil {
		return domain.Job{}, fmt.Errorf("backfill bucket %s: %w", req.Bucket, err)
	}
	if !b.VersioningEnabled || b.Replication == nil || len(b.Replication.Rules) == 0 {
		return domain.Job{}, fmt.Errorf("backfill bucket %s: %w (or no versioning)", req.Bucket, ErrNoReplication)
	}
	if err := s.jobs.CreateJob(ctx, job); err != nil {
		return domain.Job{}, fmt.Errorf("record backfill job: %w", err)
	}
	return job, nil
}

// Job returns one backfill job (ports.ErrNotFound when there is none).
func (s *BackfillService) Job(ctx context.Context, id string) (domain.Job, error) {
	j, err := s.jobs.Job(ctx, id)
	if err != nil {
		return domain.Job{}, err
	}
	if j.Kind != domain.JobBackfill {
		return domain.Job{}, fmt.Errorf("backfill job %s: %w", id, ports.ErrNotFound)
	}
	return j, nil
}

// Jobs lists the backfill jobs, newest first.
func (s *BackfillService) Jobs(ctx context.Context) ([]domain.Job, error) {
	return s.jobs.Jobs(ctx, ports.JobFilter{Kind: domain.JobBackfill})
}

// Cancel ends a running job: its runner stops within the batch it is on.
// A job already ended gives an error wrapping domain.ErrJobNotRunning.
func (s *BackfillService) Cancel(ctx context.Context, id string) (domain.Job, error) {
	if _, err := s.Job(ctx, id); err != nil {
		return domain.Job{}, err
	}
	return s.jobs.UpdateJob(ctx, id, func(j *domain.Job) error { return j.Cancel(s.now()) })
}

// newJobID returns a short random job id.
func newJobID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "bf-" + hex.EncodeToString(b[:])
}
