package memory

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/openbackbeat/backbeat/ports"
)

// DefaultProgressRetention is how long a copy's progress is kept after its
// last change, as upstream keeps its per-object counters (24 h).
const DefaultProgressRetention = 24 * time.Hour

// ProgressConfig configures Progress; zero fields take their defaults.
type ProgressConfig struct {
	// Retention is how long a record is kept after its last change
	// (default 24 h).
	Retention time.Duration
	// Now is the clock of the retention (default time.Now); tests move it.
	Now func() time.Time
}

// Progress keeps the progress of copies in memory. It implements
// ports.ProgressStore and is safe for concurrent use.
type Progress struct {
	cfg    ProgressConfig
	mu     sync.Mutex
	copies map[ports.CopyRef]*progressRecord
	begins int // Begins since the last sweep of expired records
}

type progressRecord struct {
	p       ports.CopyProgress
	expires time.Time
}

var _ ports.ProgressStore = (*Progress)(nil)

// NewProgress returns an empty store.
func NewProgress(cfg ProgressConfig) (*Progress, error) {
	if cfg.Retention < 0 {
		return nil, fmt.Errorf("memory progress: retention %s is negative", cfg.Retention)
	}
	if cfg.Retention == 0 {
		cfg.Retention = DefaultProgressRetention
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Progress{cfg: cfg, copies: map[ports.CopyRef]*progressRecord{}}, nil
}

// sweepEvery is how many Begins pass between sweeps of expired records.
const sweepEvery = 256

// Begin records a new attempt at ref.
func (s *Progress) Begin(ctx context.Context, ref ports.CopyRef, total int64, started time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := s.cfg.Now()
	started = started.Truncate(time.Millisecond)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.begins++; s.begins >= sweepEvery {
		s.begins = 0
		for r, rec := range s.copies {
			if !now.Before(rec.expires) {
				delete(s.copies, r)
			}
		}
	}
	s.copies[ref] = &progressRecord{
		p:       ports.CopyProgress{Total: total, Started: started, Updated: started},
		expires: now.Add(s.cfg.Retention),
	}
	return nil
}

// Advance adds n bytes to the attempt of ref that began at started.
func (s *Progress) Advance(ctx context.Context, ref ports.CopyRef, started time.Time, n int64, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.copies[ref]
	if !ok || !now.Before(rec.expires) || !rec.p.Started.Equal(started.Truncate(time.Millisecond)) {
		return nil
	}
	rec.p.Done = min(rec.p.Done+max(n, 0), rec.p.Total)
	if at = at.Truncate(time.Millisecond); at.After(rec.p.Updated) {
		rec.p.Updated = at
	}
	rec.expires = now.Add(s.cfg.Retention)
	return nil
}

// Progress returns the record of ref.
func (s *Progress) Progress(ctx context.Context, ref ports.CopyRef) (ports.CopyProgress, error) {
	if err := ctx.Err(); err != nil {
		return ports.CopyProgress{}, err
	}
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.copies[ref]
	if !ok || !now.Before(rec.expires) {
		delete(s.copies, ref)
		return ports.CopyProgress{}, fmt.Errorf("memory: progress of %s/%s %s to %s: %w", ref.Bucket, ref.Key, ref.VersionID, ref.Site, ports.ErrNotFound)
	}
	return rec.p, nil
}
