package ports

import (
	"context"
	"time"
)

// CopyRef names one copy: a version of an object to one site.
type CopyRef struct {
	Site, Bucket, Key, VersionID string
}

// CopyProgress is how far the latest attempt at a copy has got.
type CopyProgress struct {
	// Total is the bytes the copy writes; Done those the site holds so
	// far, never more than Total.
	Total, Done int64
	// Started is when the attempt began; it names the attempt.
	Started time.Time
	// Updated is when Done last grew (Started before the first byte).
	Updated time.Time
}

// ProgressStore shares the progress of copies in flight, from the
// replicators that make them to the API that reports them, which may run
// in other processes. Records are kept for a bounded time (24 h by
// default) after their last change, then forgotten. Times are passed in
// by the caller and kept at millisecond precision. Every method is safe
// for concurrent use.
type ProgressStore interface {
	// Begin records a new attempt at ref, started at: total bytes, none
	// done. It replaces the record of any earlier attempt.
	Begin(ctx context.Context, ref CopyRef, total int64, started time.Time) error
	// Advance adds n bytes done at time at to the attempt of ref that
	// began at started. It changes nothing when that attempt is not the
	// one recorded (an earlier attempt's late report, or a record gone):
	// a late report never counts for a later attempt. Concurrent calls
	// add up exactly; Done is capped at Total; Updated never goes back.
	Advance(ctx context.Context, ref CopyRef, started time.Time, n int64, at time.Time) error
	// Progress returns the record of ref; its error wraps ErrNotFound when
	// there is none.
	Progress(ctx context.Context, ref CopyRef) (CopyProgress, error)
}
