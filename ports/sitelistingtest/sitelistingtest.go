// Package sitelistingtest is the contract suite of ports.SiteListing, run
// by every site adapter:
//
//	sitelistingtest.Run(t, func(t *testing.T) sitelistingtest.Site {
//		return sitelistingtest.Site{Listing: l, Dest: dst, Bucket: newVersionedBucket(t), PutForeign: put}
//	})
//
// Each case writes in a bucket of its own and runs in parallel.
package sitelistingtest

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
	shared "github.com/openbackbeat/backbeat/ports/internal/suite"
)

// Site is one site as the suite uses it: the listing under test, and ways
// to write what it lists.
type Site struct {
	Listing ports.SiteListing
	// Dest writes replicas, as replicators do.
	Dest ports.Destination
	// Bucket is a versioned, empty bucket of this test only.
	Bucket string
	// PutForeign writes a version without replica markers, as any client
	// of the site could, and returns its version id.
	PutForeign func(ctx context.Context, key string, data []byte, tags map[string]string) (string, error)
}

const timeout = 2 * time.Minute

// Run runs the contract cases, each on a fresh Site from newSite.
func Run(t *testing.T, newSite func(t *testing.T) Site) {
	t.Helper()
	shared.Run(t, newSite, []shared.Case[Site]{
		{Name: "PagesJoinIntoTheWholeListingInKeyOrder", Fn: testPages},
		{Name: "PrefixAndResumePositions", Fn: testPositions},
		{Name: "SizeETagAndLatest", Fn: testSizeETag},
		{Name: "ReplicaMarkers", Fn: testMarkers},
		{Name: "Tags", Fn: testTags},
		{Name: "MissingBucket", Fn: testMissingBucket},
		{Name: "EmptyBucket", Fn: testEmptyBucket},
	})
}

func md5Hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// put writes a replica of data (a delete marker when data is nil) and
// returns its version id at the site.
func put(t *testing.T, ctx context.Context, s Site, key, sourceVersion string, data []byte, tags map[string]string) string {
	t.Helper()
	r := ports.Replica{
		Bucket: s.Bucket, Key: key, SourceVersionID: sourceVersion, Size: int64(len(data)),
		ContentType: "application/octet-stream", ContentMD5: md5Hex(data), Tags: tags, IsDeleteMarker: data == nil,
	}
	var body io.Reader
	if data != nil {
		body = bytes.NewReader(data)
	} else {
		r.ContentMD5, r.ContentType = "", ""
	}
	vid, err := s.Dest.Put(ctx, r, body)
	if err != nil {
		t.Fatalf("Put %s of %s: %v", key, sourceVersion, err)
	}
	return vid
}

func foreign(t *testing.T, ctx context.Context, s Site, key string, data []byte, tags map[string]string) string {
	t.Helper()
	vid, err := s.PutForeign(ctx, key, data, tags)
	if err != nil {
		t.Fatalf("PutForeign %s: %v", key, err)
	}
	return vid
}

// listAll lists bucket under prefix from after in pages of limit.
func listAll(t *testing.T, ctx context.Context, s Site, prefix string, after ports.ListPosition, limit int) []domain.SiteVersion {
	t.Helper()
	var out []domain.SiteVersion
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("the listing does not end")
		}
		p, err := s.Listing.ListVersions(ctx, s.Bucket, prefix, after, limit)
		if err != nil {
			t.Fatalf("ListVersions(%q, %+v, %d): %v", prefix, after, limit, err)
		}
		if len(p.Versions) > limit {
			t.Fatalf("a page of %d versions, limit %d", len(p.Versions), limit)
		}
		out = append(out, p.Versions...)
		if !p.More {
			return out
		}
		if p.Next == after {
			t.Fatalf("the listing does not move from %+v", after)
		}
		after = p.Next
	}
}

// shape renders a listing key by key: its data versions in order, its
// delete markers sorted (their place among the data versions is not part
// of the contract), and its latest version.
func shape(t *testing.T, vs []domain.SiteVersion) []string {
	t.Helper()
	var out []string
	var key string
	var data, markers []string
	latest := ""
	flush := func() {
		if key == "" && len(data)+len(markers) == 0 {
			return
		}
		slices.Sort(markers)
		out = append(out, fmt.Sprintf("%s data=%v markers=%v latest=%s", key, data, markers, latest))
	}
	for i, v := range vs {
		if i > 0 && v.Key < vs[i-1].Key {
			t.Fatalf("key %q listed after %q", v.Key, vs[i-1].Key)
		}
		if i == 0 || v.Key != key {
			flush()
			key, data, markers, latest = v.Key, nil, nil, ""
		}
		if v.IsDeleteMarker {
			markers = append(markers, v.VersionID)
		} else {
			data = append(data, v.VersionID)
		}
		if v.IsLatest {
			if latest != "" {
				t.Fatalf("key %q has two latest versions: %s and %s", v.Key, latest, v.VersionID)
			}
			latest = v.VersionID
		}
	}
	if len(vs) > 0 {
		flush()
	}
	return out
}

// fixture writes keys a (three versions), ab, b (data under a delete
// marker) and c (foreign), and returns the shape expected of the listing.
// (No key is the parent "directory" of another: a posix backend such as
// versitygw's cannot hold both a and a/b.)
func fixture(t *testing.T, ctx context.Context, s Site) []string {
	t.Helper()
	a1 := put(t, ctx, s, "a", "s-a1", []byte("a one"), nil)
	a2 := put(t, ctx, s, "a", "s-a2", []byte("a two"), nil)
	a3 := put(t, ctx, s, "a", "s-a3", []byte("a three"), nil)
	ab := put(t, ctx, s, "ab", "s-ab", []byte("ab"), nil)
	b1 := put(t, ctx, s, "b", "s-b1", []byte("bee"), nil)
	bm := put(t, ctx, s, "b", "s-bm", nil, nil)
	c1 := foreign(t, ctx, s, "c", []byte("sea"), nil)
	return []string{
		fmt.Sprintf("a data=%v markers=[] latest=%s", []string{a3, a2, a1}, a3),
		fmt.Sprintf("ab data=[%s] markers=[] latest=%s", ab, ab),
		fmt.Sprintf("b data=[%s] markers=[%s] latest=%s", b1, bm, bm),
		fmt.Sprintf("c data=[%s] markers=[] latest=%s", c1, c1),
	}
}

func testPages(t *testing.T, s Site) {
	ctx := shared.Context(t, timeout)
	want := fixture(t, ctx, s)
	for _, limit := range []int{1000, 1, 2, 3, 5} {
		got := shape(t, listAll(t, ctx, s, "", ports.ListPosition{}, limit))
		if !slices.Equal(got, want) {
			t.Fatalf("pages of %d:\n got %q\nwant %q", limit, got, want)
		}
	}
}

func testPositions(t *testing.T, s Site) {
	ctx := shared.Context(t, timeout)
	want := fixture(t, ctx, s)
	if got := shape(t, listAll(t, ctx, s, "a", ports.ListPosition{}, 2)); !slices.Equal(got, want[:2]) {
		t.Fatalf("prefix a: got %q, want %q", got, want[:2])
	}
	if got := shape(t, listAll(t, ctx, s, "ab", ports.ListPosition{}, 2)); !slices.Equal(got, want[1:2]) {
		t.Fatalf("prefix ab: got %q, want %q", got, want[1:2])
	}
	if got := shape(t, listAll(t, ctx, s, "", ports.ListPosition{Key: "a"}, 2)); !slices.Equal(got, want[1:]) {
		t.Fatalf("after key a: got %q, want %q", got, want[1:])
	}
	// After a's newest version: the two older ones, then the other keys.
	all := listAll(t, ctx, s, "", ports.ListPosition{}, 1000)
	rest := listAll(t, ctx, s, "", ports.ListPosition{Key: "a", VersionID: all[0].VersionID}, 1)
	if len(rest) != len(all)-1 || rest[0].VersionID != all[1].VersionID {
		t.Fatalf("after a's newest version: got %d versions starting with %+v, want %d starting with %s", len(rest), rest[0], len(all)-1, all[1].VersionID)
	}
}

func testSizeETag(t *testing.T, s Site) {
	ctx := shared.Context(t, timeout)
	data := []byte("some bytes")
	vid := put(t, ctx, s, "k", "s-1", data, nil)
	empty := put(t, ctx, s, "k", "s-2", []byte{}, nil)
	all := listAll(t, ctx, s, "", ports.ListPosition{}, 1000)
	if len(all) != 2 {
		t.Fatalf("listed %+v", all)
	}
	byID := map[string]domain.SiteVersion{all[0].VersionID: all[0], all[1].VersionID: all[1]}
	if v := byID[vid]; v.Size != int64(len(data)) || domain.NormalizeETag(v.ETag) != md5Hex(data) || v.IsLatest || v.IsDeleteMarker {
		t.Fatalf("version %+v: want size %d, ETag %s, not latest", v, len(data), md5Hex(data))
	}
	if v := byID[empty]; v.Size != 0 || domain.NormalizeETag(v.ETag) != md5Hex(nil) || !v.IsLatest {
		t.Fatalf("empty version %+v: want size 0, the MD5 of nothing, latest", v)
	}
}

func testMarkers(t *testing.T, s Site) {
	ctx := shared.Context(t, timeout)
	rep := put(t, ctx, s, "k", "source-version-1", []byte("replica"), nil)
	fgn := foreign(t, ctx, s, "k", []byte("foreign"), nil)
	dm := put(t, ctx, s, "k", "source-marker", nil, nil)
	m, err := s.Listing.ReplicaMarkers(ctx, s.Bucket, "k", rep)
	if err != nil || m != (domain.ReplicaMarkers{Replica: true, SourceVersionID: "source-version-1"}) {
		t.Fatalf("markers of the replica: %+v, %v", m, err)
	}
	if m, err := s.Listing.ReplicaMarkers(ctx, s.Bucket, "k", fgn); err != nil || m != (domain.ReplicaMarkers{}) {
		t.Fatalf("markers of a foreign version: %+v, %v", m, err)
	}
	if _, err := s.Listing.ReplicaMarkers(ctx, s.Bucket, "k", dm); !errors.Is(err, ports.ErrNotFound) {
		t.Fatalf("markers of a delete marker: %v, want ErrNotFound", err)
	}
	if _, err := s.Listing.ReplicaMarkers(ctx, s.Bucket, "nokey", rep); !errors.Is(err, ports.ErrNotFound) {
		t.Fatalf("markers of a missing version: %v, want ErrNotFound", err)
	}
}

func testTags(t *testing.T, s Site) {
	ctx := shared.Context(t, timeout)
	tags := map[string]string{"color": "red", "a.b": "x y", "team": "ops/1"}
	rep := put(t, ctx, s, "k", "s-1", []byte("replica"), tags)
	bare := put(t, ctx, s, "k", "s-2", []byte("bare"), nil)
	fgn := foreign(t, ctx, s, "f", []byte("foreign"), map[string]string{"owner": "me"})
	for _, c := range []struct {
		key, vid string
		want     map[string]string
	}{{"k", rep, tags}, {"k", bare, nil}, {"f", fgn, map[string]string{"owner": "me"}}} {
		got, err := s.Listing.Tags(ctx, s.Bucket, c.key, c.vid)
		if err != nil || !domain.TagsEqual(got, c.want) {
			t.Fatalf("tags of %s %s: %v, %v; want %v", c.key, c.vid, got, err, c.want)
		}
	}
	// A change of tags in place shows at once.
	changed := maps.Clone(tags)
	changed["color"] = "blue"
	if _, _, err := s.Dest.SetTags(ctx, ports.Replica{Bucket: s.Bucket, Key: "k", SourceVersionID: "s-1", Size: 7, ContentMD5: md5Hex([]byte("replica")), Tags: changed}, rep); err != nil {
		t.Fatalf("SetTags: %v", err)
	}
	if got, err := s.Listing.Tags(ctx, s.Bucket, "k", rep); err != nil || !domain.TagsEqual(got, changed) {
		t.Fatalf("tags after a change: %v, %v", got, err)
	}
	if _, err := s.Listing.Tags(ctx, s.Bucket, "nokey", rep); !errors.Is(err, ports.ErrNotFound) {
		t.Fatalf("tags of a missing version: %v, want ErrNotFound", err)
	}
}

func testMissingBucket(t *testing.T, s Site) {
	ctx := shared.Context(t, timeout)
	_, err := s.Listing.ListVersions(ctx, s.Bucket+"-missing", "", ports.ListPosition{}, 10)
	if !errors.Is(err, ports.ErrNotFound) {
		t.Fatalf("listing a missing bucket: %v, want ErrNotFound", err)
	}
}

func testEmptyBucket(t *testing.T, s Site) {
	ctx := shared.Context(t, timeout)
	p, err := s.Listing.ListVersions(ctx, s.Bucket, "", ports.ListPosition{}, 10)
	if err != nil || len(p.Versions) != 0 || p.More {
		t.Fatalf("listing an empty bucket: %+v, %v", p, err)
	}
}
