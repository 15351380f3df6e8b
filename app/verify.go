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

// VerifyService starts, lists, shows and cancels verify jobs, and reads
// their findings. It only records jobs: a JobRunner of some API instance
// runs each, as it runs backfills. A verify cancelled leaves the repairs
// of the batch it was on undone.
type VerifyService struct {
	jobsOf
	findings ports.FindingStore
	metadata ports.MetadataStore
	sites    []string
}

// NewVerifyService returns the service over the job and finding stores
// and the source metadata; sites are the configured destination sites.
func NewVerifyService(jobs ports.JobStore, findings ports.FindingStore, metadata ports.MetadataStore, sites []string) (*VerifyService, error) {
	if jobs == nil || findings == nil || metadata == nil {
		return nil, errors.New("verify service: a job store, a finding store and a metadata store are required")
	}
	return &VerifyService{jobsOf: jobsOf{jobs: jobs, kind: domain.JobVerify, now: time.Now}, findings: findings, metadata: metadata, sites: slices.Clone(sites)}, nil
}

// Start records a new verify job of req and returns it. The bucket must
// exist (else an error wrapping ports.ErrNotFound), the sites must be
// configured ones (ErrUnknownSite), and an enabled rule of the bucket must
// send keys under the prefix to each of them (domain.ErrInvalidJob, as
// other problems of req).
func (s *VerifyService) Start(ctx context.Context, req domain.VerifyRequest) (domain.Job, error) {
	for _, site := range req.Sites {
		if !slices.Contains(s.sites, site) {
			return domain.Job{}, fmt.Errorf("%w: %q", ErrUnknownSite, site)
		}
	}
	if req.Bucket == "" {
		return domain.Job{}, fmt.Errorf("%w: bucket is required", domain.ErrInvalidJob)
	}
	b, err := s.metadata.Bucket(ctx, req.Bucket)
	if err != nil {
		return domain.Job{}, fmt.Errorf("verify bucket %s: %w", req.Bucket, err)
	}
	targets, err := b.VerifyTargets(req.Prefix, req.Sites)
	if err != nil {
		return domain.Job{}, err
	}
	for _, t := range targets {
		if !slices.Contains(s.sites, t.Site) {
			return domain.Job{}, fmt.Errorf("%w: %q, named by a rule of bucket %s", ErrUnknownSite, t.Site, req.Bucket)
		}
	}
	job, err := domain.NewVerifyJob(newJobID("vf-"), req, targets, s.now())
	if err != nil {
		return domain.Job{}, err
	}
	if err := s.jobs.CreateJob(ctx, job); err != nil {
		return domain.Job{}, fmt.Errorf("record verify job: %w", err)
	}
	return job, nil
}

// Findings returns a page of a verify job's findings in report order
// (status-lies first), of kind unless it is empty, after the finding
// whose sort key is after; more says others follow.
func (s *VerifyService) Findings(ctx context.Context, id string, kind domain.FindingKind, after string, limit int) ([]domain.Finding, bool, error) {
	if _, err := s.Job(ctx, id); err != nil {
		return nil, false, err
	}
	if kind != "" {
		if _, err := domain.ParseFindingKind(string(kind)); err != nil {
			return nil, false, err
		}
	}
	return s.findings.Findings(ctx, id, kind, after, limit)
}
