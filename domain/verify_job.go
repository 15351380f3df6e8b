package domain

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// VerifyCounts are what a verify job counted, all targets together unless
// said otherwise.
type VerifyCounts struct {
	// Compared counts source versions judged at a target.
	Compared int64
	// SiteVersions counts versions and delete markers listed at the sites.
	SiteVersions int64
	// Heads counts the HEAD requests needed to tell which source version a
	// site version replicates, when the listing could not.
	Heads int64
	// TagReads counts the tag sets read from replicas.
	TagReads int64
	// Requeued counts versions set PENDING for a site by the repair.
	Requeued int64
	// Findings counts findings per site and kind.
	Findings map[string]map[FindingKind]int64
}

// AddFinding counts one finding.
func (c *VerifyCounts) AddFinding(f Finding) {
	if c.Findings == nil {
		c.Findings = map[string]map[FindingKind]int64{}
	}
	if c.Findings[f.Site] == nil {
		c.Findings[f.Site] = map[FindingKind]int64{}
	}
	c.Findings[f.Site][f.Kind]++
}

// Add adds o's counts to c.
func (c *VerifyCounts) Add(o VerifyCounts) {
	c.Compared += o.Compared
	c.SiteVersions += o.SiteVersions
	c.Heads += o.Heads
	c.TagReads += o.TagReads
	c.Requeued += o.Requeued
	for site, kinds := range o.Findings {
		for k, n := range kinds {
			if c.Findings == nil {
				c.Findings = map[string]map[FindingKind]int64{}
			}
			if c.Findings[site] == nil {
				c.Findings[site] = map[FindingKind]int64{}
			}
			c.Findings[site][k] += n
		}
	}
}

// Clone returns a deep copy of c.
func (c VerifyCounts) Clone() VerifyCounts {
	out := c
	out.Findings = nil
	out.Add(VerifyCounts{Findings: c.Findings})
	return out
}

// ByKind sums the findings per kind over every site.
func (c VerifyCounts) ByKind() map[FindingKind]int64 {
	out := map[FindingKind]int64{}
	for _, kinds := range c.Findings {
		for k, n := range kinds {
			out[k] += n
		}
	}
	return out
}

// Drift counts the findings of kinds not in ignore: a verify that finds
// none of them says the sites are in sync.
func (c VerifyCounts) Drift(ignore ...FindingKind) int64 {
	var n int64
	for k, v := range c.ByKind() {
		if !slices.Contains(ignore, k) {
			n += v
		}
	}
	return n
}

// Repair is a source version a verify with repair sets PENDING for a site
// again, so that the ordinary pipeline copies it.
type Repair struct {
	VersionRef
	Site string
	// Kind is the finding that asks for it.
	Kind FindingKind
	// Metadata says that only the replica's tags are wrong: the entry
	// changes them in place instead of copying the data.
	Metadata bool
}

// RequeueForVerify applies r to v, the version r names, inside the
// metadata store's compare-and-swap, judging v as it is now: if v is still
// sent by an enabled rule of bucket b to r.Site (and the rule's bucket is
// target's) and the site is not PENDING or PROCESSING already, the site is
// queued as a backfill queues it (QueueBackfill: PENDING, content DATA and
// METADATA, or METADATA alone for delete markers and empty objects). For a
// Metadata repair the content is METADATA with PUT_TAGGING, or
// DELETE_TAGGING when v has no tags, so that the replica's tags change in
// place. It reports whether v changed.
func (v *ObjectVersion) RequeueForVerify(b Bucket, target VerifyTarget, r Repair) bool {
	rule, ok := b.VerifiedAt(*v, target)
	if !ok || target.Site != r.Site {
		return false
	}
	if be, ok := v.Site(r.Site); ok && (be.Status == StatusPending || be.Status == StatusProcessing) {
		return false
	}
	role := ""
	if b.Replication != nil {
		role = b.Replication.Role
	}
	v.QueueBackfill(BackfillDecision{Queue: []string{r.Site}, Rule: rule, Role: role})
	if r.Metadata && !v.IsDeleteMarker {
		op := ContentPutTagging
		if len(v.Tags) == 0 {
			op = ContentDeleteTagging
		}
		v.Replication.Content = []string{ContentMetadata, op}
	}
	return true
}

// VerifyState is what a verify job keeps besides the job's own fields.
type VerifyState struct {
	// Repair re-queues what can be repaired.
	Repair bool
	// Targets are the sites and buckets compared, fixed when the job
	// starts so that a resumed job compares the same.
	Targets []VerifyTarget
	VerifyCounts
	// Requeue lists the repairs of the last batch committed that are not
	// known to be done: a runner resuming the job does them first (each is
	// idempotent).
	Requeue []Repair
	// LastKey is the last key compared at every target: the walk resumes
	// after it.
	LastKey string
}

// Clone returns a deep copy of s.
func (s VerifyState) Clone() VerifyState {
	out := s
	out.Targets = slices.Clone(s.Targets)
	out.VerifyCounts = s.VerifyCounts.Clone()
	out.Requeue = slices.Clone(s.Requeue)
	return out
}

// JobVerify compares a bucket's versions with what the sites hold.
const JobVerify JobKind = "verify"

// VerifyRequest is what an operator asks of a verify job.
type VerifyRequest struct {
	Bucket string
	Prefix string
	// Sites restricts the job to these sites; empty means every site the
	// bucket's rules name.
	Sites []string
	// Repair re-queues what can be repaired.
	Repair bool
}

// NewVerifyJob validates req and returns the verify job it starts,
// running, comparing targets (from Bucket.VerifyTargets).
func NewVerifyJob(id string, req VerifyRequest, targets []VerifyTarget, now time.Time) (Job, error) {
	var problems []string
	if id == "" {
		problems = append(problems, "empty job id")
	}
	if req.Bucket == "" {
		problems = append(problems, "bucket is required")
	}
	if len(targets) == 0 {
		problems = append(problems, "nothing to compare")
	}
	problems = append(problems, siteProblems(req.Sites)...)
	if len(problems) > 0 {
		return Job{}, fmt.Errorf("%w: %s", ErrInvalidJob, strings.Join(problems, "; "))
	}
	now = now.UTC()
	return Job{
		ID: id, Kind: JobVerify, Bucket: req.Bucket, Prefix: req.Prefix, Sites: slices.Clone(req.Sites),
		State: JobRunning, StartedAt: now, UpdatedAt: now,
		JobCounts: JobCounts{Skipped: map[SkipReason]int64{}, PerSite: map[string]SiteCount{}},
		Verify:    &VerifyState{Repair: req.Repair, Targets: slices.Clone(targets), VerifyCounts: VerifyCounts{Findings: map[string]map[FindingKind]int64{}}},
	}, nil
}

// CommitVerifyBatch records a verify batch compared: its counts (scanned
// source versions among them), the last key it covered, from which the
// walk resumes, and the repairs it asks for, done next.
func (j *Job) CommitVerifyBatch(lastKey string, scanned int64, c VerifyCounts, requeue []Repair, now time.Time) error {
	if err := j.verifying(); err != nil {
		return err
	}
	j.Scanned += scanned
	j.Verify.Add(c)
	j.Verify.LastKey = lastKey
	j.Verify.Requeue = slices.Clone(requeue)
	j.UpdatedAt = now.UTC()
	return nil
}

// RequeueDone records that the repairs of the last batch are done, n of
// them leaving a version PENDING for its site.
func (j *Job) RequeueDone(n int64, now time.Time) error {
	if j.Verify == nil {
		return fmt.Errorf("%w: job %s is not a verify job", ErrInvalidJob, j.ID)
	}
	j.Verify.Requeued += n
	j.Queued += n
	j.Verify.Requeue = nil
	j.UpdatedAt = now.UTC()
	return nil
}

func (j *Job) verifying() error {
	if j.Verify == nil {
		return fmt.Errorf("%w: job %s is not a verify job", ErrInvalidJob, j.ID)
	}
	if j.State != JobRunning {
		return fmt.Errorf("%w: job %s is %s", ErrJobNotRunning, j.ID, j.State)
	}
	return nil
}
