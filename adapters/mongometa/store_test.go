package mongometa_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/bsontype"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/openbackbeat/backbeat/adapters/internal/stacktest"
	"github.com/openbackbeat/backbeat/adapters/mongometa"
	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// mongoURI is the server the integration tests use: the local stack's
// mongo-java-server unless BACKBEAT_TEST_MONGO_URI names another.
func mongoURI() string {
	if u := os.Getenv("BACKBEAT_TEST_MONGO_URI"); u != "" {
		return u
	}
	return "mongodb://127.0.0.1:27117"
}

// newStore returns a store on the test server, or skips the test loudly
// when the server does not answer (fails it at once instead when CI=true).
func newStore(t *testing.T, mutate ...func(*mongometa.Config)) *mongometa.Store {
	t.Helper()
	stacktest.Require(t, stacktest.Mongo, stacktest.MongoAddrs(mongoURI())...)
	// Each test has its own database, dropped afterwards, so that test
	// buckets never reach the journals of the shared "metadata" database.
	db := strings.ReplaceAll(uniqueBucket(t), "-", "_")
	cfg := mongometa.Config{URI: mongoURI(), Database: db, Timeout: 10 * time.Second}
	for _, m := range mutate {
		m(&cfg)
	}
	s, err := mongometa.New(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = s.Database().Drop(context.Background())
		_ = s.Close(context.Background())
	})
	return s
}

var nameChars = regexp.MustCompile(`[^a-z0-9]+`)

// uniqueBucket returns a bucket name no other test or run uses.
func uniqueBucket(t *testing.T) string {
	n := nameChars.ReplaceAllString(strings.ToLower(t.Name()), "-")
	if len(n) > 30 {
		n = n[len(n)-30:]
	}
	return strings.Trim(fmt.Sprintf("mm-%s-%x", n, time.Now().UnixNano()), "-")
}

func replicatedBucket(name, vFormat string) domain.Bucket {
	return domain.Bucket{
		Name: name, VersioningEnabled: true, VFormat: vFormat,
		Replication: &domain.ReplicationConfig{
			Role: "arn:aws:iam::root:role/s3-replication-role",
			Rules: []domain.ReplicationRule{
				{ID: "r1", Enabled: true, Prefix: "", DestinationBucket: "arn:aws:s3:::dst", StorageClass: "site-a,site-b"},
			},
		},
	}
}

func pendingVersion(bucket, key, vid string) domain.ObjectVersion {
	rule := domain.ReplicationRule{DestinationBucket: "arn:aws:s3:::dst", StorageClass: "site-a,site-b"}
	return domain.ObjectVersion{
		Bucket: bucket, Key: key, VersionID: vid, MicroVersionID: "m1",
		Size: 11, ContentMD5: "d41d8cd98f00b204e9800998ecf8427e", ContentType: "text/plain",
		LastModified: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC),
		UserMeta:     map[string]string{"color": "blue", "dotted.name": "x"},
		Tags:         map[string]string{"t.1": "a", "$t": "b"},
		Replication:  domain.NewReplicationInfo(rule, "arn:aws:iam::root:role/s3-replication-role", true),
	}
}

func rawDoc(t *testing.T, s *mongometa.Store, coll, id string) bson.Raw {
	t.Helper()
	raw, err := s.Database().Collection(coll).FindOne(context.Background(), bson.D{{Key: "_id", Value: id}}).Raw()
	require.NoError(t, err, "document %q of %s", id, coll)
	return raw
}

func TestBucketRoundTrip(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	name := uniqueBucket(t)
	_, err := s.Bucket(ctx, name)
	assert.ErrorIs(t, err, ports.ErrNotFound)

	want := replicatedBucket(name, "v1")
	require.NoError(t, s.PutBucket(ctx, want))
	got, err := s.Bucket(ctx, name)
	require.NoError(t, err)
	assert.Equal(t, want, got)

	doc := rawDoc(t, s, mongometa.MetastoreCollection, name)
	assert.Equal(t, "v1", doc.Lookup("vFormat").StringValue())
	assert.Equal(t, "Enabled", doc.Lookup("value", "versioningConfiguration", "Status").StringValue())
	assert.Equal(t, "arn:aws:s3:::dst", doc.Lookup("value", "replicationConfiguration", "destination").StringValue())
	rule := doc.Lookup("value", "replicationConfiguration", "rules").Array().Index(0).Value().Document()
	assert.Equal(t, "r1", rule.Lookup("id").StringValue())
	assert.True(t, rule.Lookup("enabled").Boolean())
	assert.Equal(t, "site-a,site-b", rule.Lookup("storageClass").StringValue())

	// Replacing keeps what the domain does not model.
	_, err = s.Database().Collection(mongometa.MetastoreCollection).UpdateOne(ctx, bson.D{{Key: "_id", Value: name}}, bson.D{{Key: "$set", Value: bson.D{{Key: "value.owner", Value: "canonical-id"}}}})
	require.NoError(t, err)
	want.Replication = nil
	want.VersioningEnabled = false
	require.NoError(t, s.PutBucket(ctx, want))
	got, err = s.Bucket(ctx, name)
	require.NoError(t, err)
	assert.Equal(t, want, got)
	assert.Equal(t, "canonical-id", rawDoc(t, s, mongometa.MetastoreCollection, name).Lookup("value", "owner").StringValue())

	bad := replicatedBucket(name, "v0")
	bad.Replication.Rules = append(bad.Replication.Rules, domain.ReplicationRule{ID: "r2", Prefix: "x", DestinationBucket: "arn:aws:s3:::other"})
	assert.ErrorIs(t, s.PutBucket(ctx, bad), domain.ErrPermanent)
	bad = replicatedBucket(name, "v9")
	assert.ErrorIs(t, s.PutBucket(ctx, bad), domain.ErrPermanent)
}

// TestBucketReadsCloudServerDocument reads a __metastore document shaped
// as Arsenal's BucketInfo.serialize() writes it.
func TestBucketReadsCloudServerDocument(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	name := uniqueBucket(t)
	value := `{"acl":{"Canned":"private","FULL_CONTROL":[],"WRITE":[],"WRITE_ACP":[],"READ":[],"READ_ACP":[]},
	"name":"` + name + `","owner":"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be","ownerDisplayName":"bart",
	"creationDate":"2024-01-01T00:00:00.000Z","mdBucketModelVersion":10,"transient":false,"deleted":false,
	"serverSideEncryption":null,"versioningConfiguration":{"Status":"Enabled"},"locationConstraint":"us-east-1",
	"readLocationConstraint":null,"cors":null,
	"replicationConfiguration":{"role":"arn:aws:iam::123456789012:role/src,arn:aws:iam::123456789012:role/dst",
	  "destination":"arn:aws:s3:::dest-bucket",
	  "rules":[{"prefix":"logs/","enabled":true,"id":"rule-1","storageClass":"aws-location"},
	           {"prefix":"tmp/","enabled":false,"id":"rule-2"}]},
	"lifecycleConfiguration":null,"uid":"5e0fbd4a-0f7f-4a43-a8d1-e7f9a2f0bb0a","isNFS":null}`
	var v bson.D
	require.NoError(t, bson.UnmarshalExtJSON([]byte(value), false, &v))
	_, err := s.Database().Collection(mongometa.MetastoreCollection).InsertOne(ctx, bson.D{{Key: "_id", Value: name}, {Key: "value", Value: v}, {Key: "vFormat", Value: "v1"}})
	require.NoError(t, err)

	got, err := s.Bucket(ctx, name)
	require.NoError(t, err)
	assert.Equal(t, domain.Bucket{
		Name: name, VersioningEnabled: true, VFormat: "v1",
		Replication: &domain.ReplicationConfig{
			Role: "arn:aws:iam::123456789012:role/src,arn:aws:iam::123456789012:role/dst",
			Rules: []domain.ReplicationRule{
				{ID: "rule-1", Enabled: true, Prefix: "logs/", DestinationBucket: "arn:aws:s3:::dest-bucket", StorageClass: "aws-location"},
				{ID: "rule-2", Enabled: false, Prefix: "tmp/", DestinationBucket: "arn:aws:s3:::dest-bucket"},
			},
		},
	}, got)

	names, err := s.ListReplicatedBuckets(ctx)
	require.NoError(t, err)
	assert.Contains(t, names, name)
}

func TestListReplicatedBuckets(t *testing.T) {
	t.Parallel()
	var logs strings.Builder // written by this test's goroutine only
	s := newStore(t, func(c *mongometa.Config) { c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	ctx := context.Background()
	base := uniqueBucket(t)
	on, off, none := base+"-on", base+"-off", base+"-none"
	require.NoError(t, s.PutBucket(ctx, replicatedBucket(on, "v0")))
	disabled := replicatedBucket(off, "v0")
	disabled.Replication.Rules[0].Enabled = false
	require.NoError(t, s.PutBucket(ctx, disabled))
	require.NoError(t, s.PutBucket(ctx, domain.Bucket{Name: none, VersioningEnabled: true}))
	// A malformed bucket document is not fatal. One that holds a replication
	// configuration is watched, so that its versions fail with the reason,
	// when its keys can be read; the others are left out.
	meta := s.Database().Collection(mongometa.MetastoreCollection)
	_, err := meta.InsertMany(ctx, []any{
		bson.D{{Key: "_id", Value: base + "-bad"}, {Key: "value", Value: bson.D{{Key: "replicationConfiguration", Value: "nonsense"}}}},
		bson.D{{Key: "_id", Value: base + "-bad-format"}, {Key: "vFormat", Value: "v9"}, {Key: "value", Value: bson.D{{Key: "replicationConfiguration", Value: "nonsense"}}}},
		bson.D{{Key: "_id", Value: base + "-bad-versioning"}, {Key: "value", Value: bson.D{{Key: "versioningConfiguration", Value: "nonsense"}}}},
	})
	require.NoError(t, err)

	names, err := s.ListReplicatedBuckets(ctx)
	require.NoError(t, err)
	assert.Contains(t, names, on)
	assert.NotContains(t, names, off)
	assert.NotContains(t, names, none)
	assert.Contains(t, names, base+"-bad")
	assert.NotContains(t, names, base+"-bad-format")
	assert.NotContains(t, names, base+"-bad-versioning")
	assert.Contains(t, logs.String(), "malformed bucket document")

	// Reported once, not at every listing.
	before := logs.Len()
	_, err = s.ListReplicatedBuckets(ctx)
	require.NoError(t, err)
	assert.Equal(t, before, logs.Len())
}

// The versions of a bucket whose document is malformed, but whose key format
// is readable, can still be read and updated: that is how they are marked
// FAILED with the reason.
func TestVersionsOfAMalformedBucket(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	name := uniqueBucket(t)
	_, err := s.Database().Collection(mongometa.MetastoreCollection).InsertOne(ctx,
		bson.D{{Key: "_id", Value: name}, {Key: "vFormat", Value: "v1"}, {Key: "value", Value: bson.D{{Key: "replicationConfiguration", Value: "nonsense"}}}})
	require.NoError(t, err)
	_, err = s.Bucket(ctx, name)
	require.ErrorIs(t, err, domain.ErrPermanent)
	vf, err := s.VFormat(ctx, name)
	require.NoError(t, err)
	assert.Equal(t, "v1", vf)
	_, err = s.Database().Collection(name).InsertOne(ctx, bson.D{{Key: "_id", Value: "\x7fVk\x00v1"}, {Key: "value", Value: bson.D{{Key: "key", Value: "k"}}}})
	require.NoError(t, err)
	got, err := s.UpdateVersion(ctx, name, "k", "v1", func(v *domain.ObjectVersion) error {
		v.ContentType = "text/plain"
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, "text/plain", got.ContentType)
}

func TestPutVersionLayout(t *testing.T) {
	t.Parallel()
	for _, vFormat := range []string{"v0", "v1"} {
		t.Run(vFormat, func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			ctx := context.Background()
			bucket := uniqueBucket(t)
			require.NoError(t, s.PutBucket(ctx, replicatedBucket(bucket, vFormat)))
			v := pendingVersion(bucket, "dir/obj.txt", "98765432100000000000RG001  0")
			require.NoError(t, s.PutVersion(ctx, v))

			versionID := domain.DocumentID(v.Key, v.VersionID, vFormat)
			masterID := domain.DocumentID(v.Key, "", vFormat)
			if vFormat == "v1" {
				assert.Equal(t, "\x7fVdir/obj.txt\x0098765432100000000000RG001  0", versionID)
				assert.Equal(t, "\x7fMdir/obj.txt", masterID)
			}
			for _, id := range []string{versionID, masterID} {
				doc := rawDoc(t, s, bucket, id)
				cl := doc.Lookup("value", "content-length")
				assert.Contains(t, []bsontype.Type{bson.TypeInt32, bson.TypeInt64, bson.TypeDouble}, cl.Type, "content-length must be a number")
				assert.Equal(t, int64(11), cl.AsInt64())
				assert.Equal(t, "a", doc.Lookup("value", "tags", "t\uFF0E1").StringValue(), "tag names are escaped")
				assert.Equal(t, "b", doc.Lookup("value", "tags", "\uFF04t").StringValue())
				assert.Equal(t, "x", doc.Lookup("value", "x-amz-meta-dotted\uFF0Ename").StringValue())
				assert.Equal(t, "PENDING", doc.Lookup("value", "replicationInfo", "status").StringValue())
				assert.Equal(t, "site-b", doc.Lookup("value", "replicationInfo", "backends").Array().Index(1).Value().Document().Lookup("site").StringValue())
			}
			got, err := s.Version(ctx, bucket, v.Key, v.VersionID)
			require.NoError(t, err)
			assert.Equal(t, v, got)
			master, err := s.Version(ctx, bucket, v.Key, "")
			require.NoError(t, err)
			assert.Equal(t, v, master)

			_, err = s.Version(ctx, bucket, v.Key, "nope")
			assert.ErrorIs(t, err, ports.ErrNotFound)
			_, err = s.Version(ctx, bucket+"-missing", v.Key, v.VersionID)
			assert.ErrorIs(t, err, ports.ErrNotFound)
		})
	}
}

func TestPutVersionMasterOrdering(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	bucket := uniqueBucket(t)
	require.NoError(t, s.PutBucket(ctx, replicatedBucket(bucket, "v0")))
	masterVID := func() string {
		return rawDoc(t, s, bucket, "k").Lookup("value", "versionId").StringValue()
	}
	// Version ids sort inversely to time: "0500" is newer than "0900".
	require.NoError(t, s.PutVersion(ctx, pendingVersion(bucket, "k", "0900")))
	assert.Equal(t, "0900", masterVID())
	require.NoError(t, s.PutVersion(ctx, pendingVersion(bucket, "k", "0500")))
	assert.Equal(t, "0500", masterVID(), "a newer version takes the master")
	require.NoError(t, s.PutVersion(ctx, pendingVersion(bucket, "k", "0700")), "an older version arriving late is not an error")
	assert.Equal(t, "0500", masterVID(), "an older version never takes the master")
	_, err := s.Version(ctx, bucket, "k", "0700")
	require.NoError(t, err, "the older version document is written")

	rewrite := pendingVersion(bucket, "k", "0500")
	rewrite.ContentType = "application/json"
	require.NoError(t, s.PutVersion(ctx, rewrite))
	m, err := s.Version(ctx, bucket, "k", "")
	require.NoError(t, err)
	assert.Equal(t, "application/json", m.ContentType, "a rewrite of the master's version reaches the master")

	// A master written before versioning was enabled has no versionId.
	_, err = s.Database().Collection(bucket).InsertOne(ctx, bson.D{{Key: "_id", Value: "plain"}, {Key: "value", Value: bson.D{{Key: "key", Value: "plain"}}}})
	require.NoError(t, err)
	require.NoError(t, s.PutVersion(ctx, pendingVersion(bucket, "plain", "0900")))
	assert.Equal(t, "0900", rawDoc(t, s, bucket, "plain").Lookup("value", "versionId").StringValue())

	assert.ErrorIs(t, s.PutVersion(ctx, domain.ObjectVersion{Bucket: bucket, Key: "k"}), domain.ErrPermanent)
}

func TestPutVersionV1DeleteMarkerDeletesMaster(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	bucket := uniqueBucket(t)
	require.NoError(t, s.PutBucket(ctx, replicatedBucket(bucket, "v1")))
	require.NoError(t, s.PutVersion(ctx, pendingVersion(bucket, "k", "0900")))
	dm := pendingVersion(bucket, "k", "0500")
	dm.IsDeleteMarker, dm.Size = true, 0
	require.NoError(t, s.PutVersion(ctx, dm))
	_, err := s.Version(ctx, bucket, "k", "")
	assert.ErrorIs(t, err, ports.ErrNotFound, "CloudServer's v1 format has no master for a delete marker")
	got, err := s.Version(ctx, bucket, "k", "0500")
	require.NoError(t, err)
	assert.True(t, got.IsDeleteMarker)
}

// TestUpdateVersionKeepsUnknownFields updates a version document shaped as
// CloudServer writes it: the fields the domain does not model survive.
func TestUpdateVersionKeepsUnknownFields(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	bucket := uniqueBucket(t)
	require.NoError(t, s.PutBucket(ctx, replicatedBucket(bucket, "v0")))
	value := `{"owner-display-name":"bart","owner-id":"79a5","cache-control":"","content-length":{"$numberDouble":"3000000000"},
	"content-md5":"abc","content-type":"text/plain","last-modified":"2024-05-01T12:00:00.000Z","x-amz-version-id":"null",
	"x-amz-storage-class":"STANDARD","location":[{"key":"a1b2","size":3000000000,"start":0,"dataStoreName":"us-east-1","dataStoreETag":"1:abc"}],
	"isDeleteMarker":false,"tags":{"a\uff0eb":"1"},"key":"photo.jpg","versionId":"0900","x-amz-meta-color":"red",
	"replicationInfo":{"status":"PENDING","backends":[{"site":"site-a","status":"PENDING","dataStoreVersionId":""}],
	  "content":["DATA","METADATA"],"destination":"arn:aws:s3:::dst","storageClass":"site-a","role":"r","storageType":"","dataStoreVersionId":"","isNFS":null},
	"dataStoreName":"us-east-1","acl":{"Canned":"private","FULL_CONTROL":[],"WRITE_ACP":[],"READ":[],"READ_ACP":[]}}`
	var v bson.D
	require.NoError(t, bson.UnmarshalExtJSON([]byte(value), false, &v))
	coll := s.Database().Collection(bucket)
	for _, id := range []string{"photo.jpg\x000900", "photo.jpg"} {
		_, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "value", Value: v}})
		require.NoError(t, err)
	}

	got, err := s.UpdateVersion(ctx, bucket, "photo.jpg", "0900", func(o *domain.ObjectVersion) error {
		assert.Equal(t, int64(3000000000), o.Size)
		assert.Equal(t, map[string]string{"a.b": "1"}, o.Tags)
		assert.Equal(t, map[string]string{"color": "red"}, o.UserMeta)
		_, err := o.SetSiteStatus("site-a", domain.StatusCompleted, "dst-vid", "")
		return err
	})
	require.NoError(t, err)
	assert.Equal(t, domain.StatusCompleted, got.Replication.Status)

	for _, id := range []string{"photo.jpg\x000900", "photo.jpg"} {
		doc := rawDoc(t, s, bucket, id)
		assert.Equal(t, "COMPLETED", doc.Lookup("value", "replicationInfo", "status").StringValue(), id)
		assert.Equal(t, "dst-vid", doc.Lookup("value", "replicationInfo", "backends").Array().Index(0).Value().Document().Lookup("dataStoreVersionId").StringValue(), id)
		assert.Equal(t, "private", doc.Lookup("value", "acl", "Canned").StringValue(), "unknown fields survive in %q", id)
		assert.Equal(t, "1:abc", doc.Lookup("value", "location").Array().Index(0).Value().Document().Lookup("dataStoreETag").StringValue(), id)
		assert.Equal(t, bson.TypeDouble, doc.Lookup("value", "content-length").Type, "untouched fields keep their BSON type")
		assert.Equal(t, "1", doc.Lookup("value", "tags", "a\uFF0Eb").StringValue())
	}
}

// TestCASDetectsAnyChange changes a field the domain does not model between
// the read and the write of an update: the compare-and-swap must see it,
// call the update again, and keep both writes.
func TestCASDetectsAnyChange(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	bucket := uniqueBucket(t)
	require.NoError(t, s.PutBucket(ctx, replicatedBucket(bucket, "v0")))
	v := pendingVersion(bucket, "k", "0900")
	require.NoError(t, s.PutVersion(ctx, v))
	coll := s.Database().Collection(bucket)

	calls := 0
	_, err := s.UpdateVersion(ctx, bucket, "k", "0900", func(o *domain.ObjectVersion) error {
		calls++
		if calls == 1 {
			// A concurrent writer touches an unrelated, unmodelled field.
			_, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: "k\x000900"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "value.acl", Value: bson.D{{Key: "Canned", Value: "public-read"}}}}}})
			require.NoError(t, err)
		}
		_, err := o.SetSiteStatus("site-a", domain.StatusCompleted, "d1", "")
		return err
	})
	require.NoError(t, err)
	assert.Equal(t, 2, calls, "the lost race is detected and the update re-run")
	doc := rawDoc(t, s, bucket, "k\x000900")
	assert.Equal(t, "public-read", doc.Lookup("value", "acl", "Canned").StringValue())
	assert.Equal(t, "COMPLETED", doc.Lookup("value", "replicationInfo", "backends").Array().Index(0).Value().Document().Lookup("status").StringValue())
}

func TestUpdateVersionConflictAndErrors(t *testing.T) {
	t.Parallel()
	s := newStore(t, func(c *mongometa.Config) { c.MaxAttempts = 3 })
	ctx := context.Background()
	bucket := uniqueBucket(t)
	require.NoError(t, s.PutBucket(ctx, replicatedBucket(bucket, "v0")))
	require.NoError(t, s.PutVersion(ctx, pendingVersion(bucket, "k", "0900")))
	coll := s.Database().Collection(bucket)

	calls := 0
	_, err := s.UpdateVersion(ctx, bucket, "k", "0900", func(o *domain.ObjectVersion) error {
		calls++
		_, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: "k\x000900"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "value.n", Value: calls}}}})
		require.NoError(t, err)
		o.ContentType = "x/y"
		return nil
	})
	assert.ErrorIs(t, err, ports.ErrConflict)
	assert.Equal(t, 3, calls)

	boom := errors.New("boom")
	_, err = s.UpdateVersion(ctx, bucket, "k", "0900", func(o *domain.ObjectVersion) error {
		o.ContentType = "never/written"
		return boom
	})
	assert.Equal(t, boom, err, "the update's error is returned as is")
	got, err := s.Version(ctx, bucket, "k", "0900")
	require.NoError(t, err)
	assert.Equal(t, "text/plain", got.ContentType)

	_, err = s.UpdateVersion(ctx, bucket, "k", "0900", func(o *domain.ObjectVersion) error {
		o.VersionID = "other"
		return nil
	})
	assert.ErrorIs(t, err, domain.ErrPermanent)
	_, err = s.UpdateVersion(ctx, bucket, "k", "nope", func(*domain.ObjectVersion) error { return nil })
	assert.ErrorIs(t, err, ports.ErrNotFound)
}

// TestConcurrentUpdatesNeverLoseOne runs one updater per site at once:
// every site's outcome must be stored, on the version and on the master.
func TestConcurrentUpdatesNeverLoseOne(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	bucket := uniqueBucket(t)
	b := replicatedBucket(bucket, "v1")
	require.NoError(t, s.PutBucket(ctx, b))
	var sites []string
	for i := range 8 {
		sites = append(sites, fmt.Sprintf("site-%d", i))
	}
	v := pendingVersion(bucket, "k", "0900")
	v.Replication = domain.NewReplicationInfo(domain.ReplicationRule{StorageClass: strings.Join(sites, ",")}, "r", true)
	require.NoError(t, s.PutVersion(ctx, v))

	var wg sync.WaitGroup
	var calls atomic.Int64
	for _, site := range sites {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.UpdateVersion(ctx, bucket, "k", "0900", func(o *domain.ObjectVersion) error {
				calls.Add(1)
				_, err := o.SetSiteStatus(site, domain.StatusCompleted, "d-"+site, "")
				return err
			})
			assert.NoError(t, err, site)
		}()
	}
	wg.Wait()
	t.Logf("%d updates took %d update calls", len(sites), calls.Load())
	for _, vid := range []string{"0900", ""} {
		got, err := s.Version(ctx, bucket, "k", vid)
		require.NoError(t, err)
		assert.Equal(t, domain.StatusCompleted, got.Replication.Status, "version %q", vid)
		for _, be := range got.Replication.Backends {
			assert.Equal(t, domain.StatusCompleted, be.Status, "version %q site %s", vid, be.Site)
			assert.Equal(t, "d-"+be.Site, be.DataStoreVersionID)
		}
	}
}

func TestUpdateVersionLeavesNewerMaster(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	bucket := uniqueBucket(t)
	require.NoError(t, s.PutBucket(ctx, replicatedBucket(bucket, "v0")))
	require.NoError(t, s.PutVersion(ctx, pendingVersion(bucket, "k", "0900")))
	require.NoError(t, s.PutVersion(ctx, pendingVersion(bucket, "k", "0500")))
	_, err := s.UpdateVersion(ctx, bucket, "k", "0900", func(o *domain.ObjectVersion) error {
		_, err := o.SetSiteStatus("site-a", domain.StatusFailed, "", "denied")
		return err
	})
	require.NoError(t, err)
	m, err := s.Version(ctx, bucket, "k", "")
	require.NoError(t, err)
	assert.Equal(t, "0500", m.VersionID)
	assert.Equal(t, domain.StatusPending, m.Replication.Status, "the master of a newer version is not touched")
	old, err := s.Version(ctx, bucket, "k", "0900")
	require.NoError(t, err)
	assert.Equal(t, domain.StatusFailed, old.Replication.Status)
	assert.Equal(t, "denied", old.Replication.Backends[0].Reason)
}

func TestCheckpoints(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	name := uniqueBucket(t)
	pos, err := s.Load(ctx, name)
	require.NoError(t, err)
	assert.Nil(t, pos)
	require.NoError(t, s.Save(ctx, name, ports.Position(`{"a":1}`)))
	require.NoError(t, s.Save(ctx, name, ports.Position("\x00\x01binary")))
	pos, err = s.Load(ctx, name)
	require.NoError(t, err)
	assert.Equal(t, ports.Position("\x00\x01binary"), pos)

	other := newStore(t, func(c *mongometa.Config) {
		c.Database = s.Database().Name()
		c.CheckpointCollection = "__other_checkpoints"
	})
	pos, err = other.Load(ctx, name)
	require.NoError(t, err)
	assert.Nil(t, pos, "checkpoint collections are separate")
}

func TestNewRefusesBadConfig(t *testing.T) {
	_, err := mongometa.New(context.Background(), mongometa.Config{URI: "localhost:27017"})
	require.Error(t, err)
	_, err = mongometa.NewWithClient((*mongo.Client)(nil), mongometa.Config{Timeout: -1})
	require.Error(t, err)
}
