package apiclient

import (
	"context"
	"net/http"
	"net/url"

	"github.com/openbackbeat/backbeat/adapters/apiwire"
)

// The verify routes' JSON (package apiwire).
type (
	// VerifyRequest starts a verify job (POST /_/verify).
	VerifyRequest = apiwire.VerifyRequest
	// VerifyTarget is a site and destination bucket a job compares.
	VerifyTarget = apiwire.VerifyTarget
	// VerifyJob is a verify job, its progress and its counts of findings.
	VerifyJob = apiwire.VerifyJob
	// Finding is one difference a verify found.
	Finding = apiwire.Finding
	// FindingsPage is one page of a job's findings.
	FindingsPage = apiwire.FindingsPage
)

// StartVerify starts a job and returns its id.
func (c *Client) StartVerify(ctx context.Context, req VerifyRequest) (string, error) {
	var out apiwire.JobStarted
	_, err := c.do(ctx, http.MethodPost, "/_/verify", nil, req, &out)
	return out.ID, err
}

// Verify returns one job.
func (c *Client) Verify(ctx context.Context, id string) (VerifyJob, error) {
	var j VerifyJob
	_, err := c.do(ctx, http.MethodGet, "/_/verify/"+segment(id), nil, nil, &j)
	return j, err
}

// VerifyJSON returns one job as the API's JSON, byte for byte.
func (c *Client) VerifyJSON(ctx context.Context, id string) ([]byte, error) {
	return c.do(ctx, http.MethodGet, "/_/verify/"+segment(id), nil, nil, nil)
}

// Verifies lists the jobs, newest first.
func (c *Client) Verifies(ctx context.Context) ([]VerifyJob, error) {
	var js []VerifyJob
	_, err := c.do(ctx, http.MethodGet, "/_/verify", nil, nil, &js)
	return js, err
}

// CancelVerify cancels a running job and returns it.
func (c *Client) CancelVerify(ctx context.Context, id string) (VerifyJob, error) {
	var j VerifyJob
	_, err := c.do(ctx, http.MethodDelete, "/_/verify/"+segment(id), nil, nil, &j)
	return j, err
}

// VerifyFindings returns one page of a job's findings, of kind unless it
// is empty, from marker (a previous page's NextMarker; empty: the first).
func (c *Client) VerifyFindings(ctx context.Context, id, kind, marker string) (FindingsPage, error) {
	q := url.Values{}
	if kind != "" {
		q.Set("kind", kind)
	}
	if marker != "" {
		q.Set("marker", marker)
	}
	var p FindingsPage
	_, err := c.do(ctx, http.MethodGet, "/_/verify/"+segment(id)+"/findings", q, nil, &p)
	return p, err
}
