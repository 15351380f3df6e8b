package s3site

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// SetTags makes the replica of r.SourceVersionID carry exactly r.Tags, in
// place: GetObjectTagging of that replica version, then PutObjectTagging
// when the tags differ, or DeleteObjectTagging when r.Tags is empty. No
// version is written and no data is read.
//
// The replica is found by its scal-version-id marker: first the version
// hint names (the destination version the source's metadata recorded),
// then, when the hint is empty or names another version, a search of the
// key's versions, through delete markers too (unlike Put's, since tagging
// a replica hidden below a marker cannot resurrect it), bounded as Put's
// is by one listing and 16 HeadObject calls on versions whose size and
// ETag could match. Not found is ports.ErrNoReplica.
func (d *Destination) SetTags(ctx context.Context, r ports.Replica, hint string) (string, bool, error) {
	if r.Bucket == "" || r.Key == "" || r.SourceVersionID == "" {
		return "", false, fmt.Errorf("%w: cannot set the tags of replica %s/%s of %q: bucket, key and source version are needed", domain.ErrPermanent, r.Bucket, r.Key, r.SourceVersionID)
	}
	vid, err := d.findReplica(ctx, r, hint)
	if err != nil {
		return "", false, fmt.Errorf("find the replica of %s/%s version %s: %w", r.Bucket, r.Key, r.SourceVersionID, err)
	}
	in := &s3.GetObjectTaggingInput{Bucket: aws.String(r.Bucket), Key: aws.String(r.Key), VersionId: aws.String(vid)}
	got, err := d.c.s3.GetObjectTagging(ctx, in)
	if err != nil {
		return "", false, fmt.Errorf("get tags of %s/%s version %s: %w", r.Bucket, r.Key, vid, translate(err))
	}
	held := make(map[string]string, len(got.TagSet))
	for _, t := range got.TagSet {
		held[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	if domain.TagsEqual(held, r.Tags) {
		return vid, false, nil
	}
	if len(r.Tags) == 0 {
		_, err = d.c.s3.DeleteObjectTagging(ctx, &s3.DeleteObjectTaggingInput{Bucket: aws.String(r.Bucket), Key: aws.String(r.Key), VersionId: aws.String(vid)})
		if err != nil {
			return "", false, fmt.Errorf("delete tags of %s/%s version %s: %w", r.Bucket, r.Key, vid, translate(err))
		}
		return vid, true, nil
	}
	_, err = d.c.s3.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{
		Bucket: aws.String(r.Bucket), Key: aws.String(r.Key), VersionId: aws.String(vid),
		Tagging: &types.Tagging{TagSet: tagSet(r.Tags)},
	})
	if err != nil {
		return "", false, fmt.Errorf("put tags of %s/%s version %s: %w", r.Bucket, r.Key, vid, translate(err))
	}
	return vid, true, nil
}

// tagSet lists tags in name order.
func tagSet(tags map[string]string) []types.Tag {
	out := make([]types.Tag, 0, len(tags))
	for k, v := range tags {
		out = append(out, types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	sort.Slice(out, func(i, j int) bool { return aws.ToString(out[i].Key) < aws.ToString(out[j].Key) })
	return out
}

// findReplica returns the version id of the data version of r.Key that
// replicates r.SourceVersionID: hint if it does, else the first match of a
// bounded search of the key's versions. Delete markers are passed over.
func (d *Destination) findReplica(ctx context.Context, r ports.Replica, hint string) (string, error) {
	if hint != "" {
		ok, err := d.replicates(ctx, r, hint)
		if err != nil || ok {
			return hint, err
		}
	}
	versions, err := d.c.listVersions(ctx, r.Bucket, r.Key, maxCheckVersions)
	if err != nil {
		return "", err
	}
	heads := 0
	for _, v := range versions {
		if v.deleteMarker || v.id == hint || v.size != r.Size {
			continue
		}
		if want, got := strings.ToLower(r.ContentMD5), etagMD5(v.etag); isMD5Hex(want) && got != "" && got != want {
			continue
		}
		if heads == maxCheckHeads {
			break
		}
		heads++
		ok, err := d.replicates(ctx, r, v.id)
		if err != nil {
			return "", err
		}
		if ok {
			return v.id, nil
		}
	}
	return "", ports.ErrNoReplica
}

// replicates reports whether version vid of r.Key is a replica of
// r.SourceVersionID; a version that does not exist (or is a delete
// marker, which HeadObject does not find) is not.
func (d *Destination) replicates(ctx context.Context, r ports.Replica, vid string) (bool, error) {
	h, err := d.c.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(r.Bucket), Key: aws.String(r.Key), VersionId: aws.String(vid)})
	switch {
	case isNotFound(err), isMethodNotAllowed(err):
		return false, nil
	case err != nil:
		return false, translate(err)
	}
	return sourceVersion(h.Metadata) == r.SourceVersionID, nil
}
