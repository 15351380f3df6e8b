package apiclient

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// VerifyRequest starts a verify job (POST /_/verify).
type VerifyRequest struct {
	Bucket string   `json:"bucket"`
	Prefix string   `json:"prefix,omitempty"`
	Sites  []string `json:"sites,omitempty"`
	// Repair re-queues what can be repaired.
	Repair bool `json:"repair,omitempty"`
}

// VerifyTarget is a site and destination bucket a job compares.
type VerifyTarget struct {
	Site   string `json:"site"`
	Bucket string `json:"bucket"`
}

// VerifyJob is a verify job, its progress and its counts of findings.
type VerifyJob struct {
	ID           string                      `json:"id"`
	Kind         string                      `json:"kind"`
	Bucket       string                      `json:"bucket"`
	Prefix       string                      `json:"prefix"`
	Sites        []string                    `json:"sites"`
	Repair       bool                        `json:"repair"`
	State        string                      `json:"state"`
	Scanned      int64                       `json:"scanned"`
	Total        int64                       `json:"total"`
	Progress     float64                     `json:"progress"`
	Compared     int64                       `json:"compared"`
	SiteVersions int64                       `json:"siteVersions"`
	Heads        int64                       `json:"heads"`
	TagReads     int64                       `json:"tagReads"`
	Requeued     int64                       `json:"requeued"`
	Drift        int64                       `json:"drift"`
	ByKind       map[string]int64            `json:"byKind"`
	Findings     map[string]map[string]int64 `json:"findings"`
	Targets      []VerifyTarget              `json:"targets"`
	LastKey      string                      `json:"lastKey"`
	StartedAt    time.Time                   `json:"startedAt"`
	UpdatedAt    time.Time                   `json:"updatedAt"`
	Error        string                      `json:"error"`
}

// Finished reports whether the job ended.
func (j VerifyJob) Finished() bool { return j.State != JobRunning && j.State != "" }

// DriftIgnoring counts the findings of every kind but those in ignore.
func (j VerifyJob) DriftIgnoring(ignore ...string) int64 {
	var n int64
	for k, v := range j.ByKind {
		skip := false
		for _, i := range ignore {
			skip = skip || i == k
		}
		if !skip {
			n += v
		}
	}
	return n
}

// Finding is one difference a verify found.
type Finding struct {
	Kind          string `json:"kind"`
	Site          string `json:"site"`
	Key           string `json:"key"`
	VersionID     string `json:"versionId"`
	SiteVersionID string `json:"siteVersionId"`
	Detail        string `json:"detail"`
}

// FindingsPage is one page of a job's findings.
type FindingsPage struct {
	Findings    []Finding `json:"findings"`
	IsTruncated bool      `json:"isTruncated"`
	NextMarker  string    `json:"nextMarker,omitempty"`
}

// StartVerify starts a job and returns its id.
func (c *Client) StartVerify(ctx context.Context, req VerifyRequest) (string, error) {
	var out struct {
		ID string `json:"id"`
	}
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
