// Package objectstest is the contract suite of ports.Destination (with
// ports.ReplicaReader) and of ports.ObjectSource, run by every object
// storage adapter:
//
//	objectstest.RunDestination(t, func(t *testing.T) (ports.Destination, ports.ReplicaReader, string) {
//		return dst, dst, newVersionedBucket(t)
//	})
//	objectstest.RunSource(t, func(t *testing.T) (ports.ObjectSource, func(bucket, key string, data []byte) string, string) {
//		return src, putObject, newVersionedBucket(t)
//	})
//
// Each case writes keys of its own (random names) in the bucket it is
// given and runs in parallel. A large case writes 12 MiB: configure the
// adapter's multipart threshold below that to cover multipart uploads.
package objectstest

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"maps"
	"strings"
	"testing"
	"time"

	shared "github.com/openbackbeat/backbeat/ports/internal/suite"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// LargeSize is the size of the large-object cases.
const LargeSize = 12 << 20

// timeout bounds each case: generous for a real service on a slow machine.
const timeout = 2 * time.Minute

func ctxFor(t *testing.T) context.Context { return shared.Context(t, timeout) }

func unique(prefix string) string { return shared.Unique(prefix) }

func randomData(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func md5Hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// streamOnly hides every method but Read (no Seek, no Len, no WriterTo), as
// a body streamed from the source is.
type streamOnly struct{ r io.Reader }

func (s streamOnly) Read(p []byte) (int, error) { return s.r.Read(p) }

// RunDestination checks the ports.Destination and ports.ReplicaReader
// contract. newDest is called once per case; it returns the destination,
// a reader of the same site, and an existing versioned bucket to write to.
func RunDestination(t *testing.T, newDest func(t *testing.T) (dst ports.Destination, read ports.ReplicaReader, bucket string)) {
	t.Helper()
	cases := []struct {
		name string
		fn   func(t *testing.T, d ports.Destination, r ports.ReplicaReader, bucket string)
	}{
		{"PutThenRead", testPutRead},
		{"PutIsIdempotent", testIdempotent},
		{"BadReplicaOnTopIsWrittenOver", testBadReplicaOnTop},
		{"VersionsInOrder", testTwoVersions},
		{"LargeObject", testLargeDestination},
		{"EmptyObject", testEmptyObject},
		{"DeleteMarker", testDeleteMarker},
		{"ShortBodyWritesNothing", testShortBody},
		{"MissingBucketIsPermanent", testMissingBucket},
		{"SetTagsInPlace", testSetTags},
		{"SetTagsBelowADeleteMarker", testSetTagsBelowMarker},
		{"SetTagsWithoutReplica", testSetTagsNoReplica},
		{"HeadersAreCarried", testHeaders},
		{"LockOnAPlainBucketIsPermanent", testLockRefused},
		{"ProgressAddsUpToTheSize", testProgress},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			d, r, bucket := newDest(t)
			c.fn(t, d, r, bucket)
		})
	}
}

func newReplica(bucket, key string, data []byte) ports.Replica {
	return ports.Replica{
		Bucket:          bucket,
		Key:             key,
		SourceVersionID: unique("src-version"),
		Size:            int64(len(data)),
		ContentType:     "text/plain",
		ContentMD5:      md5Hex(data),
		UserMeta:        map[string]string{"color": "blue", "owner-id": "42"},
		Tags:            map[string]string{"team": "storage", "env": "prod test"},
	}
}

func put(t *testing.T, d ports.Destination, r ports.Replica, data []byte) string {
	t.Helper()
	var body io.Reader
	if data != nil {
		body = streamOnly{bytes.NewReader(data)}
	}
	vid, err := d.Put(ctxFor(t), r, body)
	if err != nil {
		t.Fatalf("Put(%s/%s, source version %s): %v", r.Bucket, r.Key, r.SourceVersionID, err)
	}
	if vid == "" && !r.IsDeleteMarker {
		t.Fatalf("Put(%s/%s) returned an empty version id", r.Bucket, r.Key)
	}
	return vid
}

func replicas(t *testing.T, rr ports.ReplicaReader, bucket, key string) []ports.StoredReplica {
	t.Helper()
	got, err := rr.Replicas(ctxFor(t), bucket, key)
	if err != nil {
		t.Fatalf("Replicas(%s/%s): %v", bucket, key, err)
	}
	return got
}

// checkReplica verifies a stored replica against what was put.
func checkReplica(t *testing.T, got ports.StoredReplica, want ports.Replica, vid string, data []byte) {
	t.Helper()
	if got.VersionID != vid {
		t.Errorf("replica of %s has version id %q, want %q (the one Put returned)", want.SourceVersionID, got.VersionID, vid)
	}
	if !bytes.Equal(got.Data, data) {
		t.Errorf("replica of %s holds %d bytes (sha256 %x), want %d bytes (sha256 %x)", want.SourceVersionID, len(got.Data), sha256.Sum256(got.Data), len(data), sha256.Sum256(data))
	}
	if got.IsDeleteMarker {
		t.Errorf("replica of %s is a delete marker", want.SourceVersionID)
	}
	if got.ContentType != want.ContentType {
		t.Errorf("replica of %s has content type %q, want %q", want.SourceVersionID, got.ContentType, want.ContentType)
	}
	wantMeta := maps.Clone(want.UserMeta)
	if wantMeta == nil {
		wantMeta = map[string]string{}
	}
	wantMeta[domain.ReplicaMetaKey] = string(domain.StatusReplica)
	wantMeta[domain.SourceVersionMetaKey] = want.SourceVersionID
	if !maps.Equal(got.UserMeta, wantMeta) {
		t.Errorf("replica of %s has user metadata %v, want %v", want.SourceVersionID, got.UserMeta, wantMeta)
	}
	if len(got.Tags) != len(want.Tags) || (len(want.Tags) > 0 && !maps.Equal(got.Tags, want.Tags)) {
		t.Errorf("replica of %s has tags %v, want %v", want.SourceVersionID, got.Tags, want.Tags)
	}
	if got.SourceVersionID != "" && got.SourceVersionID != want.SourceVersionID {
		t.Errorf("replica has SourceVersionID %q, want %q", got.SourceVersionID, want.SourceVersionID)
	}
}

func testPutRead(t *testing.T, d ports.Destination, rr ports.ReplicaReader, bucket string) {
	key := unique("dir/put read")
	data := randomData(3000)
	r := newReplica(bucket, key, data)
	vid := put(t, d, r, data)
	got := replicas(t, rr, bucket, key)
	if len(got) != 1 {
		t.Fatalf("after one Put, Replicas lists %d versions, want 1", len(got))
	}
	checkReplica(t, got[0], r, vid, data)
	if other := replicas(t, rr, bucket, unique("never-written")); len(other) != 0 {
		t.Fatalf("Replicas of a key never written lists %d versions", len(other))
	}
}

func testIdempotent(t *testing.T, d ports.Destination, rr ports.ReplicaReader, bucket string) {
	key := unique("idempotent")
	data := randomData(1000)
	r := newReplica(bucket, key, data)
	vid := put(t, d, r, data)
	for i := range 2 {
		again := put(t, d, r, data)
		if again != vid {
			t.Fatalf("Put #%d of the same source version returned version %q, want the first one's %q", i+2, again, vid)
		}
	}
	got := replicas(t, rr, bucket, key)
	if len(got) != 1 {
		t.Fatalf("after three Puts of one source version, Replicas lists %d versions, want 1", len(got))
	}
	checkReplica(t, got[0], r, vid, data)
}

func testTwoVersions(t *testing.T, d ports.Destination, rr ports.ReplicaReader, bucket string) {
	key := unique("two-versions")
	data1, data2 := randomData(100), randomData(200)
	r1, r2 := newReplica(bucket, key, data1), newReplica(bucket, key, data2)
	r2.UserMeta = map[string]string{"color": "green"}
	r2.Tags = nil
	r2.ContentType = "application/octet-stream"
	v1 := put(t, d, r1, data1)
	v2 := put(t, d, r2, data2)
	if v1 == v2 {
		t.Fatalf("two source versions got the same destination version %q", v1)
	}
	got := replicas(t, rr, bucket, key)
	if len(got) != 2 {
		t.Fatalf("after two source versions, Replicas lists %d versions, want 2", len(got))
	}
	checkReplica(t, got[0], r1, v1, data1)
	checkReplica(t, got[1], r2, v2, data2)
	// The older source version again: still written once.
	if again := put(t, d, r1, data1); again != v1 {
		t.Fatalf("Put of the first source version again returned %q, want %q", again, v1)
	}
	if got := replicas(t, rr, bucket, key); len(got) != 2 {
		t.Fatalf("after repeating the first source version, Replicas lists %d versions, want 2", len(got))
	}
}

func testLargeDestination(t *testing.T, d ports.Destination, rr ports.ReplicaReader, bucket string) {
	key := unique("large")
	data := randomData(LargeSize)
	r := newReplica(bucket, key, data)
	vid := put(t, d, r, data)
	got := replicas(t, rr, bucket, key)
	if len(got) != 1 {
		t.Fatalf("after one Put of %d bytes, Replicas lists %d versions, want 1", len(data), len(got))
	}
	checkReplica(t, got[0], r, vid, data)
}

func testEmptyObject(t *testing.T, d ports.Destination, rr ports.ReplicaReader, bucket string) {
	key := unique("empty")
	data := []byte{}
	r := newReplica(bucket, key, data)
	vid := put(t, d, r, data)
	got := replicas(t, rr, bucket, key)
	if len(got) != 1 {
		t.Fatalf("after one Put of an empty object, Replicas lists %d versions, want 1", len(got))
	}
	checkReplica(t, got[0], r, vid, data)
}

// testDeleteMarker replicates a delete marker over a data version: the
// destination holds both, the marker newest.
func testDeleteMarker(t *testing.T, d ports.Destination, rr ports.ReplicaReader, bucket string) {
	key := unique("deleted")
	data := randomData(64)
	r := newReplica(bucket, key, data)
	vid := put(t, d, r, data)
	dm := ports.Replica{Bucket: bucket, Key: key, SourceVersionID: unique("src-dm"), IsDeleteMarker: true}
	dmVID := put(t, d, dm, nil)
	got := replicas(t, rr, bucket, key)
	if len(got) != 2 {
		t.Fatalf("after a data version and a delete marker, Replicas lists %d versions, want 2", len(got))
	}
	checkReplica(t, got[0], r, vid, data)
	if !got[1].IsDeleteMarker {
		t.Fatalf("the newest version after replicating a delete marker is not a delete marker: %+v", got[1].Replica)
	}
	if dmVID != "" && got[1].VersionID != dmVID {
		t.Fatalf("the delete marker has version id %q, Put returned %q", got[1].VersionID, dmVID)
	}
	if len(got[1].Data) != 0 {
		t.Fatalf("the delete marker holds %d bytes of data", len(got[1].Data))
	}
}

// testShortBody gives Put a body that ends before Size: it must fail and
// leave no replica, or a later idempotent Put would keep a truncated copy.
func testShortBody(t *testing.T, d ports.Destination, rr ports.ReplicaReader, bucket string) {
	key := unique("short")
	data := randomData(4096)
	r := newReplica(bucket, key, data)
	r.ContentMD5 = "" // no digest to catch it: the size must
	if _, err := d.Put(ctxFor(t), r, streamOnly{bytes.NewReader(data[:1000])}); err == nil {
		t.Fatalf("Put with a body of 1000 of %d bytes succeeded, want an error", len(data))
	}
	if got := replicas(t, rr, bucket, key); len(got) != 0 {
		t.Fatalf("after a Put whose body ended early, Replicas lists %d versions, want none", len(got))
	}
	// The same source version, whole this time, is then written.
	vid := put(t, d, r, data)
	got := replicas(t, rr, bucket, key)
	if len(got) != 1 {
		t.Fatalf("after a failed and a good Put, Replicas lists %d versions, want 1", len(got))
	}
	checkReplica(t, got[0], r, vid, data)
}

func testMissingBucket(t *testing.T, d ports.Destination, _ ports.ReplicaReader, _ string) {
	data := randomData(10)
	r := newReplica(unique("no-such-bucket"), "key", data)
	_, err := d.Put(ctxFor(t), r, bytes.NewReader(data))
	if !errors.Is(err, domain.ErrPermanent) {
		t.Fatalf("Put to a bucket that does not exist: err = %v, want one wrapping domain.ErrPermanent", err)
	}
}

// RunSource checks the ports.ObjectSource contract. newSource is called
// once per case; it returns the source, a function writing a new version
// of an object in the source (failing the test itself on error) and
// returning its version id, and an existing versioned bucket.
func RunSource(t *testing.T, newSource func(t *testing.T) (src ports.ObjectSource, put func(bucket, key string, data []byte) (versionID string), bucket string)) {
	t.Helper()
	cases := []struct {
		name string
		fn   func(t *testing.T, src ports.ObjectSource, put func(bucket, key string, data []byte) string, bucket string)
	}{
		{"OpenVersion", testOpenVersion},
		{"LargeObject", testLargeSource},
		{"MissingIsPermanent", testMissingSource},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			src, put, bucket := newSource(t)
			c.fn(t, src, put, bucket)
		})
	}
}

func readAll(t *testing.T, src ports.ObjectSource, bucket, key, vid string) []byte {
	t.Helper()
	rc, err := src.Open(ctxFor(t), bucket, key, vid)
	if err != nil {
		t.Fatalf("Open(%s/%s %s): %v", bucket, key, vid, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s/%s %s: %v", bucket, key, vid, err)
	}
	return data
}

func testOpenVersion(t *testing.T, src ports.ObjectSource, put func(bucket, key string, data []byte) string, bucket string) {
	key := unique("dir/versioned object")
	old, newer := randomData(777), randomData(555)
	v1 := put(bucket, key, old)
	v2 := put(bucket, key, newer)
	if v1 == v2 || v1 == "" || v2 == "" {
		t.Fatalf("two writes returned version ids %q and %q, want two distinct ones", v1, v2)
	}
	if got := readAll(t, src, bucket, key, v1); !bytes.Equal(got, old) {
		t.Fatalf("Open of the older version returned %d bytes not matching the %d written", len(got), len(old))
	}
	if got := readAll(t, src, bucket, key, v2); !bytes.Equal(got, newer) {
		t.Fatalf("Open of the newer version returned %d bytes not matching the %d written", len(got), len(newer))
	}
	empty := put(bucket, key, []byte{})
	if got := readAll(t, src, bucket, key, empty); len(got) != 0 {
		t.Fatalf("Open of an empty version returned %d bytes", len(got))
	}
}

func testLargeSource(t *testing.T, src ports.ObjectSource, put func(bucket, key string, data []byte) string, bucket string) {
	key := unique("large")
	data := randomData(LargeSize)
	vid := put(bucket, key, data)
	if got := readAll(t, src, bucket, key, vid); !bytes.Equal(got, data) {
		t.Fatalf("Open of a %d-byte version returned %d bytes (sha256 %x), want sha256 %x", len(data), len(got), sha256.Sum256(got), sha256.Sum256(data))
	}
}

func testMissingSource(t *testing.T, src ports.ObjectSource, put func(bucket, key string, data []byte) string, bucket string) {
	key := unique("present")
	vid := put(bucket, key, randomData(10))
	otherKey := unique("absent")
	otherVID := put(bucket, otherKey, randomData(10))
	for _, c := range []struct{ what, bucket, key, vid string }{
		{"a version of another key", bucket, key, otherVID},
		{"a key never written", bucket, unique("never"), vid},
		{"a bucket that does not exist", unique("no-such-bucket"), key, vid},
	} {
		rc, err := src.Open(ctxFor(t), c.bucket, c.key, c.vid)
		if err == nil {
			rc.Close()
			t.Errorf("Open of %s succeeded, want an error wrapping domain.ErrPermanent", c.what)
			continue
		}
		if !errors.Is(err, domain.ErrPermanent) {
			t.Errorf("Open of %s: err = %v, want one wrapping domain.ErrPermanent", c.what, err)
		}
	}
}

func setTags(t *testing.T, d ports.Destination, r ports.Replica, hint string) (string, bool) {
	t.Helper()
	vid, changed, err := d.SetTags(ctxFor(t), r, hint)
	if err != nil {
		t.Fatalf("SetTags(%s/%s, source version %s, hint %q): %v", r.Bucket, r.Key, r.SourceVersionID, hint, err)
	}
	return vid, changed
}

// replicaOf returns the one stored version replicating r.
func replicaOf(t *testing.T, rr ports.ReplicaReader, r ports.Replica) (ports.StoredReplica, int) {
	t.Helper()
	all := replicas(t, rr, r.Bucket, r.Key)
	for _, got := range all {
		if got.SourceVersionID == r.SourceVersionID && !got.IsDeleteMarker {
			return got, len(all)
		}
	}
	t.Fatalf("no replica of %s among the %d versions of %s/%s", r.SourceVersionID, len(all), r.Bucket, r.Key)
	return ports.StoredReplica{}, 0
}

func testSetTags(t *testing.T, d ports.Destination, rr ports.ReplicaReader, bucket string) {
	key := unique("set-tags")
	data1, data2 := randomData(300), randomData(400)
	r1, r2 := newReplica(bucket, key, data1), newReplica(bucket, key, data2)
	v1 := put(t, d, r1, data1)
	v2 := put(t, d, r2, data2)

	// The older version, found by a search (no hint), then by a wrong hint.
	r1.Tags = map[string]string{"team": "compute", "new": "tag value"}
	if vid, changed := setTags(t, d, r1, ""); vid != v1 || !changed {
		t.Fatalf("SetTags of the older version = %q, changed %v; want %q, true", vid, changed, v1)
	}
	if vid, changed := setTags(t, d, r1, v2); vid != v1 || changed {
		t.Fatalf("SetTags again with a wrong hint = %q, changed %v; want %q, false (already there)", vid, changed, v1)
	}
	got, n := replicaOf(t, rr, r1)
	if n != 2 {
		t.Fatalf("after SetTags the key holds %d versions, want 2: SetTags wrote a version", n)
	}
	checkReplica(t, got, r1, v1, data1)
	if other, _ := replicaOf(t, rr, r2); !maps.Equal(other.Tags, r2.Tags) {
		t.Fatalf("SetTags of one version changed the tags of another: %v, want %v", other.Tags, r2.Tags)
	}

	// Removing every tag, with the right hint.
	r1.Tags = nil
	if vid, changed := setTags(t, d, r1, v1); vid != v1 || !changed {
		t.Fatalf("SetTags to no tags = %q, changed %v; want %q, true", vid, changed, v1)
	}
	got, _ = replicaOf(t, rr, r1)
	checkReplica(t, got, r1, v1, data1)
}

func testSetTagsBelowMarker(t *testing.T, d ports.Destination, rr ports.ReplicaReader, bucket string) {
	key := unique("tags-below-marker")
	data := randomData(100)
	r := newReplica(bucket, key, data)
	v := put(t, d, r, data)
	marker := ports.Replica{Bucket: bucket, Key: key, SourceVersionID: unique("src-marker"), IsDeleteMarker: true}
	put(t, d, marker, nil)
	r.Tags = map[string]string{"hidden": "yes"}
	if vid, changed := setTags(t, d, r, ""); vid != v || !changed {
		t.Fatalf("SetTags below a delete marker = %q, changed %v; want %q, true", vid, changed, v)
	}
	got, n := replicaOf(t, rr, r)
	if n != 2 {
		t.Fatalf("after SetTags the key holds %d versions, want 2", n)
	}
	checkReplica(t, got, r, v, data)
	if all := replicas(t, rr, bucket, key); !all[len(all)-1].IsDeleteMarker {
		t.Fatal("the delete marker is no longer the latest version")
	}
}

func testSetTagsNoReplica(t *testing.T, d ports.Destination, rr ports.ReplicaReader, bucket string) {
	key := unique("tags-no-replica")
	r := newReplica(bucket, key, randomData(10))
	if _, _, err := d.SetTags(ctxFor(t), r, ""); !errors.Is(err, ports.ErrNoReplica) {
		t.Fatalf("SetTags of a key never written: err = %v, want ports.ErrNoReplica", err)
	}
	otherData := randomData(10)
	put(t, d, newReplica(bucket, key, otherData), otherData)
	if _, _, err := d.SetTags(ctxFor(t), r, ""); !errors.Is(err, ports.ErrNoReplica) {
		t.Fatalf("SetTags of a version never written, beside another: err = %v, want ports.ErrNoReplica", err)
	}
	if n := len(replicas(t, rr, bucket, key)); n != 1 {
		t.Fatalf("SetTags without a replica left %d versions, want 1", n)
	}
}

// withHeaders gives r every header S3 replication carries.
func withHeaders(r ports.Replica) ports.Replica {
	r.Headers = domain.Headers{
		CacheControl: "max-age=3600, public", ContentDisposition: `attachment; filename="report.pdf"`,
		ContentEncoding: "identity", ContentLanguage: "fr-CA",
		Expires: "Wed, 21 Oct 2037 07:28:00 GMT", WebsiteRedirectLocation: "/other/page.html",
	}
	return r
}

// checkHeaders compares headers, Expires as a time (servers render it
// their own way).
func checkHeaders(t *testing.T, got, want ports.Replica) {
	t.Helper()
	gt, gok := got.Headers.ExpiresTime()
	wt, wok := want.Headers.ExpiresTime()
	if gok != wok || !gt.Equal(wt) {
		t.Errorf("replica of %s has Expires %q, want %q", want.SourceVersionID, got.Headers.Expires, want.Headers.Expires)
	}
	g, w := got.Headers, want.Headers
	g.Expires, w.Expires = "", ""
	if g != w {
		t.Errorf("replica of %s has headers %+v, want %+v", want.SourceVersionID, g, w)
	}
}

func testHeaders(t *testing.T, d ports.Destination, rr ports.ReplicaReader, bucket string) {
	for _, size := range []int{100, LargeSize} {
		key := unique("headers")
		data := randomData(size)
		r := withHeaders(newReplica(bucket, key, data))
		vid := put(t, d, r, data)
		got, _ := replicaOf(t, rr, r)
		checkReplica(t, got, r, vid, data)
		checkHeaders(t, got.Replica, r)
		if got.Lock.IsSet() {
			t.Errorf("replica of %s has object lock settings %+v, none were asked", r.SourceVersionID, got.Lock)
		}
	}
}

func testLockRefused(t *testing.T, d ports.Destination, rr ports.ReplicaReader, bucket string) {
	key := unique("lock-refused")
	data := randomData(100)
	r := newReplica(bucket, key, data)
	r.Lock = domain.Lock{Mode: domain.LockGovernance, RetainUntil: time.Now().Add(time.Minute).UTC().Truncate(time.Second)}
	_, err := d.Put(ctxFor(t), r, bytes.NewReader(data))
	if !errors.Is(err, domain.ErrPermanent) || !strings.Contains(strings.ToLower(err.Error()), "object lock") {
		t.Fatalf("Put with retention to a bucket without object lock: err = %v, want a permanent error naming object lock", err)
	}
	if n := len(replicas(t, rr, bucket, key)); n != 0 {
		t.Fatalf("the refused Put left %d versions", n)
	}
}

// RunLockedDestination checks that object-lock settings reach the
// replica. newDest returns a destination and an existing versioned bucket
// with object lock enabled. Retention is short (GOVERNANCE, a minute) so
// that the versions can be cleaned up after.
func RunLockedDestination(t *testing.T, newDest func(t *testing.T) (dst ports.Destination, read ports.ReplicaReader, bucket string)) {
	t.Helper()
	t.Run("LockIsCarried", func(t *testing.T) {
		t.Parallel()
		d, rr, bucket := newDest(t)
		until := time.Now().Add(time.Minute).UTC().Truncate(time.Second)
		for i, lock := range []domain.Lock{
			{Mode: domain.LockGovernance, RetainUntil: until},
			{LegalHold: true},
			{Mode: domain.LockGovernance, RetainUntil: until, LegalHold: true},
		} {
			key := unique("locked")
			data := randomData(64 + i)
			r := withHeaders(newReplica(bucket, key, data))
			r.Lock = lock
			vid := put(t, d, r, data)
			got, _ := replicaOf(t, rr, r)
			checkReplica(t, got, r, vid, data)
			if g := got.Lock; g.Mode != lock.Mode || !g.RetainUntil.Equal(lock.RetainUntil) || g.LegalHold != lock.LegalHold {
				t.Errorf("replica has object lock %+v, want %+v", g, lock)
			}
		}
	})
}
