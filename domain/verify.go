package domain

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"
)

// FindingKind names one way a site differs from what the source says.
type FindingKind string

// Finding kinds, in the order a report lists them: status-lies first,
// since they are the dangerous ones (the source claims a copy that is not
// there, or not right).
const (
	// FindingStatusLies: the source says COMPLETED for the site, and the
	// same version is also reported missing or content.
	FindingStatusLies FindingKind = "status-lies"
	// FindingMissing: no version at the site replicates the source version.
	FindingMissing FindingKind = "missing"
	// FindingContent: the site's replica has another size or content hash.
	FindingContent FindingKind = "content"
	// FindingTags: the replica's tags differ from the source version's.
	FindingTags FindingKind = "tags"
	// FindingMarker: the key's latest version is a delete marker on one
	// side and not on the other.
	FindingMarker FindingKind = "marker"
	// FindingPending: the source's status for the site is PENDING or
	// PROCESSING: the copy is on its way.
	FindingPending FindingKind = "pending"
	// FindingFailed: the source's status for the site is FAILED.
	FindingFailed FindingKind = "failed"
	// FindingExtra: a data version at the site that replicates no source
	// version in scope: it carries no replica markers, or names a source
	// version that does not exist. Verify never deletes it.
	FindingExtra FindingKind = "extra"
)

// FindingKinds lists every kind in report order.
var FindingKinds = []FindingKind{
	FindingStatusLies, FindingMissing, FindingContent, FindingTags,
	FindingMarker, FindingPending, FindingFailed, FindingExtra,
}

// ParseFindingKind returns the kind named s, or an error naming the kinds.
func ParseFindingKind(s string) (FindingKind, error) {
	k := FindingKind(s)
	if slices.Contains(FindingKinds, k) {
		return k, nil
	}
	names := make([]string, len(FindingKinds))
	for i, k := range FindingKinds {
		names[i] = string(k)
	}
	return "", fmt.Errorf("%w: unknown finding kind %q (want one of %s)", ErrInvalidJob, s, strings.Join(names, ", "))
}

// Rank is the kind's place in a report, from 0; an unknown kind sorts last.
func (k FindingKind) Rank() int {
	if i := slices.Index(FindingKinds, k); i >= 0 {
		return i
	}
	return len(FindingKinds)
}

// Finding is one difference a verify found between the source and a site.
type Finding struct {
	Kind FindingKind
	Site string
	Key  string
	// VersionID is the source version concerned; empty for extra.
	VersionID string
	// SiteVersionID is the site version concerned, when there is one.
	SiteVersionID string
	// Detail says what differs, for a person.
	Detail string
}

// SortKey orders findings as a report lists them (kind, key, site,
// versions) and identifies each: a walk that is redone after a crash finds
// the same findings with the same sort keys, so storing them again
// changes nothing.
func (f Finding) SortKey() string {
	return fmt.Sprintf("%02d\x00%s\x00%s\x00%s\x00%s", f.Kind.Rank(), f.Key, f.Site, f.VersionID, f.SiteVersionID)
}

// VerifyTarget is one place a verify compares the source with: a site and
// the destination bucket there that rules name.
type VerifyTarget struct {
	Site   string
	Bucket string
}

// VerifyTargets lists the places a verify of bucket b under prefix
// compares, for sites (every site of the rules when empty): each site with
// each destination bucket of the enabled rules that send keys under
// prefix to it, sorted. A site no such rule sends to is an error wrapping
// ErrInvalidJob, as is a bucket without versioning or rules.
func (b Bucket) VerifyTargets(prefix string, sites []string) ([]VerifyTarget, error) {
	if !b.VersioningEnabled || b.Replication == nil {
		return nil, fmt.Errorf("%w: bucket %s has no replication configuration in force (versioning %v)", ErrInvalidJob, b.Name, b.VersioningEnabled)
	}
	seen := map[VerifyTarget]bool{}
	covered := map[string]bool{}
	for _, r := range b.Replication.Rules {
		// A rule covers keys under prefix when one prefix starts the other.
		if !r.Enabled || !(strings.HasPrefix(r.Prefix, prefix) || strings.HasPrefix(prefix, r.Prefix)) {
			continue
		}
		for _, s := range r.Sites() {
			if len(sites) > 0 && !slices.Contains(sites, s) {
				continue
			}
			seen[VerifyTarget{Site: s, Bucket: r.DestinationBucketName()}] = true
			covered[s] = true
		}
	}
	var missing []string
	for _, s := range sites {
		if !covered[s] {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: no enabled rule of bucket %s sends keys under %q to %s", ErrInvalidJob, b.Name, prefix, strings.Join(missing, ", "))
	}
	if len(seen) == 0 {
		return nil, fmt.Errorf("%w: no enabled rule of bucket %s sends keys under %q anywhere", ErrInvalidJob, b.Name, prefix)
	}
	out := slices.Collect(maps.Keys(seen))
	sort.Slice(out, func(i, j int) bool {
		if out[i].Site != out[j].Site {
			return out[i].Site < out[j].Site
		}
		return out[i].Bucket < out[j].Bucket
	})
	return out, nil
}

// VerifiedAt reports whether a verify of target compares v: v is not a
// replica, and the enabled rule that matches its key sends it to the
// target's site and bucket.
func (b Bucket) VerifiedAt(v ObjectVersion, t VerifyTarget) (ReplicationRule, bool) {
	if v.IsReplica() {
		return ReplicationRule{}, false
	}
	rule, ok := b.RuleFor(v.Key)
	if !ok || rule.DestinationBucketName() != t.Bucket || !slices.Contains(rule.Sites(), t.Site) {
		return ReplicationRule{}, false
	}
	return rule, true
}

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

// AfterKey is the ref that sorts after every version of key and before
// any greater key: a walk that resumes from it skips the whole key.
func AfterKey(key string) VersionRef {
	return VersionRef{Key: key, VersionID: maxVersionID}
}

// maxVersionID sorts after every version id: ids are printable ASCII.
const maxVersionID = "\U0010FFFF"

// ReplicaMarkers are what a site version's user metadata says of its
// origin: read with a HEAD, since listings do not carry metadata.
type ReplicaMarkers struct {
	// Replica is true when x-amz-meta-scal-replication-status is REPLICA.
	Replica bool
	// SourceVersionID is x-amz-meta-scal-version-id.
	SourceVersionID string
}

// SiteVersion is one version or delete marker of a site's listing: all a
// listing says of it.
type SiteVersion struct {
	Key            string
	VersionID      string
	Size           int64
	ETag           string
	IsLatest       bool
	IsDeleteMarker bool
	LastModified   time.Time
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
	seen := map[string]bool{}
	for _, s := range req.Sites {
		switch {
		case s == "":
			problems = append(problems, "a site name is empty")
		case seen[s]:
			problems = append(problems, fmt.Sprintf("site %q is given twice", s))
		}
		seen[s] = true
	}
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
