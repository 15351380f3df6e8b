package apiclient

import (
	"context"
	"net/http"

	"github.com/openbackbeat/backbeat/adapters/apiwire"
)

// The backfill routes' JSON (package apiwire).
type (
	// BackfillRequest starts a backfill job (POST /_/backfill).
	BackfillRequest = apiwire.BackfillRequest
	// SiteCount is what a job queued for one site.
	SiteCount = apiwire.SiteCount
	// VersionRef names one object version.
	VersionRef = apiwire.VersionRef
	// BackfillJob is a backfill job and its progress.
	BackfillJob = apiwire.BackfillJob
)

// Job states (of backfill and verify jobs).
const (
	JobRunning   = apiwire.JobRunning
	JobDone      = apiwire.JobDone
	JobCancelled = apiwire.JobCancelled
	JobFailed    = apiwire.JobFailed
)

// StartBackfill starts a job and returns its id.
func (c *Client) StartBackfill(ctx context.Context, req BackfillRequest) (string, error) {
	var out apiwire.JobStarted
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
