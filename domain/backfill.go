package domain

import (
	"slices"
	"strings"
	"time"
)

// SkipReason says why a backfill leaves a version alone.
type SkipReason string

// Skip reasons, as the backfill job counts them.
const (
	// SkipCompleted: the version already reached the site.
	SkipCompleted SkipReason = "completed"
	// SkipPending: the version is queued for the site, or being copied.
	SkipPending SkipReason = "pending"
	// SkipNoRule: no rule of the bucket replicates the key to the job's
	// sites (or the bucket has no configuration, or no versioning).
	SkipNoRule SkipReason = "no-rule"
	// SkipDisabledRule: the only rules matching the key are disabled.
	SkipDisabledRule SkipReason = "disabled-rule"
	// SkipReplica: the version was written by replication.
	SkipReplica SkipReason = "replica"
	// SkipFailed: the site FAILED and the job does not include failures.
	SkipFailed SkipReason = "failed"
	// SkipUnreadable: the version's document cannot be decoded.
	SkipUnreadable SkipReason = "unreadable"
	// SkipDeleted: the version was deleted between the walk and its turn.
	SkipDeleted SkipReason = "deleted"
	// SkipOlder: the version was last modified before the job's
	// ModifiedSince.
	SkipOlder SkipReason = "older"
)

// BackfillScope is what a backfill job asks for beyond the bucket's rules.
type BackfillScope struct {
	// Sites restricts the job to these sites; empty means every site of
	// the rule that matches each key.
	Sites []string
	// IncludeFailed queues FAILED sites again.
	IncludeFailed bool
	// IncludePending queues PENDING and PROCESSING sites again: after the
	// journal lost history, a version written in the gap is PENDING and
	// nothing would ever publish it.
	IncludePending bool
	// ModifiedSince, when set, leaves alone the versions last modified
	// before it.
	ModifiedSince time.Time
}

// BackfillDecision is the verdict of a backfill on one version.
type BackfillDecision struct {
	// Queue lists the sites to queue the version for, in the rule's order.
	Queue []string
	// Reason says why the version is skipped when Queue is empty: a reason
	// of the version as a whole (replica, no-rule, disabled-rule), or that
	// of the first site of the rule the job covers.
	Reason SkipReason
	// Rule is the rule that replicates the key, when one does.
	Rule ReplicationRule
	// Role is the configuration's role, recorded with the queued sites.
	Role string
	// Requeue says some site of Queue is PENDING or PROCESSING already:
	// writing the same status again changes nothing a journal would see,
	// so the caller must give the version a new microVersionId
	// (CloudServer's marker of a metadata change) for its write to reach
	// the journal.
	Requeue bool
}

// Queued reports whether the version is to be queued for some site.
func (d BackfillDecision) Queued() bool { return len(d.Queue) > 0 }

// DecideBackfill judges whether a backfill queues v, a version of bucket
// b, and for which sites. A site is queued when an enabled rule of the
// bucket matches the key, the site is one of that rule's (and of
// scope.Sites when given), the site has no status yet (never replicated),
// or FAILED with scope.IncludeFailed, or PENDING or PROCESSING with
// scope.IncludePending, v is not a replica and, with scope.ModifiedSince,
// v was last modified at or after it.
func (b Bucket) DecideBackfill(v ObjectVersion, scope BackfillScope) BackfillDecision {
	if v.IsReplica() {
		return BackfillDecision{Reason: SkipReplica}
	}
	if !scope.ModifiedSince.IsZero() && v.LastModified.Before(scope.ModifiedSince) {
		return BackfillDecision{Reason: SkipOlder}
	}
	rule, ok := b.RuleFor(v.Key)
	if !ok {
		if b.VersioningEnabled && b.Replication != nil && b.Replication.matchesDisabled(v.Key) {
			return BackfillDecision{Reason: SkipDisabledRule}
		}
		return BackfillDecision{Reason: SkipNoRule}
	}
	d := BackfillDecision{Rule: rule, Role: b.Replication.Role}
	first := SkipReason("")
	for _, site := range rule.Sites() {
		if len(scope.Sites) > 0 && !slices.Contains(scope.Sites, site) {
			continue
		}
		reason, queue := siteVerdict(v, site, scope)
		if queue {
			d.Queue = append(d.Queue, site)
			if be, ok := v.Site(site); ok && (be.Status == StatusPending || be.Status == StatusProcessing) {
				d.Requeue = true
			}
		} else if first == "" {
			first = reason
		}
	}
	if len(d.Queue) == 0 {
		d.Reason = first
		if first == "" { // none of the job's sites is the rule's
			d.Reason = SkipNoRule
		}
	}
	return d
}

// siteVerdict judges one site of v: queue it, or why not.
func siteVerdict(v ObjectVersion, site string, scope BackfillScope) (SkipReason, bool) {
	be, ok := v.Site(site)
	if !ok {
		return "", true
	}
	switch be.Status {
	case StatusNone:
		return "", true
	case StatusFailed:
		if scope.IncludeFailed {
			return "", true
		}
		return SkipFailed, false
	case StatusPending, StatusProcessing:
		if scope.IncludePending {
			return "", true
		}
		return SkipPending, false
	case StatusReplica:
		return SkipReplica, false
	}
	return SkipCompleted, false
}

// matchesDisabled reports whether a disabled rule's prefix starts key.
func (c ReplicationConfig) matchesDisabled(key string) bool {
	for _, r := range c.Rules {
		if !r.Enabled && strings.HasPrefix(key, r.Prefix) {
			return true
		}
	}
	return false
}

// QueueBackfill records in v's replicationInfo that it is to be replicated
// to sites, as CloudServer records it when a version is written under
// rule: the aggregate PENDING, each of sites PENDING (a site that already
// has a backend keeps its destination version id; the other sites' backends
// are kept as they are), content DATA and METADATA, or METADATA alone for
// an empty object or a delete marker, and the destination, storage class
// and role of the rule. The storage type, which the rule does not carry,
// is kept.
func (v *ObjectVersion) QueueBackfill(d BackfillDecision) {
	for _, site := range d.Queue {
		if be, ok := v.Site(site); ok {
			be.Status, be.Reason = StatusPending, ""
			continue
		}
		v.Replication.Backends = append(v.Replication.Backends, Backend{Site: site, Status: StatusPending})
	}
	v.Replication.Status = StatusPending
	v.Replication.Content = []string{ContentMetadata}
	if v.Size > 0 && !v.IsDeleteMarker {
		v.Replication.Content = []string{ContentData, ContentMetadata}
	}
	v.Replication.Destination = d.Rule.DestinationBucket
	v.Replication.StorageClass = d.Rule.StorageClass
	v.Replication.Role = d.Role
}

// BackfillBytes is the data a queued version sends to each site: its size,
// or nothing for a delete marker.
func (v ObjectVersion) BackfillBytes() int64 {
	if v.IsDeleteMarker {
		return 0
	}
	return v.Size
}
