package s3site

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// Listing reads what a site holds, for verify (ports.SiteListing): one
// ListObjectVersions request per page, one HeadObject per ReplicaMarkers,
// one GetObjectTagging per Tags.
type Listing struct {
	c *Client
}

var _ ports.SiteListing = (*Listing)(nil)

// Listing returns the client as a site listing.
func (c *Client) Listing() *Listing { return &Listing{c: c} }

// maxListKeys is S3's largest ListObjectVersions page.
const maxListKeys = 1000

// ListVersions returns one ListObjectVersions page (limit is capped at
// 1,000, S3's largest). The SDK returns a page's versions and delete
// markers as two lists, each in key order and each key's newest first;
// they are merged by key, a key's delete markers after its data versions.
//
// versitygw (1.8) differs from S3 in two ways, both worked around here:
// given a key-marker alone it lists that key's versions again (S3 starts
// after them), and given a version-id-marker that names its key's latest
// version it lists that version once more. Those are dropped; a page left
// empty by it is followed by the next one, or, when versitygw would not
// move, asked again one version longer, so that a walk always moves.
func (l *Listing) ListVersions(ctx context.Context, bucket, prefix string, after ports.ListPosition, limit int) (ports.VersionPage, error) {
	if limit < 1 {
		return ports.VersionPage{}, fmt.Errorf("%w: list %s: limit %d, want at least 1", domain.ErrPermanent, bucket, limit)
	}
	limit = min(limit, maxListKeys)
	skip := func(v domain.SiteVersion) bool {
		return v.Key == after.Key && after.VersionID == ""
	}
	pos, maxKeys := after, limit
	for range maxEmptyPages {
		page, err := l.list(ctx, bucket, prefix, pos, maxKeys, skip)
		if err != nil || len(page.Versions) > 0 || !page.More {
			return page, err
		}
		if page.Next == pos {
			maxKeys++ // only the repeat came back
			continue
		}
		pos, maxKeys = page.Next, limit
	}
	return ports.VersionPage{}, fmt.Errorf("list versions of %s after %q/%q: %d empty pages in a row", bucket, after.Key, after.VersionID, maxEmptyPages)
}

// maxEmptyPages bounds the pages ListVersions skips to find a version.
const maxEmptyPages = 1000

// list makes one ListObjectVersions request of up to maxKeys, less any
// repeat of after and the versions skip says to drop.
func (l *Listing) list(ctx context.Context, bucket, prefix string, after ports.ListPosition, maxKeys int, skip func(domain.SiteVersion) bool) (ports.VersionPage, error) {
	in := &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), MaxKeys: aws.Int32(int32(maxKeys))}
	if prefix != "" {
		in.Prefix = aws.String(prefix)
	}
	if after.Key != "" {
		in.KeyMarker = aws.String(after.Key)
		if after.VersionID != "" {
			in.VersionIdMarker = aws.String(after.VersionID)
		}
	}
	out, err := l.c.s3.ListObjectVersions(ctx, in)
	if err != nil {
		return ports.VersionPage{}, fmt.Errorf("list versions of %s after %q/%q: %w", bucket, after.Key, after.VersionID, notFound(err))
	}
	page := ports.VersionPage{Versions: make([]domain.SiteVersion, 0, len(out.Versions)+len(out.DeleteMarkers))}
	add := func(v domain.SiteVersion) {
		if after.VersionID != "" && v.Key == after.Key && v.VersionID == after.VersionID || skip(v) {
			return // versitygw's repeats
		}
		page.Versions = append(page.Versions, v)
	}
	vs, ms := out.Versions, out.DeleteMarkers
	for len(vs) > 0 || len(ms) > 0 {
		// The smaller key first; on a tie, the data versions.
		if len(ms) == 0 || len(vs) > 0 && aws.ToString(vs[0].Key) <= aws.ToString(ms[0].Key) {
			v := vs[0]
			vs = vs[1:]
			add(domain.SiteVersion{
				Key: aws.ToString(v.Key), VersionID: aws.ToString(v.VersionId), Size: aws.ToInt64(v.Size),
				ETag: aws.ToString(v.ETag), IsLatest: aws.ToBool(v.IsLatest), LastModified: aws.ToTime(v.LastModified),
			})
			continue
		}
		m := ms[0]
		ms = ms[1:]
		add(domain.SiteVersion{
			Key: aws.ToString(m.Key), VersionID: aws.ToString(m.VersionId), IsLatest: aws.ToBool(m.IsLatest),
			IsDeleteMarker: true, LastModified: aws.ToTime(m.LastModified),
		})
	}
	if aws.ToBool(out.IsTruncated) {
		page.More = true
		page.Next = ports.ListPosition{Key: aws.ToString(out.NextKeyMarker), VersionID: aws.ToString(out.NextVersionIdMarker)}
		if page.Next.Key == "" && len(page.Versions) > 0 { // a server that leaves the markers out
			last := page.Versions[len(page.Versions)-1]
			page.Next = ports.ListPosition{Key: last.Key, VersionID: last.VersionID}
		}
	}
	return page, nil
}

// ReplicaMarkers reads one version's markers with a HeadObject.
func (l *Listing) ReplicaMarkers(ctx context.Context, bucket, key, versionID string) (domain.ReplicaMarkers, error) {
	h, err := l.c.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), VersionId: aws.String(versionID)})
	if err != nil {
		return domain.ReplicaMarkers{}, fmt.Errorf("head %s/%s version %s: %w", bucket, key, versionID, notFound(err))
	}
	m := domain.ReplicaMarkers{SourceVersionID: sourceVersion(h.Metadata)}
	for k, v := range h.Metadata {
		if strings.EqualFold(k, domain.ReplicaMetaKey) {
			m.Replica = v == string(domain.StatusReplica)
		}
	}
	return m, nil
}

// Tags reads one version's tags with a GetObjectTagging.
func (l *Listing) Tags(ctx context.Context, bucket, key, versionID string) (map[string]string, error) {
	out, err := l.c.s3.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String(bucket), Key: aws.String(key), VersionId: aws.String(versionID)})
	if err != nil {
		return nil, fmt.Errorf("get tags of %s/%s version %s: %w", bucket, key, versionID, notFound(err))
	}
	tags := make(map[string]string, len(out.TagSet))
	for _, t := range out.TagSet {
		tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return tags, nil
}

// notFound translates err, adding ports.ErrNotFound when it says the
// bucket, key or version does not exist, or that the version is a delete
// marker (which HEAD and tagging answer with 405).
func notFound(err error) error {
	code, _ := errorCode(err)
	if isNotFound(err) || isMethodNotAllowed(err) || code == "NoSuchBucket" {
		return fmt.Errorf("%w: %w", ports.ErrNotFound, translate(err))
	}
	return translate(err)
}
