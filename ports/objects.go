package ports

import (
	"context"
	"errors"
	"io"

	"github.com/openbackbeat/backbeat/domain"
)

// ObjectSource reads object data from the source site.
type ObjectSource interface {
	// Open streams the data of one version. The caller closes the reader.
	// Errors wrap domain.ErrPermanent when retrying cannot help (the
	// version or bucket is gone, access is denied).
	Open(ctx context.Context, bucket, key, versionID string) (io.ReadCloser, error)
}

// Replica describes what a destination must hold for one source version.
type Replica struct {
	Bucket          string // destination bucket
	Key             string
	SourceVersionID string
	Size            int64
	ContentType     string
	ContentMD5      string
	UserMeta        map[string]string
	Tags            map[string]string
	IsDeleteMarker  bool
	// Headers (Cache-Control, Content-Disposition, ...) and Lock (object
	// lock retention and legal hold) are set on the replica as S3
	// replication sets them. A replica with Lock set needs a destination
	// bucket with object lock enabled; without it Put fails as permanent,
	// saying so.
	Headers domain.Headers
	Lock    domain.Lock
	// Progress, when not nil, is told the bytes of the data as the site
	// comes to hold them: after each part of a multipart upload. Calls may
	// come from several goroutines at once. When Put returns nil they have
	// added up to Size, or to 0 for a destination that writes in one
	// request and reports nothing (the caller then counts it all done);
	// they never add up to more than Size.
	Progress func(bytes int64)
}

// Destination is one destination site.
type Destination interface {
	// Put writes the replica with its data read from body (nil for a delete
	// marker), marked as a replica of SourceVersionID, and returns the
	// destination version id. It is idempotent: when the destination already
	// holds a replica of SourceVersionID it writes nothing and returns that
	// version's id. Memory use does not grow with the object's size.
	// Errors wrap domain.ErrPermanent when retrying cannot help.
	Put(ctx context.Context, r Replica, body io.Reader) (versionID string, err error)
	// SetTags makes the replica of r.SourceVersionID carry exactly r.Tags
	// (none when r.Tags is empty), in place: it writes no new version and
	// reads no data. hint is the destination version id last recorded
	// for the replica, or empty; it is checked, never trusted. SetTags
	// returns the replica's version id and whether its tags had to change
	// (false when they already matched). When the site holds no replica of
	// r.SourceVersionID, or only a delete marker, the error wraps
	// ErrNoReplica and nothing is written. Other errors wrap
	// domain.ErrPermanent when retrying cannot help.
	SetTags(ctx context.Context, r Replica, hint string) (versionID string, changed bool, err error)
}

// ErrNoReplica says a destination holds no replica of a source version.
var ErrNoReplica = errors.New("no replica of the source version at the site")

// ReplicaReader lists what a destination holds; tests and checkers use it.
type ReplicaReader interface {
	// Replicas returns the replicas of key in bucket, oldest first.
	Replicas(ctx context.Context, bucket, key string) ([]StoredReplica, error)
}

// StoredReplica is one version held by a destination.
type StoredReplica struct {
	Replica
	VersionID string
	Data      []byte
}
