package memory

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// Findings keeps verify findings in memory, per job, sorted by sort key.
// It implements ports.FindingStore and is safe for concurrent use.
type Findings struct {
	mu   sync.Mutex
	jobs map[string][]domain.Finding // sorted by SortKey
}

var _ ports.FindingStore = (*Findings)(nil)

// NewFindings returns an empty finding store.
func NewFindings() *Findings { return &Findings{jobs: map[string][]domain.Finding{}} }

func bySortKey(f domain.Finding, key string) int { return strings.Compare(f.SortKey(), key) }

// PutFindings stores findings, replacing those with the same sort key.
func (s *Findings) PutFindings(ctx context.Context, job string, findings []domain.Finding) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if job == "" {
		return fmt.Errorf("memory: put findings: %w: empty job id", domain.ErrPermanent)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	stored := s.jobs[job]
	for _, f := range findings {
		key := f.SortKey()
		i, found := slices.BinarySearchFunc(stored, key, bySortKey)
		if found {
			stored[i] = f
			continue
		}
		stored = slices.Insert(stored, i, f)
	}
	s.jobs[job] = stored
	return nil
}

// Findings returns a page of job's findings in report order.
func (s *Findings) Findings(ctx context.Context, job string, kind domain.FindingKind, after string, limit int) ([]domain.Finding, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	if limit < 1 {
		return nil, false, fmt.Errorf("memory: findings of %s: %w: limit %d, want at least 1", job, domain.ErrPermanent, limit)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	stored := s.jobs[job]
	i, found := slices.BinarySearchFunc(stored, after, bySortKey)
	if found {
		i++
	}
	var page []domain.Finding
	for ; i < len(stored); i++ {
		if kind != "" && stored[i].Kind != kind {
			continue
		}
		if len(page) == limit {
			return page, true, nil
		}
		page = append(page, stored[i])
	}
	return page, false, nil
}
