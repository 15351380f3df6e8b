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
