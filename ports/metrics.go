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

// An Op names one count, so that a count retried after its reply was lost
// (the store applied it, then went away) is counted once. Lane names a
// sequence of Records made one at a time, by one worker of one process; ID
// names the count within it. A Record whose ID is the last one its Lane
// recorded counts nothing; the zero Op is always counted. A count that
// failed must be retried on its lane before the lane records another.
type Op struct {
	Lane, ID string
}

// MetricsRecorder counts replication work per site, shared by all processes.
type MetricsRecorder interface {
	// Record adds ops operations of bytes in all to kind at site, once
	// per op (see Op). ops is at least 1.
	Record(ctx context.Context, site string, kind MetricKind, ops, bytes int64, op Op) error
	// Site returns site's counts over the window ending now.
	Site(ctx context.Context, site string, window time.Duration) (SiteMetrics, error)
}
