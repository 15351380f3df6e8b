package s3site

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	mrand "math/rand/v2"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/openbackbeat/backbeat/adapters/internal/stacktest"
	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
	"github.com/openbackbeat/backbeat/ports/objectstest"
)

// The local stack's versitygw servers (e2e/stack/stack.sh). Set
// BACKBEAT_TEST_S3_SOURCE / BACKBEAT_TEST_S3_SITE_A (host:port) to test
// other servers.
var (
	sourceAddr = envOr("BACKBEAT_TEST_S3_SOURCE", "127.0.0.1:17000")
	siteAAddr  = envOr("BACKBEAT_TEST_S3_SITE_A", "127.0.0.1:17001")
)

const (
	testAccessKey = "backbeat"
	testSecretKey = "backbeat-secret-key"
)

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// requireS3 skips the test, loudly, when the S3 server at addr does not
// answer, and fails it at once when CI=true: in CI every service must be up.
func requireS3(t testing.TB, addr string) {
	t.Helper()
	svc := stacktest.S3SiteA
	if addr == sourceAddr {
		svc = stacktest.S3Source
	}
	stacktest.Require(t, svc, addr)
}

// newTestClient returns a client of the server at addr with the test
// credentials, closed when the test ends.
func newTestClient(t testing.TB, addr string, tune ...func(*Config)) *Client {
	t.Helper()
	requireS3(t, addr)
	cfg := Config{Endpoint: "http://" + addr, AccessKey: testAccessKey, SecretKey: testSecretKey}
	for _, f := range tune {
		f(&cfg)
	}
	c, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

var notBucketChars = regexp.MustCompile(`[^a-z0-9]+`)

// uniqueName returns a valid bucket name unique to this test run.
func uniqueName(t testing.TB) string {
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	name := strings.Trim(notBucketChars.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(name) > 40 {
		name = name[:40]
	}
	return "s3site-" + name + "-" + hex.EncodeToString(rnd[:])
}

// testBucket creates a versioned bucket unique to the test on c.
func testBucket(t testing.TB, c *Client) string {
	t.Helper()
	b := uniqueName(t)
	if err := c.EnsureVersionedBucket(context.Background(), b); err != nil {
		t.Fatalf("EnsureVersionedBucket(%s): %v", b, err)
	}
	t.Cleanup(func() { dropBucket(t, c, b) })
	return b
}

// dropBucket deletes every version and delete marker of bucket, then the
// bucket, when the test ends, passed or failed, so that runs do not fill
// the stack's disk. What object lock keeps is logged, not fatal.
func dropBucket(t testing.TB, c *Client, bucket string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		page, err := c.s3.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: &bucket})
		if err != nil {
			t.Logf("drop bucket %s: list: %v", bucket, err)
			return
		}
		var ids []types.ObjectIdentifier
		for _, v := range page.Versions {
			ids = append(ids, types.ObjectIdentifier{Key: v.Key, VersionId: v.VersionId})
		}
		for _, m := range page.DeleteMarkers {
			ids = append(ids, types.ObjectIdentifier{Key: m.Key, VersionId: m.VersionId})
		}
		if len(ids) == 0 {
			break
		}
		// One page at a time, listed again after each delete (paging on
		// while deleting leaves versions behind on versitygw).
		gone := 0
		for _, id := range ids {
			if _, err := c.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: id.Key, VersionId: id.VersionId}); err == nil {
				gone++
			}
		}
		if gone == 0 {
			t.Logf("drop bucket %s: %d versions cannot be deleted (object lock?)", bucket, len(ids))
			return
		}
	}
	if _, err := c.s3.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &bucket}); err != nil {
		t.Logf("drop bucket %s: %v", bucket, err)
	}
}

func md5Hex(data []byte) string {
	sum := md5.Sum(data)
	return hex.EncodeToString(sum[:])
}

// replicaOf describes data as the replicator would.
func replicaOf(bucket, key, sourceVersion string, data []byte) ports.Replica {
	return ports.Replica{
		Bucket: bucket, Key: key, SourceVersionID: sourceVersion, Size: int64(len(data)),
		ContentType: "application/octet-stream", ContentMD5: md5Hex(data),
	}
}

func versionCount(t *testing.T, rr *ReplicaReader, bucket, key string) int {
	t.Helper()
	reps, err := rr.Replicas(context.Background(), bucket, key)
	if err != nil {
		t.Fatalf("Replicas: %v", err)
	}
	return len(reps)
}

// contractTune sends the contract suites' large objects (12 MiB) through
// multipart uploads.
func contractTune(c *Config) { c.MultipartThreshold = 8 * MiB; c.PartSize = 5 * MiB }

func TestDestinationContract(t *testing.T) {
	objectstest.RunDestination(t, func(t *testing.T) (ports.Destination, ports.ReplicaReader, string) {
		c := newTestClient(t, siteAAddr, contractTune)
		return c.Destination(), c.ReplicaReader(), testBucket(t, c)
	})
}

func TestLockedDestinationContract(t *testing.T) {
	objectstest.RunLockedDestination(t, func(t *testing.T) (ports.Destination, ports.ReplicaReader, string) {
		c := newTestClient(t, siteAAddr, contractTune)
		b := uniqueName(t)
		if err := c.EnsureLockedBucket(context.Background(), b); err != nil {
			t.Fatalf("EnsureLockedBucket(%s): %v", b, err)
		}
		t.Cleanup(func() { dropBucket(t, c, b) })
		return c.Destination(), c.ReplicaReader(), b
	})
}

func TestSourceContract(t *testing.T) {
	objectstest.RunSource(t, func(t *testing.T) (ports.ObjectSource, func(bucket, key string, data []byte) string, string) {
		c := newTestClient(t, sourceAddr, contractTune)
		put := func(bucket, key string, data []byte) string {
			t.Helper()
			vid, err := c.PutObject(context.Background(), bucket, key, bytes.NewReader(data), int64(len(data)), "application/octet-stream", nil, nil)
			if err != nil {
				t.Fatalf("PutObject(%s/%s): %v", bucket, key, err)
			}
			return vid
		}
		return c.Source(), put, testBucket(t, c)
	})
}

func TestPutRoundTripsMetadataTagsAndContentType(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newTestClient(t, siteAAddr)
	bucket := testBucket(t, c)
	dst, rr := c.Destination(), c.ReplicaReader()

	for _, key := range []string{"plain", "dir/sub/file.txt", "with space+plus%percent", "unicodé/ключ", "empty"} {
		data := []byte("data of " + key)
		if key == "empty" {
			data = nil
		}
		r := replicaOf(bucket, key, "src-"+key, data)
		r.ContentType = "text/x-test; charset=utf-8"
		r.UserMeta = map[string]string{"color": "blue", "owner-name": "Ann Lee"}
		r.Tags = map[string]string{"project": "crr test", "stage": "a+b=c", "k/v": "x:y@z"}
		vid, err := dst.Put(ctx, r, bytes.NewReader(data))
		if err != nil {
			t.Fatalf("Put %q: %v", key, err)
		}
		if vid == "" {
			t.Fatalf("Put %q returned no version id", key)
		}
		reps, err := rr.Replicas(ctx, bucket, key)
		if err != nil {
			t.Fatalf("Replicas %q: %v", key, err)
		}
		if len(reps) != 1 {
			t.Fatalf("key %q holds %d versions, want 1", key, len(reps))
		}
		got := reps[0]
		if got.VersionID != vid || got.SourceVersionID != r.SourceVersionID || !bytes.Equal(got.Data, data) ||
			got.ContentType != r.ContentType || got.Size != int64(len(data)) {
			t.Errorf("key %q: stored %+v, want version %s of %+v", key, got, vid, r)
		}
		wantMeta := maps.Clone(r.UserMeta)
		wantMeta[domain.ReplicaMetaKey] = "REPLICA"
		wantMeta[domain.SourceVersionMetaKey] = r.SourceVersionID
		if !maps.Equal(got.UserMeta, wantMeta) {
			t.Errorf("key %q: user metadata %v, want %v", key, got.UserMeta, wantMeta)
		}
		if fmt.Sprint(got.Tags) != fmt.Sprint(r.Tags) {
			t.Errorf("key %q: tags %v, want %v", key, got.Tags, r.Tags)
		}
		head, err := c.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String(key), VersionId: &vid})
		if err != nil {
			t.Fatal(err)
		}
		if head.Metadata[domain.ReplicaMetaKey] != "REPLICA" || head.Metadata[domain.SourceVersionMetaKey] != r.SourceVersionID {
			t.Errorf("key %q: replication markers missing: %v", key, head.Metadata)
		}
	}
}

func TestSourceOpenStreamsVersion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newTestClient(t, sourceAddr)
	bucket := testBucket(t, c)
	v1, err := c.PutObject(ctx, bucket, "k", strings.NewReader("one"), 3, "text/plain", map[string]string{"m": "1"}, map[string]string{"t": "1"})
	if err != nil {
		t.Fatal(err)
	}
	v2, err := c.PutObject(ctx, bucket, "k", strings.NewReader("two!"), 4, "text/plain", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v1 == "" || v2 == "" || v1 == v2 {
		t.Fatalf("PutObject returned versions %q and %q", v1, v2)
	}
	for vid, want := range map[string]string{v1: "one", v2: "two!"} {
		rc, err := c.Source().Open(ctx, bucket, "k", vid)
		if err != nil {
			t.Fatalf("Open %s: %v", vid, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(got) != want {
			t.Errorf("version %s: %q, %v; want %q", vid, got, err, want)
		}
	}
}

func TestPutIsIdempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newTestClient(t, siteAAddr)
	bucket := testBucket(t, c)
	dst, rr := c.Destination(), c.ReplicaReader()
	put := func(r ports.Replica, data []byte) string {
		t.Helper()
		var body io.Reader
		if !r.IsDeleteMarker {
			body = bytes.NewReader(data)
		}
		vid, err := dst.Put(ctx, r, body)
		if err != nil {
			t.Fatalf("Put %s: %v", r.SourceVersionID, err)
		}
		return vid
	}

	t.Run("replay of the latest version", func(t *testing.T) {
		c := newTestClient(t, siteAAddr)
		calls := countCalls(c)
		r := replicaOf(bucket, "latest", "s1", []byte("v1"))
		first, err := c.Destination().Put(ctx, r, strings.NewReader("v1"))
		if err != nil {
			t.Fatal(err)
		}
		if got := calls(); !maps.Equal(got, map[string]int{"HeadObject": 1, "PutObject": 1}) {
			t.Errorf("a new key cost %v, want one HeadObject and one PutObject", got)
		}
		if again := put(r, []byte("v1")); again != first {
			t.Errorf("replay returned %s, first put %s", again, first)
		}
		if n := versionCount(t, rr, bucket, "latest"); n != 1 {
			t.Errorf("%d versions after a replay, want 1", n)
		}
	})
	t.Run("replay of an older version", func(t *testing.T) {
		v1 := put(replicaOf(bucket, "older", "s1", []byte("one")), []byte("one"))
		put(replicaOf(bucket, "older", "s2", []byte("two")), []byte("two"))
		put(replicaOf(bucket, "older", "s3", []byte("one")), []byte("one")) // same data, another version
		if again := put(replicaOf(bucket, "older", "s1", []byte("one")), []byte("one")); again != v1 {
			t.Errorf("replay of s1 returned %s, want %s", again, v1)
		}
		if n := versionCount(t, rr, bucket, "older"); n != 3 {
			t.Errorf("%d versions, want 3", n)
		}
	})
	t.Run("delete marker replay", func(t *testing.T) {
		put(replicaOf(bucket, "deleted", "s1", []byte("one")), []byte("one"))
		dm := put(ports.Replica{Bucket: bucket, Key: "deleted", SourceVersionID: "s2", IsDeleteMarker: true}, nil)
		if again := put(ports.Replica{Bucket: bucket, Key: "deleted", SourceVersionID: "s2", IsDeleteMarker: true}, nil); again != dm {
			t.Errorf("replay of the delete marker returned %s, want %s", again, dm)
		}
		if n := versionCount(t, rr, bucket, "deleted"); n != 2 {
			t.Errorf("%d versions, want 2", n)
		}
	})
	t.Run("multipart replay", func(t *testing.T) {
		c := newTestClient(t, siteAAddr, func(c *Config) { c.MultipartThreshold = 6 * MiB; c.PartSize = 5 * MiB })
		data := bytes.Repeat([]byte("0123456789abcdef"), 7*MiB/16)
		r := replicaOf(bucket, "big", "s1", data)
		first, err := c.Destination().Put(ctx, r, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		r2 := replicaOf(bucket, "big", "s2", []byte("small"))
		if _, err := c.Destination().Put(ctx, r2, strings.NewReader("small")); err != nil {
			t.Fatal(err)
		}
		again, err := c.Destination().Put(ctx, r, bytes.NewReader(data))
		if err != nil || again != first {
			t.Errorf("replay of a multipart replica: %s, %v; want %s", again, err, first)
		}
		if n := versionCount(t, rr, bucket, "big"); n != 2 {
			t.Errorf("%d versions, want 2", n)
		}
	})
	t.Run("check off writes again", func(t *testing.T) {
		c := newTestClient(t, siteAAddr, func(c *Config) { c.SkipExistingCheck = true })
		r := replicaOf(bucket, "unchecked", "s1", []byte("x"))
		a, err1 := c.Destination().Put(ctx, r, strings.NewReader("x"))
		b, err2 := c.Destination().Put(ctx, r, strings.NewReader("x"))
		if err := errors.Join(err1, err2); err != nil {
			t.Fatal(err)
		}
		if a == b || versionCount(t, rr, bucket, "unchecked") != 2 {
			t.Errorf("with the check off a replay should write a second version")
		}
	})
}

// TestReplayOfASuffixEndsInTheSourceState replays, as a restarted
// replicator does, every version of a key from some point on, in order,
// and checks that the destination ends as the source (latest version) and
// that without delete markers nothing is written twice.
func TestReplayOfASuffixEndsInTheSourceState(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newTestClient(t, siteAAddr)
	bucket := testBucket(t, c)
	dst, rr := c.Destination(), c.ReplicaReader()
	for _, seq := range []string{"ddd", "dDd", "dDdd", "ddD", "Dd", "dDDd", "dDdDd"} { // d: data, D: delete marker
		for from := range len(seq) {
			key := fmt.Sprintf("%s-from-%d", seq, from)
			t.Run(key, func(t *testing.T) {
				t.Parallel()
				replicate := func(i int) {
					t.Helper()
					r := ports.Replica{Bucket: bucket, Key: key, SourceVersionID: fmt.Sprint("s", i)}
					var body io.Reader
					if seq[i] == 'D' {
						r.IsDeleteMarker = true
					} else {
						data := []byte(fmt.Sprint("data ", i))
						r.Size, r.ContentMD5, body = int64(len(data)), md5Hex(data), bytes.NewReader(data)
					}
					if _, err := dst.Put(ctx, r, body); err != nil {
						t.Fatalf("%s: put %d: %v", key, i, err)
					}
				}
				for i := range len(seq) {
					replicate(i)
				}
				before := versionCount(t, rr, bucket, key)
				for i := from; i < len(seq); i++ {
					replicate(i)
				}
				reps, err := rr.Replicas(ctx, bucket, key)
				if err != nil {
					t.Fatal(err)
				}
				last := seq[len(seq)-1]
				switch latest := reps[len(reps)-1]; {
				case last == 'D' && !latest.IsDeleteMarker:
					t.Errorf("%s: the latest version is %s, want a delete marker", key, latest.SourceVersionID)
				case last == 'd' && latest.SourceVersionID != fmt.Sprint("s", len(seq)-1):
					t.Errorf("%s: the latest version replicates %q (marker %v), want s%d", key, latest.SourceVersionID, latest.IsDeleteMarker, len(seq)-1)
				}
				if !strings.Contains(seq[from:], "D") && len(reps) != before {
					t.Errorf("%s: the replay wrote %d versions, want none", key, len(reps)-before)
				}
				t.Logf("%s: %d versions before the replay, %d after", key, before, len(reps))
			})
		}
	}
}

func TestDeleteMarker(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newTestClient(t, siteAAddr)
	bucket := testBucket(t, c)
	dst, rr := c.Destination(), c.ReplicaReader()
	if _, err := dst.Put(ctx, replicaOf(bucket, "k", "s1", []byte("a")), strings.NewReader("a")); err != nil {
		t.Fatal(err)
	}
	dm, err := dst.Put(ctx, ports.Replica{Bucket: bucket, Key: "k", SourceVersionID: "s2", IsDeleteMarker: true}, nil)
	if err != nil || dm == "" {
		t.Fatalf("delete marker: %q, %v", dm, err)
	}
	reps, err := rr.Replicas(ctx, bucket, "k")
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != 2 || !reps[1].IsDeleteMarker || reps[1].VersionID != dm {
		t.Errorf("replicas %+v; want data then marker %s", reps, dm)
	}
	if n, err := rr.CountVersions(ctx, bucket); err != nil || n != 2 {
		t.Errorf("CountVersions = %d, %v; want the version and the marker, 2", n, err)
	}
	// A marker for a key the destination never held: versitygw adds none.
	vid, err := dst.Put(ctx, ports.Replica{Bucket: bucket, Key: "never", SourceVersionID: "s3", IsDeleteMarker: true}, nil)
	if err != nil {
		t.Errorf("delete marker of an absent key: %q, %v", vid, err)
	}
	t.Logf("delete marker of an absent key returned version %q", vid)
}

// removeAfter deletes a big object version when the test ends, so that
// runs do not fill the stack's disk.
func removeAfter(t *testing.T, c *Client, bucket, key, versionID string) {
	if versionID == "" {
		return
	}
	t.Cleanup(func() {
		_, err := c.s3.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: &bucket, Key: &key, VersionId: &versionID})
		if err != nil {
			t.Logf("remove %s/%s version %s: %v", bucket, key, versionID, err)
		}
	})
}

// patternReader is size bytes of a deterministic pseudo-random stream.
func patternReader(seed uint64, size int64) io.Reader {
	var s [32]byte
	s[0] = byte(seed)
	return io.LimitReader(mrand.NewChaCha8(s), size)
}

// heapPeak samples the Go heap in use every 10 ms until stop is called,
// which returns the highest sample.
func heapPeak() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	sample := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if ms.HeapInuse > peak.Load() {
			peak.Store(ms.HeapInuse)
		}
	}
	wg.Go(func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			sample()
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	return func() uint64 {
		close(done)
		wg.Wait()
		sample()
		return peak.Load()
	}
}

func TestMultipartCopyOf100MiBKeepsMemoryFlat(t *testing.T) {
	// Not parallel: the heap is measured for the whole process.
	ctx := context.Background()
	const size = 100 * MiB
	tune := func(c *Config) { c.PartSize = 8 * MiB; c.MaxPartsInFlight = 4 } // 32 MiB of buffers
	src := newTestClient(t, sourceAddr, tune)
	dst := newTestClient(t, siteAAddr, tune)
	srcBucket, dstBucket := testBucket(t, src), testBucket(t, dst)

	// Write the source object, streamed and hashed on the way.
	want := sha256.New()
	wantMD5 := md5.New()
	body := io.TeeReader(patternReader(1, size), io.MultiWriter(want, wantMD5))
	start := time.Now()
	srcVersion, err := src.PutObject(ctx, srcBucket, "big", body, size, "application/octet-stream", map[string]string{"m": "v"}, map[string]string{"t": "v"})
	if err != nil {
		t.Fatalf("put source object: %v", err)
	}
	t.Logf("source multipart upload of 100 MiB: %s", time.Since(start))
	removeAfter(t, src, srcBucket, "big", srcVersion)

	// Copy it as the replicator does: Open on the source, Put on the site.
	// Two collections empty the pools' victim caches (the source upload's
	// part buffers), so that only the copy's memory is measured.
	runtime.GC()
	runtime.GC()
	stop := heapPeak()
	start = time.Now()
	rc, err := src.Source().Open(ctx, srcBucket, "big", srcVersion)
	if err != nil {
		t.Fatal(err)
	}
	r := ports.Replica{Bucket: dstBucket, Key: "big", SourceVersionID: srcVersion, Size: size,
		ContentType: "application/octet-stream", ContentMD5: hex.EncodeToString(wantMD5.Sum(nil)),
		UserMeta: map[string]string{"m": "v"}, Tags: map[string]string{"t": "v"}}
	dstVersion, err := dst.Destination().Put(ctx, r, rc)
	rc.Close()
	removeAfter(t, dst, dstBucket, "big", dstVersion)
	elapsed := time.Since(start)
	peak := stop()
	if err != nil {
		t.Fatalf("copy: %v", err)
	}
	t.Logf("copy of 100 MiB source -> site-a: %s (%.0f MiB/s), peak Go heap in use %.1f MiB", elapsed, size/MiB/elapsed.Seconds(), float64(peak)/MiB)
	if peak >= 64*MiB {
		t.Errorf("peak heap in use %.1f MiB during the copy, want < 64 MiB", float64(peak)/MiB)
	}

	// Read the replica back, streamed, and compare digests.
	out, err := dst.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: &dstBucket, Key: aws.String("big"), VersionId: &dstVersion})
	if err != nil {
		t.Fatal(err)
	}
	got := sha256.New()
	n, err := io.Copy(got, out.Body)
	out.Body.Close()
	if err != nil || n != size {
		t.Fatalf("read back %d bytes, %v", n, err)
	}
	if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Error("the replica's bytes differ from the source's")
	}
	if aws.ToString(out.ContentType) != "application/octet-stream" || out.Metadata["m"] != "v" || out.Metadata[domain.SourceVersionMetaKey] != srcVersion {
		t.Errorf("replica metadata: %v %v", aws.ToString(out.ContentType), out.Metadata)
	}
	if etag := aws.ToString(out.ETag); !strings.HasSuffix(strings.Trim(etag, `"`), "-13") {
		t.Errorf("ETag %s: want a 13-part multipart upload", etag)
	}
}

// failingReader yields n bytes, then fails.
type failingReader struct {
	n   int64
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, f.err
	}
	p = p[:min(int64(len(p)), f.n)]
	clear(p)
	f.n -= int64(len(p))
	return len(p), nil
}

func TestBrokenSourceStream(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newTestClient(t, siteAAddr, func(c *Config) { c.MultipartThreshold = 6 * MiB; c.PartSize = 5 * MiB })
	bucket := testBucket(t, c)
	dst := c.Destination()
	broken := errors.New("connection reset by the source")
	for _, tc := range []struct {
		name      string
		size      int64
		body      io.Reader
		permanent bool
	}{
		{"single, stream breaks", 1000, &failingReader{n: 500, err: broken}, false},
		{"single, stream short", 1000, strings.NewReader("short"), false},
		{"single, stream long", 5, strings.NewReader("longer than five"), true},
		{"multipart, stream breaks", 20 * MiB, &failingReader{n: 12 * MiB, err: broken}, false},
		{"multipart, stream short", 20 * MiB, io.LimitReader(&failingReader{n: 30 * MiB}, 19*MiB), false},
		{"multipart, stream long", 7 * MiB, &failingReader{n: 8 * MiB}, true},
	} {
		key := strings.ReplaceAll(tc.name, ", ", "-")
		r := ports.Replica{Bucket: bucket, Key: key, SourceVersionID: "s1", Size: tc.size}
		_, err := dst.Put(ctx, r, tc.body)
		if err == nil {
			t.Errorf("%s: Put succeeded", tc.name)
			continue
		}
		if got := errors.Is(err, domain.ErrPermanent); got != tc.permanent {
			t.Errorf("%s: permanent=%v, want %v: %v", tc.name, got, tc.permanent, err)
		}
		if n := versionCount(t, c.ReplicaReader(), bucket, key); n != 0 {
			t.Errorf("%s: a failed Put left %d versions", tc.name, n)
		}
		t.Logf("%s: %v", tc.name, err)
	}
	// Every failed multipart upload was aborted.
	ups, err := c.s3.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &bucket})
	if err != nil {
		t.Fatal(err)
	}
	if len(ups.Uploads) != 0 {
		t.Errorf("%d multipart uploads left behind", len(ups.Uploads))
	}
}

func TestContentMD5IsChecked(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newTestClient(t, siteAAddr, func(c *Config) { c.MultipartThreshold = 6 * MiB; c.PartSize = 5 * MiB })
	bucket := testBucket(t, c)
	for _, size := range []int{100, 7 * MiB} {
		data := bytes.Repeat([]byte{'x'}, size)
		r := replicaOf(bucket, fmt.Sprint("k", size), "s1", data)
		r.ContentMD5 = md5Hex([]byte("other data"))
		_, err := c.Destination().Put(ctx, r, bytes.NewReader(data))
		if err == nil {
			t.Errorf("size %d: data not matching the source's MD5 was written", size)
			continue
		}
		if errors.Is(err, domain.ErrPermanent) {
			t.Errorf("size %d: a digest mismatch should be retried: %v", size, err)
		}
		if n := versionCount(t, c.ReplicaReader(), bucket, r.Key); n != 0 {
			t.Errorf("size %d: %d versions written", size, n)
		}
	}
}

func TestPermanentErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newTestClient(t, siteAAddr)
	bucket := testBucket(t, c)
	missing := uniqueName(t) + "-missing"
	wrong := newTestClient(t, siteAAddr, func(c *Config) { c.SecretKey = "wrong-secret" })
	unknown := newTestClient(t, siteAAddr, func(c *Config) { c.AccessKey = "nobody" })

	vid, err := c.PutObject(ctx, bucket, "k", strings.NewReader("x"), 1, "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	dm, err := c.Destination().Put(ctx, ports.Replica{Bucket: bucket, Key: "k", SourceVersionID: "s", IsDeleteMarker: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	small := replicaOf(missing, "k", "s1", []byte("x"))
	for _, tc := range []struct {
		name string
		code string
		err  func() error
	}{
		{"put to a missing bucket", "NoSuchBucket", func() error {
			_, err := c.Destination().Put(ctx, small, strings.NewReader("x"))
			return err
		}},
		{"delete marker in a missing bucket", "NoSuchBucket", func() error {
			_, err := c.Destination().Put(ctx, ports.Replica{Bucket: missing, Key: "k", SourceVersionID: "s", IsDeleteMarker: true}, nil)
			return err
		}},
		{"open in a missing bucket", "NoSuchBucket", func() error {
			_, err := c.Source().Open(ctx, missing, "k", vid)
			return err
		}},
		{"open a missing key", "NoSuchKey", func() error {
			_, err := c.Source().Open(ctx, bucket, "nothing", "")
			return err
		}},
		{"open a missing version", "NoSuch", func() error {
			_, err := c.Source().Open(ctx, bucket, "k", "01M88XZMBM1PC564CMN4BYVNCR")
			return err
		}},
		{"open a delete marker", "MethodNotAllowed", func() error {
			_, err := c.Source().Open(ctx, bucket, "k", dm)
			return err
		}},
		// The existence check's HeadObject fails first: a 403 without body.
		{"put with a wrong secret", "Forbidden", func() error {
			_, err := wrong.Destination().Put(ctx, replicaOf(bucket, "k2", "s1", []byte("x")), strings.NewReader("x"))
			return err
		}},
		{"open with a wrong secret", "SignatureDoesNotMatch", func() error {
			_, err := wrong.Source().Open(ctx, bucket, "k", vid)
			return err
		}},
		// versitygw answers XAdminUserNotFound where S3 says InvalidAccessKeyId.
		{"open with an unknown key id", "", func() error {
			_, err := unknown.Source().Open(ctx, bucket, "k", vid)
			return err
		}},
		{"replica without a source version", "", func() error {
			_, err := c.Destination().Put(ctx, ports.Replica{Bucket: bucket, Key: "k"}, strings.NewReader(""))
			return err
		}},
	} {
		err := tc.err()
		if !errors.Is(err, domain.ErrPermanent) {
			t.Errorf("%s: %v, want a permanent error", tc.name, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.code) {
			t.Errorf("%s: %v, want the S3 code %s in the message", tc.name, err, tc.code)
		}
	}
}

func TestUnreachableServerIsTransient(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, err := New(ctx, Config{Endpoint: "http://127.0.0.1:1", AccessKey: testAccessKey, SecretKey: testSecretKey})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, openErr := c.Source().Open(ctx, "b", "k", "v")
	_, putErr := c.Destination().Put(ctx, replicaOf("b", "k", "s", []byte("x")), strings.NewReader("x"))
	_, markErr := c.Destination().Put(ctx, ports.Replica{Bucket: "b", Key: "k", SourceVersionID: "s", IsDeleteMarker: true}, nil)
	for name, err := range map[string]error{"open": openErr, "put": putErr, "delete marker": markErr} {
		if err == nil || domain.Classify(err) != domain.Transient {
			t.Errorf("%s on a closed port: %v, want a transient error", name, err)
		}
	}
}

func TestCancelledPutStopsAndAborts(t *testing.T) {
	t.Parallel()
	c := newTestClient(t, siteAAddr, func(c *Config) { c.MultipartThreshold = 6 * MiB; c.PartSize = 5 * MiB })
	bucket := testBucket(t, c)
	ctx, cancel := context.WithCancel(context.Background())
	// The body cancels the copy once 12 MiB were read: parts are in flight.
	body := &cancellingReader{r: patternReader(2, 50*MiB), after: 12 * MiB, cancel: cancel}
	_, err := c.Destination().Put(ctx, ports.Replica{Bucket: bucket, Key: "k", SourceVersionID: "s", Size: 50 * MiB}, body)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Put after cancel: %v, want context.Canceled", err)
	}
	ups, err := c.s3.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &bucket})
	if err != nil {
		t.Fatal(err)
	}
	if len(ups.Uploads) != 0 {
		t.Errorf("%d multipart uploads left after cancel", len(ups.Uploads))
	}
}

type cancellingReader struct {
	r      io.Reader
	after  int64
	read   int64
	cancel func()
}

func (c *cancellingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read += int64(n)
	if c.read >= c.after {
		c.cancel()
	}
	return n, err
}

// TestVersitygwBehaviour pins the behaviour of versitygw the adapter
// relies on or works around (see the package comment), so that an upgrade
// that changes it shows up here.
func TestVersitygwBehaviour(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newTestClient(t, siteAAddr)
	bucket := testBucket(t, c)
	put := func(key, data string) string {
		out, err := c.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(key), Body: strings.NewReader(data),
			Metadata: map[string]string{"Mixed-Case": "V"}}, streaming)
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.VersionId) == "" {
			t.Error("versioned PutObject returned no VersionId")
		}
		return aws.ToString(out.VersionId)
	}
	v1, v2 := put("k", "1"), put("k", "2")
	put("k0", "other key")

	mpu, err := c.s3.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: aws.String("mpu")})
	if err != nil {
		t.Fatal(err)
	}
	part, err := c.s3.UploadPart(ctx, &s3.UploadPartInput{Bucket: &bucket, Key: aws.String("mpu"), UploadId: mpu.UploadId,
		PartNumber: aws.Int32(1), Body: strings.NewReader("part"), ContentLength: aws.Int64(4)}, streaming)
	if err != nil {
		t.Fatal(err)
	}
	done, err := c.s3.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: aws.String("mpu"), UploadId: mpu.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{ETag: part.ETag, PartNumber: aws.Int32(1)}}}})
	if err != nil || aws.ToString(done.VersionId) == "" {
		t.Errorf("versioned CompleteMultipartUpload returned version %q, %v", aws.ToString(done.VersionId), err)
	}

	head, err := c.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("k")})
	if err != nil || aws.ToString(head.VersionId) != v2 || head.Metadata["mixed-case"] != "V" {
		t.Errorf("HeadObject: version %s (want %s), metadata %v (want lower-cased keys), %v", aws.ToString(head.VersionId), v2, head.Metadata, err)
	}
	del, err := c.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: aws.String("k")})
	if err != nil || aws.ToString(del.VersionId) == "" || !aws.ToBool(del.DeleteMarker) {
		t.Errorf("DeleteObject: %+v, %v", del, err)
	}
	_, err = c.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("k")})
	if !isNotFound(err) {
		t.Errorf("HeadObject of a key whose latest version is a delete marker: %v, want 404", err)
	}
	absent, err := c.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: aws.String("absent")})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("DeleteObject of an absent key: version %q, marker %v (AWS S3 would add a marker)", aws.ToString(absent.VersionId), aws.ToBool(absent.DeleteMarker))

	vs, err := c.listVersions(ctx, bucket, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, v := range vs {
		ids = append(ids, v.id)
	}
	if want := []string{aws.ToString(del.VersionId), v2, v1}; !slices.Equal(ids, want) {
		t.Errorf("versions of k newest first: %v, want %v", ids, want)
	}
	list, err := c.s3.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: &bucket, Prefix: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range list.Versions {
		t.Logf("listed version %s %s latest=%v modified=%s", aws.ToString(v.Key), aws.ToString(v.VersionId), aws.ToBool(v.IsLatest), v.LastModified.Format(time.RFC3339Nano))
	}
	for _, m := range list.DeleteMarkers {
		t.Logf("listed marker  %s %s latest=%v modified=%s", aws.ToString(m.Key), aws.ToString(m.VersionId), aws.ToBool(m.IsLatest), m.LastModified.Format(time.RFC3339Nano))
	}
}

// BenchmarkPut measures what the existence check costs a 4 KiB replica
// write, 16 writers: new keys with the check off and on (HeadObject 404,
// then PutObject), a replay (HeadObject finds it, nothing is written), and
// a new version of existing keys (HeadObject, ListObjectVersions,
// PutObject). go test -run '^$' -bench Put ./adapters/s3site
func BenchmarkPut(b *testing.B) {
	ctx := context.Background()
	data := bytes.Repeat([]byte("x"), 4<<10)
	checked := newTestClient(b, siteAAddr)
	unchecked := newTestClient(b, siteAAddr, func(c *Config) { c.SkipExistingCheck = true })
	bucket := testBucket(b, checked)
	// put writes b.N replicas, the i-th under key(i), 16 at a time.
	put := func(b *testing.B, c *Client, key func(i int64) string, source string) {
		var next atomic.Int64
		b.SetParallelism(8) // x GOMAXPROCS (2 here): 16 writers
		b.SetBytes(int64(len(data)))
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				k := key(next.Add(1))
				if _, err := c.Destination().Put(ctx, replicaOf(bucket, k, source+k, data), bytes.NewReader(data)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	const replayed = 200
	fresh := func(prefix string) func(int64) string {
		return func(i int64) string { return fmt.Sprintf("%s/%06d", prefix, i) }
	}
	b.Run("new-key/check-off", func(b *testing.B) { put(b, unchecked, fresh("off"), "s1-") })
	b.Run("new-key/check-on", func(b *testing.B) { put(b, checked, fresh("on"), "s1-") })
	for i := range int64(replayed) { // the versions the replay finds
		k := fresh("replay")(i)
		if _, err := checked.Destination().Put(ctx, replicaOf(bucket, k, "s1-"+k, data), bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("replay/check-on", func(b *testing.B) {
		put(b, checked, func(i int64) string { return fresh("replay")(i % replayed) }, "s1-")
	})
	b.Run("new-version/check-off", func(b *testing.B) { put(b, unchecked, fresh("off"), "s2-") })
	b.Run("new-version/check-on", func(b *testing.B) { put(b, checked, fresh("on"), "s2-") })
}

// TestReplayUnderManyVersions replays a replica that sits under 40 newer
// versions of the same size: it is found, and the MD5 ETags spare a
// HeadObject of the others.
func TestReplayUnderManyVersions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newTestClient(t, siteAAddr)
	bucket := testBucket(t, c)
	dst := c.Destination()
	data := func(i int) []byte { return []byte(fmt.Sprintf("version %02d", i)) }
	first, err := dst.Put(ctx, replicaOf(bucket, "k", "s0", data(0)), bytes.NewReader(data(0)))
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 40; i++ {
		if _, err := dst.Put(ctx, replicaOf(bucket, "k", fmt.Sprint("s", i), data(i)), bytes.NewReader(data(i))); err != nil {
			t.Fatal(err)
		}
	}
	calls := countCalls(c)
	again, err := dst.Put(ctx, replicaOf(bucket, "k", "s0", data(0)), bytes.NewReader(data(0)))
	if err != nil || again != first {
		t.Errorf("replay under 40 newer versions: %s, %v; want %s", again, err, first)
	}
	if got := calls(); got["HeadObject"] != 2 || got["ListObjectVersions"] != 1 || got["PutObject"] != 0 {
		t.Errorf("the replay made calls %v, want HeadObject of the latest and of the match, one listing, no write", got)
	}
}

// countCalls makes c count its S3 operations from now on; the returned
// function reports them.
func countCalls(c *Client) func() map[string]int {
	var mu sync.Mutex
	counts := map[string]int{}
	opts := c.s3.Options()
	opts.APIOptions = append(slices.Clone(opts.APIOptions), func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("countCalls",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				mu.Lock()
				counts[awsmiddleware.GetOperationName(ctx)]++
				mu.Unlock()
				return next.HandleInitialize(ctx, in)
			}), middleware.After)
	})
	c.s3 = s3.New(opts)
	return func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(counts)
	}
}
