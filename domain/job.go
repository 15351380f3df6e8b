package domain

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// JobKind names what a job does. Every kind walks a bucket's versions in
// batches under the same runner, store, lease and checkpoint.
type JobKind string

// Job kinds.
const (
	// JobBackfill queues the versions that never reached a site.
	JobBackfill JobKind = "backfill"
)

// JobState is where a job is in its life.
type JobState string

// Job states. A job is created running; it ends done, cancelled or failed,
// and never changes again.
const (
	JobRunning   JobState = "running"
	JobDone      JobState = "done"
	JobCancelled JobState = "cancelled"
	JobFailed    JobState = "failed"
)

// Final reports whether the state is an end state.
func (s JobState) Final() bool { return s == JobDone || s == JobCancelled || s == JobFailed }

// ErrJobNotRunning says a job already ended: it cannot be cancelled, nor
// make progress.
var ErrJobNotRunning = errors.New("job is not running")

// ErrInvalidJob says a job request cannot be run as given.
var ErrInvalidJob = errors.New("invalid job")

// VersionRef names one object version. Refs order as the version
// documents' ids do in either key format (key, then version id, bytewise),
// since NUL, which separates them in an id, sorts before any key byte.
type VersionRef struct {
	Key       string `json:"key"`
	VersionID string `json:"versionId"`
}

// IsZero reports whether r names no version: a walk from the start.
func (r VersionRef) IsZero() bool { return r.Key == "" && r.VersionID == "" }

// Less reports whether r sorts before o.
func (r VersionRef) Less(o VersionRef) bool {
	if r.Key != o.Key {
		return r.Key < o.Key
	}
	return r.VersionID < o.VersionID
}

// Ref returns the version's ref.
func (o ObjectVersion) Ref() VersionRef { return VersionRef{Key: o.Key, VersionID: o.VersionID} }

// SiteCount is what a job queued, or would queue, for one site.
type SiteCount struct {
	Versions int64 `json:"versions"`
	Bytes    int64 `json:"bytes"`
}

// JobCounts are a job's progress counters. Every version scanned is
// either queued (for at least one site) or skipped under one reason.
type JobCounts struct {
	Scanned int64 `json:"scanned"`
	Queued  int64 `json:"queued"`
	// BytesQueued is the size of the versions queued, each counted once.
	BytesQueued int64                `json:"bytesQueued"`
	Skipped     map[SkipReason]int64 `json:"skipped"`
	// PerSite counts versions and bytes queued per site.
	PerSite map[string]SiteCount `json:"perSite"`
}

// Queue counts one version queued for sites, of bytes data.
func (c *JobCounts) Queue(sites []string, bytes int64) {
	c.Scanned++
	c.Queued++
	c.BytesQueued += bytes
	if c.PerSite == nil {
		c.PerSite = map[string]SiteCount{}
	}
	for _, s := range sites {
		sc := c.PerSite[s]
		sc.Versions++
		sc.Bytes += bytes
		c.PerSite[s] = sc
	}
}

// Skip counts one version skipped for reason.
func (c *JobCounts) Skip(reason SkipReason) {
	c.Scanned++
	if c.Skipped == nil {
		c.Skipped = map[SkipReason]int64{}
	}
	c.Skipped[reason]++
}

// Add adds o's counts to c.
func (c *JobCounts) Add(o JobCounts) {
	c.Scanned += o.Scanned
	c.Queued += o.Queued
	c.BytesQueued += o.BytesQueued
	for r, n := range o.Skipped {
		if c.Skipped == nil {
			c.Skipped = map[SkipReason]int64{}
		}
		c.Skipped[r] += n
	}
	for s, n := range o.PerSite {
		if c.PerSite == nil {
			c.PerSite = map[string]SiteCount{}
		}
		sc := c.PerSite[s]
		sc.Versions += n.Versions
		sc.Bytes += n.Bytes
		c.PerSite[s] = sc
	}
}

// SkippedTotal is the number of versions skipped, all reasons together.
func (c JobCounts) SkippedTotal() int64 {
	var n int64
	for _, v := range c.Skipped {
		n += v
	}
	return n
}

// JobBatch is the batch a runner is working on: recorded before any of
// its writes, so that a runner resuming after a crash knows which
// versions this job itself queued (it finds them queued already, and
// counts them as queued rather than skipped as pending).
type JobBatch struct {
	// Last is the last version of the batch: the checkpoint once it is done.
	Last VersionRef `json:"last"`
	// Planned lists the versions the batch queues, with their sites.
	Planned []PlannedVersion `json:"planned,omitempty"`
}

// PlannedVersion is one version a batch queues, for Sites.
type PlannedVersion struct {
	VersionRef
	Sites []string `json:"sites"`
}

// PlannedSites returns the sites the batch planned to queue ref for.
func (b *JobBatch) PlannedSites(ref VersionRef) []string {
	if b == nil {
		return nil
	}
	for _, p := range b.Planned {
		if p.VersionRef == ref {
			return p.Sites
		}
	}
	return nil
}

// JobRequest is what an operator asks for when starting a job.
type JobRequest struct {
	Kind          JobKind
	Bucket        string
	Prefix        string
	Sites         []string
	IncludeFailed bool
	// IncludePending queues sites already PENDING (or PROCESSING) again:
	// for versions whose journal events were lost, which nothing else
	// would ever queue.
	IncludePending bool
	// ModifiedSince, when set, limits the job to the versions last
	// modified at or after it.
	ModifiedSince time.Time
	DryRun        bool
	// Rate bounds the versions queued per second; 0 is unbounded.
	Rate float64
}

// Job is a long-running walk over one bucket's versions. Its state and
// checkpoint live in the job store and are saved every batch, so that any
// runner can resume it after a crash.
type Job struct {
	ID             string
	Kind           JobKind
	Bucket         string
	Prefix         string
	Sites          []string
	IncludeFailed  bool
	IncludePending bool
	ModifiedSince  time.Time
	DryRun         bool
	Rate           float64
	State          JobState
	// Error says why a failed job failed.
	Error string
	// Total is the number of versions to scan, counted when the job
	// starts: versions written during the walk may make Scanned exceed it.
	Total int64
	JobCounts
	StartedAt, UpdatedAt time.Time
	// Checkpoint is the last version done: the walk resumes after it.
	Checkpoint VersionRef
	// Batch is the batch in progress, if any.
	Batch *JobBatch
	// Verify is what a verify job keeps besides (nil for other kinds).
	Verify *VerifyState
}

// NewJob validates req and returns the job it starts, running.
func NewJob(id string, req JobRequest, now time.Time) (Job, error) {
	var problems []string
	if id == "" {
		problems = append(problems, "empty job id")
	}
	if req.Kind != JobBackfill {
		problems = append(problems, fmt.Sprintf("unknown job kind %q", req.Kind))
	}
	if req.Bucket == "" {
		problems = append(problems, "bucket is required")
	}
	if req.Rate < 0 || math.IsNaN(req.Rate) || math.IsInf(req.Rate, 0) {
		problems = append(problems, fmt.Sprintf("rate must be a number of versions per second, 0 or more (got %v)", req.Rate))
	}
	problems = append(problems, siteProblems(req.Sites)...)
	if len(problems) > 0 {
		return Job{}, fmt.Errorf("%w: %s", ErrInvalidJob, strings.Join(problems, "; "))
	}
	now = now.UTC()
	return Job{
		ID: id, Kind: req.Kind, Bucket: req.Bucket, Prefix: req.Prefix, Sites: slices.Clone(req.Sites),
		IncludeFailed: req.IncludeFailed, IncludePending: req.IncludePending, ModifiedSince: req.ModifiedSince.UTC(),
		DryRun: req.DryRun, Rate: req.Rate, State: JobRunning, StartedAt: now, UpdatedAt: now,
		JobCounts: JobCounts{Skipped: map[SkipReason]int64{}, PerSite: map[string]SiteCount{}},
	}, nil
}

// Scope is the backfill scope of the job.
func (j Job) Scope() BackfillScope {
	return BackfillScope{Sites: j.Sites, IncludeFailed: j.IncludeFailed, IncludePending: j.IncludePending, ModifiedSince: j.ModifiedSince}
}

// Clone returns a deep copy of j.
func (j Job) Clone() Job {
	j.Sites = slices.Clone(j.Sites)
	j.Skipped = maps.Clone(j.Skipped)
	j.PerSite = maps.Clone(j.PerSite)
	if j.Batch != nil {
		b := *j.Batch
		b.Planned = slices.Clone(b.Planned)
		for i := range b.Planned {
			b.Planned[i].Sites = slices.Clone(b.Planned[i].Sites)
		}
		j.Batch = &b
	}
	if j.Verify != nil {
		v := j.Verify.Clone()
		j.Verify = &v
	}
	return j
}

// BeginBatch records the batch about to be worked on.
func (j *Job) BeginBatch(b JobBatch, now time.Time) error {
	if j.State != JobRunning {
		return fmt.Errorf("%w: job %s is %s", ErrJobNotRunning, j.ID, j.State)
	}
	j.Batch = &b
	j.UpdatedAt = now.UTC()
	return nil
}

// CommitBatch adds a finished batch's counts and moves the checkpoint to
// its last version.
func (j *Job) CommitBatch(last VersionRef, c JobCounts, now time.Time) error {
	if j.State != JobRunning {
		return fmt.Errorf("%w: job %s is %s", ErrJobNotRunning, j.ID, j.State)
	}
	j.Add(c)
	j.Checkpoint = last
	j.Batch = nil
	j.UpdatedAt = now.UTC()
	return nil
}

// Finish ends a running job: done when err is nil, else failed with err.
func (j *Job) Finish(err error, now time.Time) error {
	if j.State != JobRunning {
		return fmt.Errorf("%w: job %s is %s", ErrJobNotRunning, j.ID, j.State)
	}
	j.State = JobDone
	if err != nil {
		j.State, j.Error = JobFailed, err.Error()
	}
	j.Batch = nil
	j.UpdatedAt = now.UTC()
	return nil
}

// Cancel ends a running job as cancelled. The batch in progress, if any,
// stays recorded until its runner settles it.
func (j *Job) Cancel(now time.Time) error {
	if j.State != JobRunning {
		return fmt.Errorf("%w: job %s is %s", ErrJobNotRunning, j.ID, j.State)
	}
	j.State = JobCancelled
	j.UpdatedAt = now.UTC()
	return nil
}

// SettleCancelled adds to a cancelled job the counts of the part of its
// batch its runner did before it stopped. It does nothing to a job with
// no batch recorded (settled already, or cancelled between batches).
func (j *Job) SettleCancelled(partial JobCounts, now time.Time) error {
	if j.State != JobCancelled {
		return fmt.Errorf("%w: job %s is %s, not cancelled", ErrJobNotRunning, j.ID, j.State)
	}
	if j.Batch == nil {
		return nil
	}
	j.Add(partial)
	j.Batch = nil
	j.UpdatedAt = now.UTC()
	return nil
}

// Progress is the fraction of the versions scanned, from 0 to 1; a job
// done is at 1.
func (j Job) Progress() float64 {
	switch {
	case j.State == JobDone:
		return 1
	case j.Total <= 0:
		return 0
	}
	return min(float64(j.Scanned)/float64(j.Total), 1)
}

// siteProblems names what is wrong with a job's list of sites: an empty
// name, or a site given twice.
func siteProblems(sites []string) []string {
	var problems []string
	seen := map[string]bool{}
	for _, s := range sites {
		switch {
		case s == "":
			problems = append(problems, "a site name is empty")
		case seen[s]:
			problems = append(problems, fmt.Sprintf("site %q is given twice", s))
		}
		seen[s] = true
	}
	return problems
}
