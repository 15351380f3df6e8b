package s3site

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// Bounds of the search for an existing replica below a key's latest
// version: one listing page, and a few HeadObject calls on the versions
// whose size and ETag could match.
const (
	maxCheckVersions = 1000
	maxCheckHeads    = 16
)

// Destination writes replicas to one destination site. The bucket comes
// from each Replica.
type Destination struct {
	c *Client
}

var _ ports.Destination = (*Destination)(nil)

// Destination returns the client as a replication destination.
func (c *Client) Destination() *Destination { return &Destination{c: c} }

// Put writes r as a new version of r.Key in r.Bucket and returns its
// version id. The version carries r's user metadata, content type and
// tags, plus x-amz-meta-scal-replication-status: REPLICA and
// x-amz-meta-scal-version-id: <source version>. Data streams from body:
// one PutObject below Config.MultipartThreshold, else a multipart upload
// holding at most MaxPartsInFlight parts in memory.
//
// Idempotency (unless Config.SkipExistingCheck): before writing, Put
// looks for a version of the key that already replicates
// r.SourceVersionID and returns it without writing: HeadObject of the
// latest version first (the usual replay), then, when the latest version
// is another one, a listing of the versions newer than the newest delete
// marker. A delete marker is skipped when the latest version already is
// one. The package comment explains these limits and what they cost.
func (d *Destination) Put(ctx context.Context, r ports.Replica, body io.Reader) (string, error) {
	if err := checkReplica(r, body); err != nil {
		return "", err
	}
	if !d.c.cfg.SkipExistingCheck {
		vid, found, err := d.existing(ctx, r)
		if err != nil {
			return "", fmt.Errorf("look for an existing replica of %s/%s version %s: %w", r.Bucket, r.Key, r.SourceVersionID, err)
		}
		if found {
			return vid, nil
		}
	}
	if r.IsDeleteMarker {
		return d.putDeleteMarker(ctx, r)
	}
	if r.Lock.IsSet() {
		if err := d.c.requireObjectLock(ctx, r); err != nil {
			return "", err
		}
	}
	meta := make(map[string]string, len(r.UserMeta)+2)
	for k, v := range r.UserMeta {
		// A source that carries markers of its own (it was once a replica
		// itself) gets ours instead; keys differing only in case would
		// become two headers of one name.
		if !strings.EqualFold(k, domain.ReplicaMetaKey) && !strings.EqualFold(k, domain.SourceVersionMetaKey) {
			meta[k] = v
		}
	}
	meta[domain.ReplicaMetaKey] = string(domain.StatusReplica)
	meta[domain.SourceVersionMetaKey] = r.SourceVersionID
	o := object{
		bucket: r.Bucket, key: r.Key, size: r.Size, contentType: r.ContentType,
		contentMD5: strings.ToLower(r.ContentMD5), meta: meta, tags: r.Tags,
		headers: r.Headers, lock: r.Lock, progress: r.Progress,
	}
	return d.c.upload(ctx, o, body)
}

// checkReplica refuses a replica that cannot be written, as permanent.
func checkReplica(r ports.Replica, body io.Reader) error {
	var problems []string
	if r.Bucket == "" {
		problems = append(problems, "no destination bucket")
	}
	if r.Key == "" {
		problems = append(problems, "no key")
	}
	if r.SourceVersionID == "" {
		problems = append(problems, "no source version id")
	}
	if !r.IsDeleteMarker && body == nil && r.Size > 0 {
		problems = append(problems, "no data for a non-empty object")
	}
	if r.Size < 0 {
		problems = append(problems, "negative size")
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: cannot write replica of %s/%s: %s", domain.ErrPermanent, r.Bucket, r.Key, strings.Join(problems, ", "))
	}
	return nil
}

// existing finds a version of r.Key that already holds r; see the
// package comment for why it looks no further down than the newest delete
// marker.
func (d *Destination) existing(ctx context.Context, r ports.Replica) (string, bool, error) {
	head, err := d.c.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(r.Bucket), Key: aws.String(r.Key)})
	switch {
	case isNotFound(err):
		if !r.IsDeleteMarker {
			// No such key, or its latest version is a delete marker: a
			// replica below a marker does not count, so write.
			return "", false, nil
		}
		// The latest version may be a delete marker: find which.
		versions, err := d.c.listVersions(ctx, r.Bucket, r.Key, 1)
		if err != nil || len(versions) == 0 || !versions[0].deleteMarker {
			return "", false, err
		}
		return versions[0].id, true, nil
	case err != nil:
		return "", false, translate(err)
	case r.IsDeleteMarker:
		return "", false, nil // the latest version holds data
	case sourceVersion(head.Metadata) == r.SourceVersionID:
		if !sameContent(aws.ToInt64(head.ContentLength), aws.ToString(head.ETag), r) {
			// It claims the source version but holds other bytes (written
			// behind our back, found by verify): write the right ones on
			// top, so that reads get them.
			return "", false, nil
		}
		return aws.ToString(head.VersionId), true, nil // the usual replay
	}

	// A replay of an older version: look among the versions newer than
	// the newest delete marker.
	latest := aws.ToString(head.VersionId)
	versions, err := d.c.listVersions(ctx, r.Bucket, r.Key, maxCheckVersions)
	if err != nil {
		return "", false, err
	}
	heads := 0
	for _, v := range versions {
		if v.deleteMarker {
			break
		}
		if v.id == latest || v.size != r.Size {
			continue
		}
		if want, got := strings.ToLower(r.ContentMD5), etagMD5(v.etag); isMD5Hex(want) && got != "" && got != want {
			continue
		}
		if heads == maxCheckHeads {
			break
		}
		heads++
		h, err := d.c.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(r.Bucket), Key: aws.String(r.Key), VersionId: aws.String(v.id)})
		if isNotFound(err) {
			continue // deleted since the listing
		}
		if err != nil {
			return "", false, translate(err)
		}
		if sourceVersion(h.Metadata) == r.SourceVersionID {
			return v.id, true, nil
		}
	}
	return "", false, nil
}

// sameContent reports whether a version of size and etag can hold r's
// data: the same size, and the same MD5 when both are plain MD5s.
func sameContent(size int64, etag string, r ports.Replica) bool {
	if size != r.Size {
		return false
	}
	want, got := strings.ToLower(r.ContentMD5), etagMD5(etag)
	return !isMD5Hex(want) || got == "" || got == want
}

// sourceVersion returns the source version id a replica's metadata names.
func sourceVersion(meta map[string]string) string {
	for k, v := range meta {
		if strings.EqualFold(k, domain.SourceVersionMetaKey) {
			return v
		}
	}
	return ""
}

// putDeleteMarker deletes r.Key without a version id: on a versioned
// bucket that adds a delete marker, whose version id is returned.
func (d *Destination) putDeleteMarker(ctx context.Context, r ports.Replica) (string, error) {
	out, err := d.c.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(r.Bucket), Key: aws.String(r.Key)})
	if err != nil {
		return "", fmt.Errorf("add delete marker to %s/%s: %w", r.Bucket, r.Key, translate(err))
	}
	if vid := aws.ToString(out.VersionId); vid != "" {
		return vid, nil
	}
	// No version id: versitygw adds no marker to a key that does not
	// exist; another server may just not say which marker it added.
	versions, err := d.c.listVersions(ctx, r.Bucket, r.Key, maxCheckVersions)
	if err != nil {
		return "", fmt.Errorf("find the delete marker added to %s/%s: %w", r.Bucket, r.Key, err)
	}
	switch {
	case len(versions) == 0:
		return "", nil // the key reads as deleted already: nothing to hide
	case versions[0].deleteMarker:
		return versions[0].id, nil
	}
	return "", fmt.Errorf("%w: bucket %s added no delete marker for %s: is versioning enabled?", domain.ErrPermanent, r.Bucket, r.Key)
}

// keyVersion is one version or delete marker of a key, from a listing.
type keyVersion struct {
	id           string
	deleteMarker bool
	latest       bool
	size         int64
	etag         string
	modified     time.Time
}

// listVersions returns the versions and delete markers of exactly key,
// newest first: all of them, or at least the newest limit ones when
// limit > 0. Listings are in key order and a key sorts before every longer
// key it prefixes, so paging stops at the first greater key.
func (c *Client) listVersions(ctx context.Context, bucket, key string, limit int) ([]keyVersion, error) {
	var out []keyVersion
	in := &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String(key)}
	for {
		page, err := c.s3.ListObjectVersions(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list versions of %s/%s: %w", bucket, key, translate(err))
		}
		past := false
		for _, v := range page.Versions {
			k := aws.ToString(v.Key)
			if k == key {
				out = append(out, keyVersion{
					id: aws.ToString(v.VersionId), latest: aws.ToBool(v.IsLatest), size: aws.ToInt64(v.Size),
					etag: aws.ToString(v.ETag), modified: aws.ToTime(v.LastModified),
				})
			}
			past = past || k > key
		}
		for _, m := range page.DeleteMarkers {
			k := aws.ToString(m.Key)
			if k == key {
				out = append(out, keyVersion{
					id: aws.ToString(m.VersionId), deleteMarker: true, latest: aws.ToBool(m.IsLatest),
					modified: aws.ToTime(m.LastModified),
				})
			}
			past = past || k > key
		}
		if past || !aws.ToBool(page.IsTruncated) || (limit > 0 && len(out) >= limit) {
			break
		}
		in.KeyMarker, in.VersionIdMarker = page.NextKeyMarker, page.NextVersionIdMarker
	}
	sortNewestFirst(out)
	return out, nil
}

// sortNewestFirst orders the versions and delete markers of one key newest
// first. The SDK returns them as two lists, losing how they interleave, so
// they are merged by time: the latest first, then by modification time
// (to the second when either time has no fraction: versitygw lists
// versions to the second but delete markers to the nanosecond), then, for
// equal times, by version id when both are ULIDs (versitygw's ids, which
// grow with time), else in listing order.
func sortNewestFirst(vs []keyVersion) {
	sort.SliceStable(vs, func(i, j int) bool {
		a, b := vs[i], vs[j]
		if a.latest != b.latest {
			return a.latest
		}
		ta, tb := a.modified, b.modified
		if ta.Nanosecond() == 0 || tb.Nanosecond() == 0 {
			ta, tb = ta.Truncate(time.Second), tb.Truncate(time.Second)
		}
		if !ta.Equal(tb) {
			return ta.After(tb)
		}
		if domain.IsULID(a.id) && domain.IsULID(b.id) {
			return a.id > b.id
		}
		return false
	})
}
