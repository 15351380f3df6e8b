package metadatatest

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// RunScanner checks the ports.VersionScanner contract. newStore returns a
// scanner and a writer sharing their data; it is called once per case and
// registers its own cleanup with t.
//
//	metadatatest.RunScanner(t, func(t *testing.T) (ports.VersionScanner, ports.MetadataWriter) {
//		s := newStore(t)
//		return s, s
//	})
func RunScanner(t *testing.T, newStore func(t *testing.T) (ports.VersionScanner, ports.MetadataWriter)) {
	t.Helper()
	cases := []struct {
		name string
		fn   func(t *testing.T, s ports.VersionScanner, w ports.MetadataWriter)
	}{
		{"WalksVersionsInOrderV0", func(t *testing.T, s ports.VersionScanner, w ports.MetadataWriter) { testScanOrder(t, s, w, "v0") }},
		{"WalksVersionsInOrderV1", func(t *testing.T, s ports.VersionScanner, w ports.MetadataWriter) { testScanOrder(t, s, w, "v1") }},
		{"PrefixV0", func(t *testing.T, s ports.VersionScanner, w ports.MetadataWriter) { testScanPrefix(t, s, w, "v0") }},
		{"PrefixV1", func(t *testing.T, s ports.VersionScanner, w ports.MetadataWriter) { testScanPrefix(t, s, w, "v1") }},
		{"ResumesAfterAnyRef", testScanResume},
		{"EmptyBucket", testScanEmpty},
		{"UnknownBucketIsNotFound", testScanUnknown},
		{"ReturnsWholeVersions", testScanWhole},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s, w := newStore(t)
			c.fn(t, s, w)
		})
	}
}

// scanKeys are keys whose order exercises the separator: "a" sorts before
// "a b", "a/b" and "ab", and each of their version documents sorts in the
// same order.
var scanKeys = []string{"a", "a b", "a/b", "a/b/c", "ab", "b/é", "b/x.y$z", "c"}

// writeScanBucket writes versions of scanKeys (two of each of the first
// keys, a delete marker on one) and returns them in walk order.
func writeScanBucket(t *testing.T, w ports.MetadataWriter, vFormat string) (string, []domain.VersionRef) {
	t.Helper()
	bucket := newBucket(t, w, vFormat)
	var refs []domain.VersionRef
	for i, key := range scanKeys {
		vids := []string{"v2-" + key, "v1-" + key}
		if i%2 == 1 {
			vids = vids[:1]
		}
		for _, vid := range vids {
			v := newVersion(bucket, key, vid)
			if key == "a/b" && strings.HasPrefix(vid, "v1") {
				v.IsDeleteMarker, v.Size, v.ContentMD5 = true, 0, ""
			}
			putVersion(t, w, v)
			refs = append(refs, domain.VersionRef{Key: key, VersionID: vid})
		}
	}
	slices.SortFunc(refs, func(a, b domain.VersionRef) int {
		if a.Less(b) {
			return -1
		}
		return 1
	})
	return bucket, refs
}

// walk pages through bucket with limit, checking each page's size.
func walk(t *testing.T, s ports.VersionScanner, bucket, prefix string, after domain.VersionRef, limit int) []domain.VersionRef {
	t.Helper()
	var got []domain.VersionRef
	for range 1000 {
		page, err := s.ScanVersions(ctxFor(t), bucket, prefix, after, limit)
		if err != nil {
			t.Fatalf("ScanVersions(%s, %q, %v, %d): %v", bucket, prefix, after, limit, err)
		}
		if len(page) > limit {
			t.Fatalf("ScanVersions returned %d versions, limit %d", len(page), limit)
		}
		for _, v := range page {
			if v.Err != nil {
				t.Fatalf("version %s %s: %v", v.Key, v.VersionID, v.Err)
			}
			if v.Bucket != bucket {
				t.Fatalf("version %s %s of bucket %q, want %q", v.Key, v.VersionID, v.Bucket, bucket)
			}
			got = append(got, v.Ref())
		}
		if len(page) < limit {
			return got
		}
		after = page[len(page)-1].Ref()
	}
	t.Fatal("the walk did not end after 1000 pages")
	return nil
}

func wantRefs(t *testing.T, what string, got, want []domain.VersionRef) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s:\n got  %v\n want %v", what, got, want)
	}
}

func count(t *testing.T, s ports.VersionScanner, bucket, prefix string) int64 {
	t.Helper()
	n, err := s.CountVersions(ctxFor(t), bucket, prefix)
	if err != nil {
		t.Fatalf("CountVersions(%s, %q): %v", bucket, prefix, err)
	}
	return n
}

func testScanOrder(t *testing.T, s ports.VersionScanner, w ports.MetadataWriter, vFormat string) {
	bucket, refs := writeScanBucket(t, w, vFormat)
	for _, limit := range []int{1, 3, len(refs), 100} {
		wantRefs(t, "walk with limit "+strings.Repeat("I", min(limit, 5)), walk(t, s, bucket, "", domain.VersionRef{}, limit), refs)
	}
	if n := count(t, s, bucket, ""); n != int64(len(refs)) {
		t.Fatalf("CountVersions = %d, want %d", n, len(refs))
	}
}

func testScanPrefix(t *testing.T, s ports.VersionScanner, w ports.MetadataWriter, vFormat string) {
	bucket, refs := writeScanBucket(t, w, vFormat)
	for _, prefix := range []string{"a", "a/", "b/", "a/b", "zz"} {
		var want []domain.VersionRef
		for _, r := range refs {
			if strings.HasPrefix(r.Key, prefix) {
				want = append(want, r)
			}
		}
		wantRefs(t, "walk of prefix "+prefix, walk(t, s, bucket, prefix, domain.VersionRef{}, 2), want)
		if n := count(t, s, bucket, prefix); n != int64(len(want)) {
			t.Fatalf("CountVersions(%q) = %d, want %d", prefix, n, len(want))
		}
	}
}

func testScanResume(t *testing.T, s ports.VersionScanner, w ports.MetadataWriter) {
	bucket, refs := writeScanBucket(t, w, "v0")
	for i, r := range refs {
		wantRefs(t, "walk after "+r.Key+" "+r.VersionID, walk(t, s, bucket, "", r, 2), refs[i+1:])
	}
	// A ref that names no version resumes at the next one.
	gap := domain.VersionRef{Key: "a/b", VersionID: "v15"}
	var want []domain.VersionRef
	for _, r := range refs {
		if gap.Less(r) {
			want = append(want, r)
		}
	}
	wantRefs(t, "walk after a ref of no version", walk(t, s, bucket, "", gap, 3), want)
	wantRefs(t, "walk after a key with no version id", walk(t, s, bucket, "", domain.VersionRef{Key: "ab"}, 3), refs[slices.IndexFunc(refs, func(r domain.VersionRef) bool { return r.Key == "ab" }):])
}

func testScanEmpty(t *testing.T, s ports.VersionScanner, w ports.MetadataWriter) {
	bucket := newBucket(t, w, "v0")
	wantRefs(t, "walk of an empty bucket", walk(t, s, bucket, "", domain.VersionRef{}, 10), nil)
	if n := count(t, s, bucket, ""); n != 0 {
		t.Fatalf("CountVersions of an empty bucket = %d", n)
	}
}

func testScanUnknown(t *testing.T, s ports.VersionScanner, _ ports.MetadataWriter) {
	_, err := s.ScanVersions(ctxFor(t), unique("no-such-bucket"), "", domain.VersionRef{}, 10)
	if !errors.Is(err, ports.ErrNotFound) {
		t.Fatalf("ScanVersions of an unknown bucket: %v, want ErrNotFound", err)
	}
	if _, err := s.CountVersions(ctxFor(t), unique("no-such-bucket"), ""); !errors.Is(err, ports.ErrNotFound) {
		t.Fatalf("CountVersions of an unknown bucket: %v, want ErrNotFound", err)
	}
}

func testScanWhole(t *testing.T, s ports.VersionScanner, w ports.MetadataWriter) {
	bucket := newBucket(t, w, "v1")
	v := newVersion(bucket, "dir/key", "vid-1")
	v.Replication = domain.ReplicationInfo{}
	putVersion(t, w, v)
	page, err := s.ScanVersions(ctxFor(t), bucket, "", domain.VersionRef{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 1 || page[0].Err != nil {
		t.Fatalf("ScanVersions = %+v, want one version", page)
	}
	wantVersion(t, "scanned version", page[0].ObjectVersion, v)
}
