package ports

import (
	"context"
	"time"
)

// MetricKind is what happened to an entry at a site.
type MetricKind string

// Metric kinds, as upstream's metrics names them.
const (
	MetricQueued    MetricKind = "queued"
	MetricCompleted MetricKind = "completed"
	MetricFailed    MetricKind = "failed"
)

// Counts are operations and bytes.
type Counts struct {
	Ops   int64 `json:"count"`
	Bytes int64 `json:"size"`
}

// SiteMetrics are a site's counts over a window, and what is pending now.
type SiteMetrics struct {
	Queued, Completed, Failed Counts
	Pending                   Counts
}

// MetricsRecorder counts replication work per site, shared by all processes.
type MetricsRecorder interface {
	// Record adds one operation of bytes to kind at site.
	Record(ctx context.Context, site string, kind MetricKind, bytes int64) error
	// Site returns site's counts over the window ending now.
	Site(ctx context.Context, site string, window time.Duration) (SiteMetrics, error)
}
