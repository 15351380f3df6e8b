package memory

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// Defaults of MetricsConfig, upstream's (arsenal StatsModel): 5-minute
// buckets kept for a day.
const (
	DefaultMetricsInterval = 5 * time.Minute
	DefaultMetricsExpiry   = 24 * time.Hour
)

// MetricsConfig configures Metrics; zero fields take their defaults.
type MetricsConfig struct {
	// Interval is the width of a counting bucket (default 5 min).
	Interval time.Duration
	// Expiry is how long a bucket is kept (default 24 h).
	Expiry time.Duration
	// Now is the clock (default time.Now); tests move it.
	Now func() time.Time
}

// Validate reports every problem of the configuration.
func (c MetricsConfig) Validate() error {
	var errs []error
	if c.Interval < 0 {
		errs = append(errs, fmt.Errorf("memory metrics: interval %s is negative", c.Interval))
	}
	if c.Expiry < 0 {
		errs = append(errs, fmt.Errorf("memory metrics: expiry %s is negative", c.Expiry))
	}
	if c.Interval > 0 && c.Expiry > 0 && c.Expiry < c.Interval {
		errs = append(errs, fmt.Errorf("memory metrics: expiry %s is shorter than the interval %s", c.Expiry, c.Interval))
	}
	return errors.Join(errs...)
}

// Metrics counts replication work per site in time buckets, as upstream
// keeps it in Redis: per kind, operations and bytes per Interval, dropped
// after Expiry; and a running pending count (queued minus completed and
// failed) that no window applies to. Pending is kept signed and shown
// clamped at zero: an outcome recorded before its queued record (two
// processes racing) must not leave pending too high forever. It implements
// ports.MetricsRecorder and is safe for concurrent use.
type Metrics struct {
	cfg   MetricsConfig
	mu    sync.Mutex
	sites map[string]*siteCounts
	lanes map[string]string // the last op ID each lane recorded
}

type siteCounts struct {
	buckets map[int64]*[3]ports.Counts // by bucket start (Unix ns): queued, completed, failed
	pending ports.Counts
}

var _ ports.MetricsRecorder = (*Metrics)(nil)

// NewMetrics returns a recorder with nothing counted.
func NewMetrics(cfg MetricsConfig) (*Metrics, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultMetricsInterval
	}
	if cfg.Expiry == 0 {
		cfg.Expiry = max(DefaultMetricsExpiry, cfg.Interval)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Metrics{cfg: cfg, sites: map[string]*siteCounts{}, lanes: map[string]string{}}, nil
}

func kindIndex(k ports.MetricKind) (int, bool) {
	switch k {
	case ports.MetricQueued:
		return 0, true
	case ports.MetricCompleted:
		return 1, true
	case ports.MetricFailed:
		return 2, true
	}
	return 0, false
}

func (m *Metrics) bucketStart(t time.Time) int64 {
	iv := int64(m.cfg.Interval)
	ns := t.UnixNano()
	return ns - ((ns%iv)+iv)%iv
}

// Record adds ops operations of bytes in all to kind at site, once per op.
func (m *Metrics) Record(ctx context.Context, site string, kind ports.MetricKind, ops, bytes int64, op ports.Op) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	i, ok := kindIndex(kind)
	if !ok {
		return fmt.Errorf("memory metrics: %w: unknown kind %q", domain.ErrPermanent, kind)
	}
	if bytes < 0 {
		return fmt.Errorf("memory metrics: %w: negative bytes %d", domain.ErrPermanent, bytes)
	}
	if ops < 1 {
		return fmt.Errorf("memory metrics: %w: %d operations, want at least 1", domain.ErrPermanent, ops)
	}
	now := m.cfg.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if op.ID != "" {
		if m.lanes[op.Lane] == op.ID {
			return nil
		}
		m.lanes[op.Lane] = op.ID
	}
	s := m.sites[site]
	if s == nil {
		s = &siteCounts{buckets: map[int64]*[3]ports.Counts{}}
		m.sites[site] = s
	}
	start := m.bucketStart(now)
	b := s.buckets[start]
	if b == nil {
		b = &[3]ports.Counts{}
		s.buckets[start] = b
		m.expireLocked(s, now)
	}
	b[i].Ops += ops
	b[i].Bytes += bytes
	sign := int64(-1)
	if kind == ports.MetricQueued {
		sign = 1
	}
	s.pending.Ops += sign * ops
	s.pending.Bytes += sign * bytes
	return nil
}

// expireLocked drops a site's buckets older than the expiry. The caller
// holds m.mu.
func (m *Metrics) expireLocked(s *siteCounts, now time.Time) {
	oldest := m.bucketStart(now.Add(-m.cfg.Expiry))
	for start := range s.buckets {
		if start < oldest {
			delete(s.buckets, start)
		}
	}
}

// Site returns site's counts over the buckets that overlap the window
// ending now (the current bucket always does), and what is pending now.
func (m *Metrics) Site(ctx context.Context, site string, window time.Duration) (ports.SiteMetrics, error) {
	if err := ctx.Err(); err != nil {
		return ports.SiteMetrics{}, err
	}
	now := m.cfg.Now()
	from := m.bucketStart(now.Add(-window))
	m.mu.Lock()
	defer m.mu.Unlock()
	var out ports.SiteMetrics
	s := m.sites[site]
	if s == nil {
		return out, nil
	}
	m.expireLocked(s, now)
	for start, b := range s.buckets {
		if start < from {
			continue
		}
		for i, c := range []*ports.Counts{&out.Queued, &out.Completed, &out.Failed} {
			c.Ops += b[i].Ops
			c.Bytes += b[i].Bytes
		}
	}
	out.Pending = ports.Counts{Ops: max(s.pending.Ops, 0), Bytes: max(s.pending.Bytes, 0)}
	return out, nil
}
