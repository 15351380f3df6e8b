package apiclient

import (
	"context"
	"net/http"
	"time"
)

// BackfillRequest starts a backfill job (POST /_/backfill).
type BackfillRequest struct {
	Bucket        string   `json:"bucket"`
	Prefix        string   `json:"prefix,omitempty"`
	Sites         []string `json:"sites,omitempty"`
	IncludeFailed bool     `json:"includeFailed,omitempty"`
	DryRun        bool     `json:"dryRun,omitempty"`
	// Rate bounds the versions queued per second; 0 is unbounded.
	Rate float64 `json:"rate,omitempty"`
}

// SiteCount is what a job queued for one site.
type SiteCount struct {
	Versions int64 `json:"versions"`
	Bytes    int64 `json:"bytes"`
}

// VersionRef names one object version.
type VersionRef struct {
	Key       string `json:"key"`
	VersionID string `json:"versionId"`
}

// BackfillJob is a backfill job and its progress.
type BackfillJob struct {
	ID             string               `json:"id"`
	Kind           string               `json:"kind"`
	Bucket         string               `json:"bucket"`
	Prefix         string               `json:"prefix"`
	Sites          []string             `json:"sites"`
	IncludeFailed  bool                 `json:"includeFailed"`
	IncludePending bool                 `json:"includePending"`
	ModifiedSince  string               `json:"modifiedSince,omitempty"`
	DryRun         bool                 `json:"dryRun"`
	Rate           float64              `json:"rate"`
	State          string               `json:"state"`
	Scanned        int64                `json:"scanned"`
	Total          int64                `json:"total"`
	Progress       float64              `json:"progress"`
	Queued         int64                `json:"queued"`
	Skipped        map[string]int64     `json:"skipped"`
	BytesQueued    int64                `json:"bytesQueued"`
	PerSite        map[string]SiteCount `json:"perSite"`
	StartedAt      time.Time            `json:"startedAt"`
	UpdatedAt      time.Time            `json:"updatedAt"`
	Error          string               `json:"error"`
	Checkpoint     *VersionRef          `json:"checkpoint,omitempty"`
}

// Backfill job states.
const (
	JobRunning   = "running"
	JobDone      = "done"
	JobCancelled = "cancelled"
	JobFailed    = "failed"
)

// Finished reports whether the job ended.
func (j BackfillJob) Finished() bool { return j.State != JobRunning && j.State != "" }

// SkippedTotal is the number of versions skipped, all reasons together.
func (j BackfillJob) SkippedTotal() int64 {
	var n int64
	for _, v := range j.Skipped {
		n += v
	}
	return n
}

// StartBackfill starts a job and returns its id.
func (c *Client) StartBackfill(ctx context.Context, req BackfillRequest) (string, error) {
	var out struct {
		ID string `json:"id"`
	}
	_, err := c.do(ctx, http.MethodPost, "/_/backfill", nil, req, &out)
	return out.ID, err
}

// Backfill returns one job.
func (c *Client) Backfill(ctx context.Context, id string) (BackfillJob, error) {
	var j BackfillJob
	_, err := c.do(ctx, http.MethodGet, "/_/backfill/"+segment(id), nil, nil, &j)
	return j, err
}

// BackfillJSON returns one job as the API's JSON, byte for byte.
func (c *Client) BackfillJSON(ctx context.Context, id string) ([]byte, error) {
	return c.do(ctx, http.MethodGet, "/_/backfill/"+segment(id), nil, nil, nil)
}

// Backfills lists the jobs, newest first.
func (c *Client) Backfills(ctx context.Context) ([]BackfillJob, error) {
	var js []BackfillJob
	_, err := c.do(ctx, http.MethodGet, "/_/backfill", nil, nil, &js)
	return js, err
}

// CancelBackfill cancels a running job and returns it.
func (c *Client) CancelBackfill(ctx context.Context, id string) (BackfillJob, error) {
	var j BackfillJob
	_, err := c.do(ctx, http.MethodDelete, "/_/backfill/"+segment(id), nil, nil, &j)
	return j, err
}
