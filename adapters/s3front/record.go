package s3front

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// internal is the 500 a client gets when the source stored its data but
// the metadata could not be written.
func internal(format string, args ...any) *s3Error {
	return errorf(http.StatusInternalServerError, "InternalError", fmt.Sprintf(format, args...))
}

// replicated returns the bucket's document when the front keeps metadata
// for it; a bucket created behind the front's back has none, and its
// objects pass through without metadata.
func (f *Front) replicated(ctx context.Context, bucket string) (domain.Bucket, bool, error) {
	b, err := f.meta.Bucket(ctx, bucket)
	if errors.Is(err, ports.ErrNotFound) {
		f.log.Warn("s3 front: bucket has no metadata document: its objects are not recorded", "bucket", bucket)
		return domain.Bucket{}, false, nil
	}
	return b, err == nil, err
}

// recordBucket records a bucket the source just created, unversioned, in
// __metastore; an existing document is kept.
func (f *Front) recordBucket(bucket string) after {
	return func(resp *http.Response) error {
		ctx := resp.Request.Context()
		f.bucket.Lock()
		defer f.bucket.Unlock()
		_, err := f.meta.Bucket(ctx, bucket)
		if err == nil {
			return nil
		}
		if !errors.Is(err, ports.ErrNotFound) {
			return internal("reading bucket %s: %v", bucket, err)
		}
		if err := f.withRetry(ctx, func(ctx context.Context) error {
			return f.sim.Metadata.PutBucket(ctx, domain.Bucket{Name: bucket, VFormat: "v0"})
		}); err != nil {
			return internal("recording bucket %s: %v", bucket, err)
		}
		return nil
	}
}

type versioningDoc struct {
	Status string `xml:"Status"`
}

// recordVersioning records the bucket's versioning status once the source
// accepted it.
func (f *Front) recordVersioning(bucket string, body []byte) (after, []byte) {
	var doc versioningDoc
	if err := xml.Unmarshal(body, &doc); err != nil {
		return nil, body // the source refuses it with its own error
	}
	return func(resp *http.Response) error {
		ctx := resp.Request.Context()
		f.bucket.Lock()
		defer f.bucket.Unlock()
		b, err := f.meta.Bucket(ctx, bucket)
		if errors.Is(err, ports.ErrNotFound) {
			b, err = domain.Bucket{Name: bucket, VFormat: "v0"}, nil
		}
		if err != nil {
			return internal("reading bucket %s: %v", bucket, err)
		}
		b.VersioningEnabled = doc.Status == "Enabled"
		if err := f.withRetry(ctx, func(ctx context.Context) error { return f.sim.Metadata.PutBucket(ctx, b) }); err != nil {
			return internal("recording the versioning of bucket %s: %v", bucket, err)
		}
		return nil
	}, body
}

// recordWrite records the version a PUT, copy or multipart completion
// created, read back from the source (size, ETag, headers, user metadata,
// object lock). tagging is the x-amz-tagging header of a PUT; a copy or
// completion reads the tags from the source.
func (f *Front) recordWrite(bucket, key, tagging string, readTags bool) after {
	return func(resp *http.Response) error {
		vid := resp.Header.Get("x-amz-version-id")
		if vid == "" || vid == "null" {
			return nil // an unversioned write: nothing to replicate
		}
		ctx := resp.Request.Context()
		b, ok, err := f.replicated(ctx, bucket)
		if err != nil {
			return internal("reading bucket %s: %v", bucket, err)
		}
		if !ok {
			return nil
		}
		var tags map[string]string
		if tagging != "" {
			q, err := url.ParseQuery(tagging)
			if err != nil {
				return errorf(http.StatusBadRequest, "InvalidArgument", "x-amz-tagging: "+err.Error())
			}
			tags = map[string]string{}
			for k, vs := range q {
				tags[k] = vs[0]
			}
		}
		err = f.withRetry(ctx, func(ctx context.Context) error {
			v, err := f.stored(ctx, bucket, key, vid, readTags)
			if err != nil {
				return err
			}
			if tags != nil {
				v.Tags = tags
			}
			_, err = f.sim.Record(ctx, b, v)
			return err
		})
		if err != nil {
			f.log.Error("s3 front: metadata not written: the data version is orphaned", "bucket", bucket, "key", key, "versionId", vid, "err", err)
			return internal("the data of %s/%s version %s was stored but its metadata could not be written: %v", bucket, key, vid, err)
		}
		return nil
	}
}

// stored reads one version's attributes from the source.
func (f *Front) stored(ctx context.Context, bucket, key, vid string, withTags bool) (domain.ObjectVersion, error) {
	h, err := f.src.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key, VersionId: &vid})
	if err != nil {
		return domain.ObjectVersion{}, fmt.Errorf("head %s/%s version %s: %w", bucket, key, vid, err)
	}
	v := domain.ObjectVersion{
		Key: key, VersionID: vid, Size: aws.ToInt64(h.ContentLength),
		ContentMD5: strings.Trim(aws.ToString(h.ETag), `"`), ContentType: aws.ToString(h.ContentType),
		LastModified: aws.ToTime(h.LastModified).UTC(), UserMeta: h.Metadata,
		Headers: domain.Headers{
			CacheControl: aws.ToString(h.CacheControl), ContentDisposition: aws.ToString(h.ContentDisposition),
			ContentEncoding: aws.ToString(h.ContentEncoding), ContentLanguage: aws.ToString(h.ContentLanguage),
			Expires: aws.ToString(h.ExpiresString), WebsiteRedirectLocation: aws.ToString(h.WebsiteRedirectLocation),
		},
		Lock: domain.Lock{Mode: string(h.ObjectLockMode), RetainUntil: aws.ToTime(h.ObjectLockRetainUntilDate), LegalHold: h.ObjectLockLegalHoldStatus == "ON"},
	}
	if len(v.UserMeta) == 0 {
		v.UserMeta = nil
	}
	if withTags {
		t, err := f.src.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: &bucket, Key: &key, VersionId: &vid})
		if err != nil {
			return domain.ObjectVersion{}, fmt.Errorf("tags of %s/%s version %s: %w", bucket, key, vid, err)
		}
		for _, tag := range t.TagSet {
			if v.Tags == nil {
				v.Tags = map[string]string{}
			}
			v.Tags[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
		}
	}
	return v, nil
}

// recordDeleteMarker records the delete marker a DELETE without a version
// id created.
func (f *Front) recordDeleteMarker(bucket, key string) after {
	return func(resp *http.Response) error {
		vid := resp.Header.Get("x-amz-version-id")
		if resp.Header.Get("x-amz-delete-marker") != "true" || vid == "" || vid == "null" {
			return nil
		}
		ctx := resp.Request.Context()
		b, ok, err := f.replicated(ctx, bucket)
		if err != nil {
			return internal("reading bucket %s: %v", bucket, err)
		}
		if !ok {
			return nil
		}
		return f.recordMarker(ctx, b, key, vid)
	}
}

// recordMarker writes the metadata of a delete marker the source created.
func (f *Front) recordMarker(ctx context.Context, b domain.Bucket, key, vid string) error {
	err := f.withRetry(ctx, func(ctx context.Context) error {
		_, err := f.sim.Record(ctx, b, domain.ObjectVersion{Key: key, VersionID: vid, IsDeleteMarker: true})
		return err
	})
	if err != nil {
		f.log.Error("s3 front: delete marker not recorded", "bucket", b.Name, "key", key, "versionId", vid, "err", err)
		return internal("the delete marker %s of %s/%s was created but its metadata could not be written: %v", vid, b.Name, key, err)
	}
	return nil
}

// recordVersionDeleted removes the metadata of the version a DELETE with a
// version id removed from the source.
func (f *Front) recordVersionDeleted(bucket, key, vid string) after {
	return func(resp *http.Response) error {
		ctx := resp.Request.Context()
		if _, ok, err := f.replicated(ctx, bucket); err != nil {
			return internal("reading bucket %s: %v", bucket, err)
		} else if !ok {
			return nil
		}
		return f.removeVersion(ctx, bucket, key, vid)
	}
}

// removeVersion deletes a version's metadata. A version the metadata never
// had (written behind the front's back, or the "null" version of an
// unversioned write) has nothing to remove.
func (f *Front) removeVersion(ctx context.Context, bucket, key, vid string) error {
	err := f.withRetry(ctx, func(ctx context.Context) error {
		err := f.sim.DeleteVersion(ctx, bucket, key, vid)
		if errors.Is(err, ports.ErrNotFound) {
			f.log.Debug("s3 front: deleted version had no metadata", "bucket", bucket, "key", key, "versionId", vid)
			return nil
		}
		return err
	})
	if err != nil {
		f.log.Error("s3 front: version deleted at the source but its metadata is left", "bucket", bucket, "key", key, "versionId", vid, "err", err)
		return internal("version %s of %s/%s was deleted but its metadata could not be removed: %v", vid, bucket, key, err)
	}
	return nil
}

type taggingDoc struct {
	TagSet []struct {
		Key   string `xml:"Key"`
		Value string `xml:"Value"`
	} `xml:"TagSet>Tag"`
}

// recordTags sets the version's tags in its metadata once the source
// accepted them, which requeues it for replication as METADATA.
func (f *Front) recordTags(bucket, key, vid string, body []byte) (after, []byte) {
	var doc taggingDoc
	if err := xml.Unmarshal(body, &doc); err != nil {
		return func(*http.Response) error {
			return errorf(http.StatusBadRequest, "MalformedXML", "the XML you provided was not well-formed: "+err.Error())
		}, body
	}
	tags := map[string]string{}
	for _, t := range doc.TagSet {
		tags[t.Key] = t.Value
	}
	return f.setTags(bucket, key, vid, tags), body
}

func (f *Front) recordTagsDeleted(bucket, key, vid string) after {
	return f.setTags(bucket, key, vid, nil)
}

func (f *Front) setTags(bucket, key, vid string, tags map[string]string) after {
	return func(resp *http.Response) error {
		ctx := resp.Request.Context()
		if vid == "" {
			vid = resp.Header.Get("x-amz-version-id")
		}
		if vid == "" {
			h, err := f.src.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
			if err != nil {
				return internal("finding the current version of %s/%s: %v", bucket, key, err)
			}
			vid = aws.ToString(h.VersionId)
		}
		err := f.withRetry(ctx, func(ctx context.Context) error {
			_, err := f.sim.SetTags(ctx, bucket, key, vid, tags)
			if errors.Is(err, ports.ErrNotFound) || errors.Is(err, domain.ErrPermanent) {
				return nil // no metadata for this version: nothing to replicate
			}
			return err
		})
		if err != nil {
			return internal("the tags of %s/%s version %s were set but its metadata could not be written: %v", bucket, key, vid, err)
		}
		return nil
	}
}

// addReplicationStatus sets x-amz-replication-status on a HEAD or GET
// answer: the aggregate status of the version served. A version the
// metadata does not know gets none.
func (f *Front) addReplicationStatus(bucket, key string) after {
	return func(resp *http.Response) error {
		vid := resp.Header.Get("x-amz-version-id")
		if vid == "" {
			return nil
		}
		v, err := f.meta.Version(resp.Request.Context(), bucket, key, vid)
		if err != nil {
			return nil
		}
		if s := v.Replication.Status; s != "" {
			resp.Header.Set("x-amz-replication-status", string(s))
		}
		return nil
	}
}
