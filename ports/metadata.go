package ports

import (
	"context"

	"github.com/openbackbeat/backbeat/domain"
)

// MetadataStore reads bucket attributes and reads and updates object
// versions in the source's metadata.
type MetadataStore interface {
	// Bucket returns a bucket's attributes, or an error wrapping ErrNotFound.
	Bucket(ctx context.Context, name string) (domain.Bucket, error)
	// Version returns one object version, or an error wrapping ErrNotFound.
	Version(ctx context.Context, bucket, key, versionID string) (domain.ObjectVersion, error)
	// UpdateVersion reads the version, calls update on a copy and, if update
	// returns nil, stores the copy only if the stored document has not
	// changed since it was read (compare-and-swap); on a lost race it reads
	// again and calls update again. An error from update aborts without a
	// write and is returned as is. The master document is updated too when
	// it holds the same version. Concurrent writers never lose an update.
	UpdateVersion(ctx context.Context, bucket, key, versionID string, update func(*domain.ObjectVersion) error) (domain.ObjectVersion, error)
}

// MetadataWriter writes buckets and object versions the way CloudServer
// does; the simulator and tests use it to play the source S3 service.
type MetadataWriter interface {
	// PutBucket creates or replaces a bucket's attributes.
	PutBucket(ctx context.Context, b domain.Bucket) error
	// PutVersion writes a version document, then the master document if
	// the master holds no newer version, as one ordered write.
	PutVersion(ctx context.Context, v domain.ObjectVersion) error
	// DeleteVersion removes one version document, as CloudServer's DELETE
	// with a version id does; the removal is not replicated. When the
	// master holds that version, the master then holds the newest version
	// left (in a v1 bucket none when that is a delete marker), or is
	// removed with the last one. An unknown version is an error wrapping
	// ErrNotFound.
	DeleteVersion(ctx context.Context, bucket, key, versionID string) error
}
