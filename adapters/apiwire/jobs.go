package apiwire

import "time"

// Job states, as a job's state member says them.
const (
	JobRunning   = "running"
	JobDone      = "done"
	JobCancelled = "cancelled"
	JobFailed    = "failed"
)

// JobStarted answers POST /_/backfill and POST /_/verify (openapi.yaml's
// BackfillStarted).
type JobStarted struct {
	ID string `json:"id"`
}

// BackfillRequest starts a backfill job (POST /_/backfill).
type BackfillRequest struct {
	Bucket         string    `json:"bucket"`
	Prefix         string    `json:"prefix,omitempty"`
	Sites          []string  `json:"sites,omitempty"`
	IncludeFailed  bool      `json:"includeFailed,omitempty"`
	IncludePending bool      `json:"includePending,omitempty"`
	ModifiedSince  time.Time `json:"modifiedSince,omitzero"`
	DryRun         bool      `json:"dryRun,omitempty"`
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

// BackfillJob is a backfill job and its progress (GET /_/backfill/<id>).
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

// Finished reports whether the job ended.
func (j BackfillJob) Finished() bool { return finished(j.State) }

// SkippedTotal is the number of versions skipped, all reasons together.
func (j BackfillJob) SkippedTotal() int64 {
	var n int64
	for _, v := range j.Skipped {
		n += v
	}
	return n
}

func finished(state string) bool { return state != JobRunning && state != "" }
