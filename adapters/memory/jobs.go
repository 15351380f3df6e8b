package memory

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// Jobs keeps jobs in memory. It implements ports.JobStore and is safe for
// concurrent use. Like Metadata's UpdateVersion, UpdateJob runs update
// without holding the lock and stores the result only if the job is still
// the one it read, so tests see the retries production does.
type Jobs struct {
	mu   sync.Mutex
	jobs map[string]*storedJob
}

// storedJob is one stored job; it is replaced, never changed in place, so
// its pointer is the compare-and-swap token.
type storedJob struct{ job domain.Job }

var _ ports.JobStore = (*Jobs)(nil)

// NewJobs returns an empty job store.
func NewJobs() *Jobs { return &Jobs{jobs: map[string]*storedJob{}} }

// CreateJob stores j unless its id is taken.
func (s *Jobs) CreateJob(ctx context.Context, j domain.Job) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if j.ID == "" {
		return fmt.Errorf("memory: create job: %w: empty id", domain.ErrPermanent)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.jobs[j.ID]; ok {
		return fmt.Errorf("memory: create job %s: %w: the id exists", j.ID, ports.ErrConflict)
	}
	s.jobs[j.ID] = &storedJob{job: j.Clone()}
	return nil
}

// Job returns one job.
func (s *Jobs) Job(ctx context.Context, id string) (domain.Job, error) {
	if err := ctx.Err(); err != nil {
		return domain.Job{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sj, ok := s.jobs[id]
	if !ok {
		return domain.Job{}, fmt.Errorf("memory: job %s: %w", id, ports.ErrNotFound)
	}
	return sj.job.Clone(), nil
}

// Jobs lists the jobs f selects, newest first.
func (s *Jobs) Jobs(ctx context.Context, f ports.JobFilter) ([]domain.Job, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	var out []domain.Job
	for _, sj := range s.jobs {
		if (f.Kind == "" || sj.job.Kind == f.Kind) && (f.State == "" || sj.job.State == f.State) {
			out = append(out, sj.job.Clone())
		}
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].StartedAt.Equal(out[j].StartedAt) {
			return out[i].StartedAt.After(out[j].StartedAt)
		}
		return out[i].ID > out[j].ID
	})
	return out, nil
}

// UpdateJob runs update on a copy of the job and stores it if the job did
// not change meanwhile, else starts over.
func (s *Jobs) UpdateJob(ctx context.Context, id string, update func(*domain.Job) error) (domain.Job, error) {
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return domain.Job{}, err
		}
		s.mu.Lock()
		read, ok := s.jobs[id]
		s.mu.Unlock()
		if !ok {
			return domain.Job{}, fmt.Errorf("memory: update job %s: %w", id, ports.ErrNotFound)
		}
		next := read.job.Clone()
		if err := update(&next); err != nil {
			return domain.Job{}, err
		}
		if next.ID != id {
			return domain.Job{}, fmt.Errorf("memory: update job %s: %w: the update changed the job's id", id, domain.ErrPermanent)
		}
		s.mu.Lock()
		if s.jobs[id] != read {
			s.mu.Unlock()
			if attempt >= maxUpdateAttempts {
				return domain.Job{}, fmt.Errorf("memory: update job %s after %d attempts: %w", id, attempt, ports.ErrConflict)
			}
			continue
		}
		s.jobs[id] = &storedJob{job: next.Clone()}
		s.mu.Unlock()
		return next, nil
	}
}
