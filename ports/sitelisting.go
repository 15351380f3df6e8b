package ports

import (
	"context"

	"github.com/openbackbeat/backbeat/domain"
)

// ListPosition is where a site listing resumes: after Key's version
// VersionID, or after every version of Key when VersionID is empty (S3's
// key-marker and version-id-marker). The zero position is the start.
type ListPosition struct {
	Key       string
	VersionID string
}

// VersionPage is one page of a site listing.
type VersionPage struct {
	Versions []domain.SiteVersion
	// Next is where the next page starts; More says there is one.
	Next ListPosition
	More bool
}

// SiteListing reads what a site holds, for verify: the versions of a
// bucket in key order, and the two things a listing does not say of a
// version. Listings hold no server-side state between calls: a walk can
// resume from any position, in any process.
//
// Costs, which verify's throughput is made of: a page of up to 1,000
// versions is one request (S3 ListObjectVersions); ReplicaMarkers is one
// HEAD per version; Tags is one GetObjectTagging per version, since S3
// listings carry no tags and HEAD gives no tag count.
type SiteListing interface {
	// ListVersions returns up to limit versions and delete markers of
	// bucket whose keys start with prefix, after position after, in key
	// order (bytewise). Within a key, data versions come newest first;
	// its delete markers may come anywhere among them. Each key has
	// exactly one version or marker with IsLatest. Size and ETag (quoted
	// or not) are the listing's; delete markers have neither. A page may
	// hold fewer than limit versions while More is true. A bucket that
	// does not exist is an error wrapping ErrNotFound.
	ListVersions(ctx context.Context, bucket, prefix string, after ListPosition, limit int) (VersionPage, error)
	// ReplicaMarkers reads the replica markers of one data version (its
	// x-amz-meta-scal-replication-status and x-amz-meta-scal-version-id;
	// zero when it has none). A version that does not exist, or is a
	// delete marker, is an error wrapping ErrNotFound.
	ReplicaMarkers(ctx context.Context, bucket, key, versionID string) (domain.ReplicaMarkers, error)
	// Tags returns the tags of one data version, none as an empty map or
	// nil. A version that does not exist, or is a delete marker, is an
	// error wrapping ErrNotFound.
	Tags(ctx context.Context, bucket, key, versionID string) (map[string]string, error)
}
