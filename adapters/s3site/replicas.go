package s3site

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// ReplicaReader reads back what a destination holds, for tests and
// checkers. It reads whole objects into memory: it is not for big data.
type ReplicaReader struct {
	c *Client
}

var _ ports.ReplicaReader = (*ReplicaReader)(nil)

// ReplicaReader returns a reader of the client's buckets.
func (c *Client) ReplicaReader() *ReplicaReader { return &ReplicaReader{c: c} }

// Replicas returns every version and delete marker of key, oldest first,
// with data, user metadata (the replication markers included), content
// type, object headers (Expires as the server renders it), object lock
// settings and tags; SourceVersionID comes from the scal-version-id marker.
// Versions that are not replicas come too, with an empty SourceVersionID.
func (rr *ReplicaReader) Replicas(ctx context.Context, bucket, key string) ([]ports.StoredReplica, error) {
	versions, err := rr.c.listVersions(ctx, bucket, key, 0)
	if err != nil {
		return nil, err
	}
	slices.Reverse(versions)
	out := make([]ports.StoredReplica, 0, len(versions))
	for _, v := range versions {
		if v.deleteMarker {
			out = append(out, ports.StoredReplica{
				Replica:   ports.Replica{Bucket: bucket, Key: key, IsDeleteMarker: true},
				VersionID: v.id,
			})
			continue
		}
		sr, err := rr.read(ctx, bucket, key, v.id)
		if err != nil {
			return nil, err
		}
		out = append(out, sr)
	}
	return out, nil
}

// read fetches one version with its metadata and tags.
func (rr *ReplicaReader) read(ctx context.Context, bucket, key, versionID string) (ports.StoredReplica, error) {
	obj, err := rr.c.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), VersionId: aws.String(versionID)})
	if err != nil {
		return ports.StoredReplica{}, fmt.Errorf("get object %s/%s version %s: %w", bucket, key, versionID, translate(err))
	}
	data, err := io.ReadAll(obj.Body)
	obj.Body.Close()
	if err != nil {
		return ports.StoredReplica{}, fmt.Errorf("read object %s/%s version %s: %w", bucket, key, versionID, err)
	}
	r := ports.Replica{
		Bucket: bucket, Key: key, Size: int64(len(data)),
		ContentType: aws.ToString(obj.ContentType), ContentMD5: etagMD5(aws.ToString(obj.ETag)),
		Headers: domain.Headers{
			CacheControl: aws.ToString(obj.CacheControl), ContentDisposition: aws.ToString(obj.ContentDisposition),
			ContentEncoding: aws.ToString(obj.ContentEncoding), ContentLanguage: aws.ToString(obj.ContentLanguage),
			Expires: aws.ToString(obj.ExpiresString), WebsiteRedirectLocation: aws.ToString(obj.WebsiteRedirectLocation),
		},
	}
	// versitygw's GetObject leaves the object lock headers out; its
	// HeadObject has them.
	head, err := rr.c.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), VersionId: aws.String(versionID)})
	if err != nil {
		return ports.StoredReplica{}, fmt.Errorf("head object %s/%s version %s: %w", bucket, key, versionID, translate(err))
	}
	r.Lock = domain.Lock{
		Mode: string(head.ObjectLockMode), RetainUntil: aws.ToTime(head.ObjectLockRetainUntilDate),
		LegalHold: head.ObjectLockLegalHoldStatus == types.ObjectLockLegalHoldStatusOn,
	}
	if len(obj.Metadata) > 0 {
		r.UserMeta = obj.Metadata
		r.SourceVersionID = sourceVersion(obj.Metadata)
	}
	if aws.ToInt32(obj.TagCount) > 0 || obj.TagCount == nil {
		tags, err := rr.c.s3.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String(bucket), Key: aws.String(key), VersionId: aws.String(versionID)})
		if err != nil {
			return ports.StoredReplica{}, fmt.Errorf("get tags of %s/%s version %s: %w", bucket, key, versionID, translate(err))
		}
		for _, t := range tags.TagSet {
			if r.Tags == nil {
				r.Tags = map[string]string{}
			}
			r.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
	}
	return ports.StoredReplica{Replica: r, VersionID: versionID, Data: data}, nil
}

// CountVersions counts the versions and delete markers held in bucket, all
// keys together; tests watch it to see whether a site is being written.
func (rr *ReplicaReader) CountVersions(ctx context.Context, bucket string) (int, error) {
	n := 0
	p := s3.NewListObjectVersionsPaginator(rr.c.s3, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return 0, fmt.Errorf("list versions of %s: %w", bucket, translate(err))
		}
		n += len(page.Versions) + len(page.DeleteMarkers)
	}
	return n, nil
}
