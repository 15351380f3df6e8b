package app

import (
	"context"
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
	jobsOf
	metadata ports.MetadataStore
	sites    []string
}

// NewBackfillService returns the service over a job store and the source
// metadata; sites are the configured destination sites.
func NewBackfillService(jobs ports.JobStore, metadata ports.MetadataStore, sites []string) (*BackfillService, error) {
	if jobs == nil || metadata == nil {
		return nil, errors.New("backfill service: a job store and a metadata store are required")
	}
	return &BackfillService{jobsOf: jobsOf{jobs: jobs, kind: domain.JobBackfill, now: time.Now}, metadata: metadata, sites: slices.Clone(sites)}, nil
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
	id := newJobID("bf-")
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
