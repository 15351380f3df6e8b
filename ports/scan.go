package ports

import (
	"context"

	"github.com/openbackbeat/backbeat/domain"
)

// ScannedVersion is one version document met by a walk. A document that
// cannot be decoded is returned too, with Err set (wrapping
// domain.ErrPermanent) and only Bucket, Key and VersionID filled in, so
// that one bad document neither stops a walk nor is passed over unseen.
type ScannedVersion struct {
	domain.ObjectVersion
	Err error
}

// VersionScanner walks the version documents of a bucket in the order of
// their ids (key, then version id: domain.VersionRef's order), reading
// metadata only. Masters are never returned. Walks hold no server-side
// state between calls: a walk resumes from any version ref, in any process.
type VersionScanner interface {
	// ScanVersions returns up to limit versions of bucket whose key starts
	// with prefix and that sort after after (the zero ref: from the
	// start), in order. Fewer than limit versions means the walk reached
	// the end. A bucket that does not exist is an error wrapping
	// ErrNotFound; one without versions returns none.
	ScanVersions(ctx context.Context, bucket, prefix string, after domain.VersionRef, limit int) ([]ScannedVersion, error)
	// CountVersions counts the versions ScanVersions would return from the
	// start: the total a walk's progress is measured against.
	CountVersions(ctx context.Context, bucket, prefix string) (int64, error)
}
