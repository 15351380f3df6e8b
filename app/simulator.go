package app

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"time"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// SourceObjects stores object data on the source site the way the source
// S3 service does; the simulator writes through it.
type SourceObjects interface {
	EnsureVersionedBucket(ctx context.Context, bucket string) error
	PutObject(ctx context.Context, bucket, key string, body io.Reader, size int64, contentType string, meta, tags map[string]string) (versionID string, err error)
}

// Simulator plays CloudServer's part for local use and tests: it writes
// object data to the source S3 and the object's metadata, with its
// replicationInfo PENDING, to the metadata store.
type Simulator struct {
	Metadata ports.MetadataWriter
	Objects  SourceObjects
	// Versions updates versions in place; only SetTags needs it.
	Versions ports.MetadataStore
}

// CreateBucket creates the versioned source bucket and records its
// attributes and replication configuration.
func (s *Simulator) CreateBucket(ctx context.Context, b domain.Bucket) error {
	if err := s.Objects.EnsureVersionedBucket(ctx, b.Name); err != nil {
		return fmt.Errorf("create source bucket %s: %w", b.Name, err)
	}
	if err := s.Metadata.PutBucket(ctx, b); err != nil {
		return fmt.Errorf("record bucket %s: %w", b.Name, err)
	}
	return nil
}

// PutObject writes one new version of key, as CloudServer does: data first,
// then metadata carrying the replication the bucket's rules ask for.
func (s *Simulator) PutObject(ctx context.Context, b domain.Bucket, key string, data []byte, contentType string, meta, tags map[string]string) (domain.ObjectVersion, error) {
	return s.PutObjectWith(ctx, b, key, data, ObjectAttrs{ContentType: contentType, UserMeta: meta, Tags: tags})
}

// ObjectAttrs are what a client sends with a PUT besides the data.
type ObjectAttrs struct {
	ContentType    string
	UserMeta, Tags map[string]string
	Headers        domain.Headers
	Lock           domain.Lock
}

// PutObjectWith is PutObject with every attribute CloudServer records:
// object headers and object-lock settings go to the metadata only (the
// source's data store needs none of them to serve the bytes).
func (s *Simulator) PutObjectWith(ctx context.Context, b domain.Bucket, key string, data []byte, a ObjectAttrs) (domain.ObjectVersion, error) {
	vid, err := s.Objects.PutObject(ctx, b.Name, key, bytes.NewReader(data), int64(len(data)), a.ContentType, a.UserMeta, a.Tags)
	if err != nil {
		return domain.ObjectVersion{}, fmt.Errorf("put %s/%s data: %w", b.Name, key, err)
	}
	sum := md5.Sum(data)
	return s.Record(ctx, b, domain.ObjectVersion{
		Bucket: b.Name, Key: key, VersionID: vid,
		Size: int64(len(data)), ContentMD5: hex.EncodeToString(sum[:]), ContentType: a.ContentType,
		UserMeta: a.UserMeta, Tags: a.Tags, Headers: a.Headers, Lock: a.Lock,
	})
}

// Record writes the metadata of a version whose data (or delete marker)
// the source S3 already holds, with replicationInfo PENDING when one of
// the bucket's rules matches its key: the one metadata writer that the
// simulator and the S3 front share. It fills MicroVersionID and
// LastModified when they are unset.
func (s *Simulator) Record(ctx context.Context, b domain.Bucket, v domain.ObjectVersion) (domain.ObjectVersion, error) {
	v.Bucket = b.Name
	if v.MicroVersionID == "" {
		v.MicroVersionID = randomID()
	}
	if v.LastModified.IsZero() {
		v.LastModified = time.Now().UTC()
	}
	if rule, ok := b.RuleFor(v.Key); ok {
		role := ""
		if b.Replication != nil {
			role = b.Replication.Role
		}
		v.Replication = domain.NewReplicationInfo(rule, role, v.Size > 0 && !v.IsDeleteMarker)
	}
	if err := s.Metadata.PutVersion(ctx, v); err != nil {
		return domain.ObjectVersion{}, fmt.Errorf("put %s/%s metadata: %w", b.Name, v.Key, err)
	}
	return v, nil
}

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// DeleteVersion removes one version, as CloudServer's DELETE with a
// version id does; the removal is not replicated (as upstream), and the
// master follows the newest version left.
func (s *Simulator) DeleteVersion(ctx context.Context, bucket, key, versionID string) error {
	return s.Metadata.DeleteVersion(ctx, bucket, key, versionID)
}

// SetTags changes the tags of one version in place, as CloudServer's
// PutObjectTagging (tags non-empty) or DeleteObjectTagging (tags empty)
// does: same version id, new tags, every replication site back to PENDING
// with content METADATA + PUT_TAGGING or DELETE_TAGGING. The master
// follows when it holds the version. A delete marker has no tags to set.
func (s *Simulator) SetTags(ctx context.Context, bucket, key, versionID string, tags map[string]string) (domain.ObjectVersion, error) {
	if s.Versions == nil {
		return domain.ObjectVersion{}, errors.New("simulator: no metadata store to update versions with")
	}
	op := domain.ContentPutTagging
	if len(tags) == 0 {
		op, tags = domain.ContentDeleteTagging, nil
	}
	v, err := s.Versions.UpdateVersion(ctx, bucket, key, versionID, func(v *domain.ObjectVersion) error {
		if v.IsDeleteMarker {
			return fmt.Errorf("%w: %s/%s version %s is a delete marker: it has no tags", domain.ErrPermanent, bucket, key, versionID)
		}
		v.Tags = maps.Clone(tags)
		v.RequeueMetadata(op)
		return nil
	})
	if err != nil {
		return domain.ObjectVersion{}, fmt.Errorf("set tags of %s/%s version %s: %w", bucket, key, versionID, err)
	}
	return v, nil
}
