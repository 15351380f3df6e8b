package s3front_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/openbackbeat/backbeat/adapters/internal/stacktest"
	"github.com/openbackbeat/backbeat/adapters/mongometa"
	"github.com/openbackbeat/backbeat/adapters/s3front"
	"github.com/openbackbeat/backbeat/adapters/s3site"
	"github.com/openbackbeat/backbeat/app"
	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// realFront starts a front on a free port before the local stack's
// versitygw source and MongoDB.
func realFront(t *testing.T) (front string, meta *mongometa.Store) {
	t.Helper()
	srcURL := env("BACKBEAT_TEST_S3_SOURCE", "http://127.0.0.1:17000")
	mongoURI := env("BACKBEAT_TEST_MONGO_URI", "mongodb://127.0.0.1:27117")
	stacktest.Require(t, stacktest.S3Source, strings.TrimPrefix(srcURL, "http://"))
	stacktest.Require(t, stacktest.Mongo, stacktest.MongoAddrs(mongoURI)...)
	ctx := context.Background()
	meta, err := mongometa.New(ctx, mongometa.Config{URI: mongoURI, Database: "metadata"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = meta.Close(context.Background()) })
	src, err := s3site.New(ctx, s3site.Config{Endpoint: srcURL, Region: "us-east-1", AccessKey: "backbeat", SecretKey: "backbeat-secret-key"})
	if err != nil {
		t.Fatal(err)
	}
	sim := &app.Simulator{Metadata: meta, Objects: src, Versions: meta}
	f, err := s3front.New(s3front.DefaultConfig(), s3front.Source{Endpoint: srcURL, AccessKey: "backbeat", SecretKey: "backbeat-secret-key", Client: src.S3()},
		sim, []string{"site-a", "site-b"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- f.ServeListener(sctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return "http://" + ln.Addr().String(), meta
}

func client(endpoint, key, secret string) *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(endpoint), Region: "us-east-1", UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(key, secret, ""),
	})
}

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestFrontWithAWSSDK(t *testing.T) {
	endpoint, meta := realFront(t)
	ctx := context.Background()
	c := client(endpoint, "backbeat", "backbeat-secret-key")
	bucket := fmt.Sprintf("front-%d", time.Now().UnixNano())
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatal("create bucket:", err)
	}
	rc := &types.ReplicationConfiguration{Role: aws.String("arn:aws:iam::123456789012:role/crr"), Rules: []types.ReplicationRule{{
		ID: aws.String("all"), Status: types.ReplicationRuleStatusEnabled, Prefix: aws.String(""),
		Destination: &types.Destination{Bucket: aws.String("arn:aws:s3:::" + bucket), StorageClass: "site-a,site-b"},
	}}}
	_, err := c.PutBucketReplication(ctx, &s3.PutBucketReplicationInput{Bucket: &bucket, ReplicationConfiguration: rc})
	if code(err) != "InvalidRequest" || !strings.Contains(err.Error(), "ersioning") {
		t.Fatalf("replication before versioning: %v, want InvalidRequest about versioning", err)
	}
	if _, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: &bucket,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal("versioning:", err)
	}
	bad := *rc
	bad.Rules = []types.ReplicationRule{rc.Rules[0]}
	bad.Rules[0].Destination = &types.Destination{Bucket: aws.String("arn:aws:s3:::" + bucket), StorageClass: "nowhere"}
	_, err = c.PutBucketReplication(ctx, &s3.PutBucketReplicationInput{Bucket: &bucket, ReplicationConfiguration: &bad})
	if code(err) != "InvalidArgument" || !strings.Contains(err.Error(), "StorageClass") {
		t.Fatalf("unknown site: %v, want InvalidArgument naming StorageClass", err)
	}
	if _, err := c.PutBucketReplication(ctx, &s3.PutBucketReplicationInput{Bucket: &bucket, ReplicationConfiguration: rc}); err != nil {
		t.Fatal("put replication:", err)
	}
	got, err := c.GetBucketReplication(ctx, &s3.GetBucketReplicationInput{Bucket: &bucket})
	if err != nil || len(got.ReplicationConfiguration.Rules) != 1 || got.ReplicationConfiguration.Rules[0].Destination.StorageClass != "site-a,site-b" {
		t.Fatalf("get replication: %+v, %v", got, err)
	}
	b, err := meta.Bucket(ctx, bucket)
	if err != nil || !b.VersioningEnabled || b.Replication == nil {
		t.Fatalf("bucket document: %+v, %v", b, err)
	}

	// A versioned PUT: data at the source, metadata PENDING for both sites.
	put, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("a/one"), Body: strings.NewReader("hello"),
		ContentType: aws.String("text/plain"), Metadata: map[string]string{"color": "blue"}, Tagging: aws.String("k=v")})
	if err != nil {
		t.Fatal("put:", err)
	}
	v, err := meta.Version(ctx, bucket, "a/one", aws.ToString(put.VersionId))
	if err != nil {
		t.Fatal("version document:", err)
	}
	if v.Size != 5 || v.ContentType != "text/plain" || v.UserMeta["color"] != "blue" || v.Tags["k"] != "v" ||
		v.Replication.Status != domain.StatusPending || len(v.Replication.Backends) != 2 {
		t.Fatalf("version document: %+v", v)
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("a/one")})
	if err != nil || head.ReplicationStatus != types.ReplicationStatusPending {
		t.Fatalf("head: status %q, %v", head.ReplicationStatus, err)
	}
	gobj, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("a/one"), VersionId: put.VersionId})
	if err != nil || gobj.ReplicationStatus != types.ReplicationStatusPending {
		t.Fatalf("get: %v", err)
	}
	_ = gobj.Body.Close()

	// Tags: the version goes back to PENDING with METADATA content.
	if _, err := meta.UpdateVersion(ctx, bucket, "a/one", aws.ToString(put.VersionId), func(v *domain.ObjectVersion) error {
		for _, s := range []string{"site-a", "site-b"} {
			if _, err := v.SetSiteStatus(s, domain.StatusCompleted, "x", ""); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	head, _ = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("a/one")})
	if head.ReplicationStatus != "COMPLETED" { // CloudServer's word; AWS says COMPLETE
		t.Fatalf("head after completion: %q", head.ReplicationStatus)
	}
	if _, err := c.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: &bucket, Key: aws.String("a/one"),
		Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("t"), Value: aws.String("2")}}}}); err != nil {
		t.Fatal("tagging:", err)
	}
	v, _ = meta.Version(ctx, bucket, "a/one", aws.ToString(put.VersionId))
	if v.Tags["t"] != "2" || len(v.Tags) != 1 || v.Replication.Status != domain.StatusPending || !v.MetadataOnly() {
		t.Fatalf("after tagging: %+v", v)
	}
	if _, err := c.DeleteObjectTagging(ctx, &s3.DeleteObjectTaggingInput{Bucket: &bucket, Key: aws.String("a/one"), VersionId: put.VersionId}); err != nil {
		t.Fatal("delete tagging:", err)
	}
	v, _ = meta.Version(ctx, bucket, "a/one", aws.ToString(put.VersionId))
	if len(v.Tags) != 0 {
		t.Fatalf("after delete tagging: %+v", v.Tags)
	}

	// Multipart: content-md5 is the multipart ETag.
	key := aws.String("big")
	mp, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: key})
	if err != nil {
		t.Fatal("create upload:", err)
	}
	var parts []types.CompletedPart
	for i := int32(1); i <= 2; i++ {
		n := 5 << 20
		if i == 2 {
			n = 1000
		}
		up, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: &bucket, Key: key, UploadId: mp.UploadId, PartNumber: aws.Int32(i), Body: bytes.NewReader(bytes.Repeat([]byte{byte(i)}, n))})
		if err != nil {
			t.Fatal("upload part:", err)
		}
		parts = append(parts, types.CompletedPart{ETag: up.ETag, PartNumber: aws.Int32(i)})
	}
	done, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: key, UploadId: mp.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	if err != nil {
		t.Fatal("complete:", err)
	}
	v, err = meta.Version(ctx, bucket, "big", aws.ToString(done.VersionId))
	if err != nil || v.Size != 5<<20+1000 || v.ContentMD5 != strings.Trim(aws.ToString(done.ETag), `"`) || !strings.Contains(v.ContentMD5, "-") ||
		v.Replication.Status != domain.StatusPending {
		t.Fatalf("multipart version: %+v, %v", v, err)
	}
	ab, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: aws.String("aborted")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &bucket, Key: aws.String("aborted"), UploadId: ab.UploadId}); err != nil {
		t.Fatal("abort:", err)
	}

	// DELETE without a version id: a delete marker, recorded for replication.
	del, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: aws.String("a/one")})
	if err != nil || !aws.ToBool(del.DeleteMarker) {
		t.Fatalf("delete: %+v, %v", del, err)
	}
	dm, err := meta.Version(ctx, bucket, "a/one", aws.ToString(del.VersionId))
	if err != nil || !dm.IsDeleteMarker || dm.Replication.Status != domain.StatusPending {
		t.Fatalf("delete marker document: %+v, %v", dm, err)
	}

	// Pass-through: listing.
	lv, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: &bucket})
	if err != nil || len(lv.Versions) != 2 || len(lv.DeleteMarkers) != 1 {
		t.Fatalf("list versions: %+v, %v", lv, err)
	}

	// DELETE with a version id removes that version's metadata (not
	// replicated, as upstream); the master follows the newest one left.
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: aws.String("a/one"), VersionId: del.VersionId}); err != nil {
		t.Fatal("delete the delete marker:", err)
	}
	if _, err := meta.Version(ctx, bucket, "a/one", aws.ToString(del.VersionId)); !errors.Is(err, ports.ErrNotFound) {
		t.Fatalf("deleted delete marker's document: err = %v, want ErrNotFound", err)
	}
	if m, err := meta.Version(ctx, bucket, "a/one", ""); err != nil || m.VersionID != aws.ToString(put.VersionId) || m.IsDeleteMarker {
		t.Fatalf("master after deleting the delete marker: %+v, %v; want version %s", m, err, aws.ToString(put.VersionId))
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: aws.String("a/one"), VersionId: put.VersionId}); err != nil {
		t.Fatal("delete the last version:", err)
	}
	for _, vid := range []string{aws.ToString(put.VersionId), ""} {
		if _, err := meta.Version(ctx, bucket, "a/one", vid); !errors.Is(err, ports.ErrNotFound) {
			t.Fatalf("document %q of a/one after deleting its last version: err = %v, want ErrNotFound", vid, err)
		}
	}

	// DeleteObjects, answered in full and quietly: each object's delete
	// is recorded as DeleteObject's would be.
	vids := map[string]string{}
	for _, k := range []string{"m/1", "m/2", "m/3"} {
		p, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(k), Body: strings.NewReader(k)})
		if err != nil {
			t.Fatal(err)
		}
		vids[k] = aws.ToString(p.VersionId)
	}
	if _, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &bucket, Delete: &types.Delete{Objects: []types.ObjectIdentifier{
		{Key: aws.String("m/1")}, {Key: aws.String("m/2"), VersionId: aws.String(vids["m/2"])},
	}}}); err != nil {
		t.Fatal("delete objects:", err)
	}
	if _, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &bucket, Delete: &types.Delete{Quiet: aws.Bool(true),
		Objects: []types.ObjectIdentifier{{Key: aws.String("m/3")}}}}); err != nil {
		t.Fatal("delete objects, quiet:", err)
	}
	for _, k := range []string{"m/1", "m/3"} {
		m, err := meta.Version(ctx, bucket, k, "")
		if err != nil || !m.IsDeleteMarker || m.VersionID == vids[k] || m.Replication.Status != domain.StatusPending {
			t.Fatalf("%s after DeleteObjects: master %+v, %v; want a PENDING delete marker", k, m, err)
		}
	}
	if _, err := meta.Version(ctx, bucket, "m/2", vids["m/2"]); !errors.Is(err, ports.ErrNotFound) {
		t.Fatalf("m/2's version after DeleteObjects by version id: err = %v, want ErrNotFound", err)
	}
}

func TestFrontRefusesWrongCredentials(t *testing.T) {
	endpoint, _ := realFront(t)
	ctx := context.Background()
	good := client(endpoint, "backbeat", "backbeat-secret-key")
	bucket := fmt.Sprintf("front-auth-%d", time.Now().UnixNano())
	if _, err := good.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		client *s3.Client
		want   string
	}{
		"wrong secret": {client(endpoint, "backbeat", "wrong"), "SignatureDoesNotMatch"},
		"unknown key":  {client(endpoint, "nobody", "backbeat-secret-key"), "InvalidAccessKeyId"},
	} {
		calls := map[string]func() error{
			"get-replication (local)": func() error {
				_, err := c.client.GetBucketReplication(ctx, &s3.GetBucketReplicationInput{Bucket: &bucket})
				return err
			},
			"put-object (recorded)": func() error {
				_, err := c.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("k"), Body: strings.NewReader("x")})
				return err
			},
			"list (forwarded)": func() error {
				_, err := c.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &bucket})
				return err
			},
			"head (forwarded)": func() error {
				_, err := c.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("k")})
				return err
			},
		}
		for call, fn := range calls {
			err := fn()
			var re interface{ HTTPStatusCode() int }
			if !errors.As(err, &re) || re.HTTPStatusCode() != 403 {
				t.Errorf("%s, %s: %v, want 403", name, call, err)
			}
			if !strings.HasPrefix(call, "head") && code(err) != c.want {
				t.Errorf("%s, %s: code %q, want %s", name, call, code(err), c.want)
			}
		}
	}
}
