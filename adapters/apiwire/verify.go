package apiwire

import "time"

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

// VerifyJob is a verify job, its progress and its counts of findings
// (GET /_/verify/<id>).
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
func (j VerifyJob) Finished() bool { return finished(j.State) }

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

// FindingsPage is one page of a job's findings
// (GET /_/verify/<id>/findings).
type FindingsPage struct {
	Findings    []Finding `json:"findings"`
	IsTruncated bool      `json:"isTruncated"`
	NextMarker  string    `json:"nextMarker,omitempty"`
}
