package ports

import (
	"context"
	"time"
)

// FailedEntry is a version that failed to replicate to a site.
type FailedEntry struct {
	Site      string
	Bucket    string
	Key       string
	VersionID string
	FailedAt  time.Time // millisecond precision: it is the listing's score
}

// FailurePage is one page of a failure listing.
type FailurePage struct {
	Entries []FailedEntry
	// NextMarker resumes the listing when Truncated: the failure time (Unix
	// ms) of the first entry not returned. It is inclusive, so entries of
	// that same millisecond may be listed again on the next page; callers
	// that need exactly-once collapse them by site/bucket/key/version.
	NextMarker int64
	Truncated  bool
}

// FailureStore keeps failed entries per site for a bounded time (24 h by
// default) for operators to inspect and retry.
type FailureStore interface {
	// Add records e; adding the same site/bucket/key/version again updates
	// its time.
	Add(ctx context.Context, e FailedEntry) error
	// List returns up to limit entries of site, newest first, failed at or
	// before marker (Unix ms; 0 means now).
	List(ctx context.Context, site string, marker int64, limit int) (FailurePage, error)
	// Find returns the entries of one version across all sites.
	Find(ctx context.Context, bucket, key, versionID string) ([]FailedEntry, error)
	// Remove deletes e, reporting whether it was there.
	Remove(ctx context.Context, e FailedEntry) (bool, error)
}

// Locker takes named locks that expire, shared by all processes.
type Locker interface {
	// TryLock takes name for ttl, reporting false if someone holds it.
	// release frees it early; it is safe to call after expiry.
	TryLock(ctx context.Context, name string, ttl time.Duration) (release func(), ok bool, err error)
}
