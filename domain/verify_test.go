package domain

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

func verifyBucket() Bucket {
	return Bucket{Name: "src", VersioningEnabled: true, Replication: &ReplicationConfig{
		Role: "arn:aws:iam::1:role/r",
		Rules: []ReplicationRule{
			{ID: "other", Enabled: true, Prefix: "other/", DestinationBucket: "arn:aws:s3:::elsewhere", StorageClass: "site-a"},
			{ID: "off", Enabled: false, Prefix: "off/", DestinationBucket: "arn:aws:s3:::dst", StorageClass: "site-a"},
			{ID: "b-only", Enabled: true, Prefix: "bonly/", DestinationBucket: "arn:aws:s3:::dst", StorageClass: "site-b"},
			{ID: "all", Enabled: true, Prefix: "", DestinationBucket: "arn:aws:s3:::dst", StorageClass: "site-a,site-b"},
		},
	}}
}

var targetA = VerifyTarget{Site: "site-a", Bucket: "dst"}

func md5Of(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// sv is a source version: data (or marker when data is "<marker>"),
// written at minute n, with site-a's status and recorded replica id.
func sv(key, vid string, n int, data string, st Status, dsvid string, tags map[string]string) SourceVersion {
	v := ObjectVersion{Bucket: "src", Key: key, VersionID: vid, LastModified: t0.Add(time.Duration(n) * time.Minute), Tags: tags}
	if data == "<marker>" {
		v.IsDeleteMarker = true
	} else {
		v.Size, v.ContentMD5 = int64(len(data)), md5Of(data)
	}
	if st != StatusNone || dsvid != "" {
		v.Replication = ReplicationInfo{Status: StatusProcessing, Backends: []Backend{{Site: "site-a", Status: st, DataStoreVersionID: dsvid}}}
		if st == StatusFailed {
			v.Replication.Backends[0].Reason = "access denied"
		}
	}
	return SourceVersion{ObjectVersion: v}
}

// dv is a site data version; dm a site delete marker.
func dv(key, vid, data string, latest bool) SiteVersion {
	return SiteVersion{Key: key, VersionID: vid, Size: int64(len(data)), ETag: `"` + md5Of(data) + `"`, IsLatest: latest}
}

func dm(key, vid string, latest bool) SiteVersion {
	return SiteVersion{Key: key, VersionID: vid, IsDeleteMarker: true, IsLatest: latest}
}

// fakeSite answers a KeyCheck's questions.
type fakeSite struct {
	markers map[string]ReplicaMarkers // site version id ->
	tags    map[string]map[string]string
	gone    map[string]bool
	heads   []string
}

func (f *fakeSite) answer(t *testing.T, c *KeyCheck) KeyResult {
	t.Helper()
	for _, vid := range c.HeadsNeeded() {
		f.heads = append(f.heads, vid)
		c.SetMarkers(vid, f.markers[vid], !f.gone[vid])
	}
	need, err := c.TagsNeeded()
	if err != nil {
		t.Fatal(err)
	}
	for _, vid := range need {
		c.SetTags(vid, f.tags[vid], !f.gone[vid])
	}
	r, err := c.Result()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// verifyAll merges the pages and judges every key at site-a (site 0).
func verifyAll(t *testing.T, f *fakeSite, src [][]SourceVersion, site [][]SiteVersion) ([]Finding, []Repair, KeyResult) {
	t.Helper()
	var findings []Finding
	var repairs []Repair
	var sum KeyResult
	for _, kv := range mergeAll(t, src, site) {
		r := f.answer(t, NewKeyCheck(verifyBucket(), targetA, kv, 0))
		findings = append(findings, r.Findings...)
		repairs = append(repairs, r.Repairs...)
		sum.Compared += r.Compared
		sum.Listed += r.Listed
		sum.Heads += r.Heads
		sum.TagReads += r.TagReads
	}
	sort.Slice(findings, func(i, j int) bool { return findings[i].SortKey() < findings[j].SortKey() })
	return findings, repairs, sum
}

func brief(fs []Finding) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = fmt.Sprintf("%s %s@%s/%s", f.Kind, f.Key, f.VersionID, f.SiteVersionID)
	}
	return out
}

// TestVerifyEveryFindingKindAtAnyPagination judges one hand-made bucket
// and site with every kind of finding, the versions of several keys on
// both sides, cut into pages of every size: the verdict is the same.
func TestVerifyEveryFindingKindAtAnyPagination(t *testing.T) {
	red := map[string]string{"color": "red"}
	src := []SourceVersion{
		sv("a", "1", 1, "alpha", StatusCompleted, "ra1", red),                      // in sync
		sv("b", "1", 1, "beta", StatusCompleted, "rb1", nil),                       // missing, status-lies
		sv("c", "1", 1, "c-one", StatusCompleted, "rc1", nil),                      // in sync
		sv("c", "2", 2, "c-two", StatusCompleted, "rc2", nil),                      // in sync
		sv("c", "3", 3, "c-three", StatusCompleted, "rc3", red),                    // tags
		sv("d", "1", 1, "delta", StatusCompleted, "rd1", nil),                      // content, status-lies (rd2 on top)
		sv("e", "1", 1, "echo", StatusPending, "", nil),                            // pending
		sv("f", "1", 1, "fox", StatusFailed, "rf1", nil),                           // failed; its replica is no extra
		sv("h", "1", 1, "hotel", StatusNone, "", nil),                              // never replicated; found by content
		sv("i", "1", 1, "india", StatusCompleted, "ri1", nil),                      // in sync
		sv("i", "2", 2, "<marker>", StatusCompleted, "", nil),                      // marker: site has data on top
		sv("j", "1", 1, "juliet", StatusCompleted, "rj1", nil),                     // marker: site has a marker on top
		sv("k", "1", 1, "kilo", StatusCompleted, "rk1", nil),                       // in sync; rk9 names a version that is not
		sv("l", "1", 1, "same", StatusCompleted, "", nil),                          // two versions, same bytes, ids not
		sv("l", "2", 2, "same", StatusCompleted, "", nil),                          // recorded: HEADs tell them apart
		sv("n", "1", 1, "november", StatusReplica, "", nil),                        // a replica: not compared
		sv("o", "1", 1, "oscar", StatusCompleted, "ro1", nil),                      // in sync; ro2 is foreign, on top
		sv("other/x", "1", 1, "x-ray", StatusCompleted, "rx1", nil),                // another destination bucket
		{ObjectVersion: ObjectVersion{Key: "u", VersionID: "1"}, Unreadable: true}, // unreadable
	}
	src[15].Replication = ReplicationInfo{Status: StatusReplica}
	site := []SiteVersion{
		dv("a", "ra1", "alpha", true),
		dv("c", "rc3", "c-three", true),
		dv("c", "rc2", "c-two", false),
		dv("c", "rc1", "c-one", false),
		dv("d", "rd2", "forged", true),
		dv("d", "rd1", "delta", false),
		dv("f", "rf1", "fox", true),
		dv("g", "rg1", "golf", true), // extra: the source has no key g
		dv("h", "rh1", "hotel", true),
		dv("i", "ri1", "india", true),
		dm("j", "mj1", true),
		dv("j", "rj1", "juliet", false),
		dv("k", "rk9", "kilo-old", true), // extra: names version 9
		dv("k", "rk1", "kilo", false),
		dv("l", "rl2", "same", true),
		dv("l", "rl1", "same", false),
		dv("o", "ro2", "oscar", true), // extra: no markers, same bytes and key
		dv("o", "ro1", "oscar", false),
		dv("u", "ru1", "unreadable", true),
	}
	f := &fakeSite{
		markers: map[string]ReplicaMarkers{
			"rd2": {Replica: true, SourceVersionID: "1"},
			"rk9": {Replica: true, SourceVersionID: "9"},
			"rl1": {Replica: true, SourceVersionID: "1"},
			"rl2": {Replica: true, SourceVersionID: "2"},
			"ru1": {Replica: true, SourceVersionID: "1"},
		},
		tags: map[string]map[string]string{"ra1": red, "rc3": {"color": "blue"}},
	}
	want := []string{
		"status-lies b@1/", "status-lies d@1/rd2",
		"missing b@1/", "content d@1/rd2", "tags c@3/rc3",
		"marker i@2/ri1", "marker j@1/mj1",
		"pending e@1/", "failed f@1/",
		"extra g@/rg1", "extra k@/rk9", "extra o@/ro2",
	}
	wantRepairs := map[string]bool{
		"b@1 missing": true, "c@3 tags metadata": true, "d@1 content": true,
		"f@1 failed": true, "i@2 marker": true, "j@1 marker": true,
	}
	for ns := 1; ns <= len(src); ns++ {
		for nt := 1; nt <= len(site); nt++ {
			f.heads = nil
			findings, repairs, sum := verifyAll(t, f, paginate(src, ns), paginate(site, nt))
			if got := brief(findings); !reflect.DeepEqual(got, want) {
				t.Fatalf("pages of %d and %d:\n got %q\nwant %q", ns, nt, got, want)
			}
			got := map[string]bool{}
			for _, r := range repairs {
				s := fmt.Sprintf("%s@%s %s", r.Key, r.VersionID, r.Kind)
				if r.Metadata {
					s += " metadata"
				}
				got[s] = true
			}
			if !reflect.DeepEqual(got, wantRepairs) {
				t.Fatalf("repairs %v, want %v", got, wantRepairs)
			}
			// HEADs: the forged d, k's stranger, l's twins, o's foreign
			// version (same bytes as o@1, whose replica is recorded
			// elsewhere) and the replica of the unreadable version.
			if sort.Strings(f.heads); !reflect.DeepEqual(f.heads, []string{"rd2", "rk9", "rl1", "rl2", "ro2", "ru1"}) {
				t.Fatalf("HEADs %v", f.heads)
			}
			// Compared: every readable source version sent to site-a/dst
			// but the replica n and other/x.
			if sum.Compared != 16 || sum.Listed != int64(len(site)) || sum.Heads != 6 {
				t.Fatalf("compared %d listed %d heads %d", sum.Compared, sum.Listed, sum.Heads)
			}
		}
	}
}

// check judges one key with the given answers.
func check(t *testing.T, b Bucket, f *fakeSite, src []SourceVersion, site []SiteVersion) KeyResult {
	t.Helper()
	key := ""
	if len(src) > 0 {
		key = src[0].Key
	} else if len(site) > 0 {
		key = site[0].Key
	}
	if f == nil {
		f = &fakeSite{}
	}
	return f.answer(t, NewKeyCheck(b, targetA, KeyVersions{Key: key, Source: src, Sites: [][]SiteVersion{site}}, 0))
}

func TestKeyCheckCases(t *testing.T) {
	multipart := func(v SiteVersion) SiteVersion { v.ETag = `"0123456789abcdef0123456789abcdef-3"`; return v }
	cases := []struct {
		name   string
		bucket *Bucket
		src    []SourceVersion
		site   []SiteVersion
		f      *fakeSite
		want   []string
		heads  int64
	}{
		{name: "in sync by recorded id", src: []SourceVersion{sv("k", "1", 1, "x", StatusCompleted, "r1", nil)},
			site: []SiteVersion{dv("k", "r1", "x", true)}},
		{name: "multipart replica: the size decides, with the recorded id",
			src:  []SourceVersion{sv("k", "1", 1, "xyz", StatusCompleted, "r1", nil)},
			site: []SiteVersion{multipart(dv("k", "r1", "xyz", true))}},
		{name: "multipart replica, id not recorded: a HEAD",
			src:  []SourceVersion{sv("k", "1", 1, "xyz", StatusCompleted, "", nil)},
			site: []SiteVersion{multipart(dv("k", "r1", "xyz", true))},
			f:    &fakeSite{markers: map[string]ReplicaMarkers{"r1": {Replica: true, SourceVersionID: "1"}}}, heads: 1},
		{name: "recorded replica of another size", src: []SourceVersion{sv("k", "1", 1, "abc", StatusCompleted, "r1", nil)},
			site: []SiteVersion{dv("k", "r1", "abcd", true)}, want: []string{"status-lies k@1/r1", "content k@1/r1"}},
		{name: "never replicated and missing: no status-lies", src: []SourceVersion{sv("k", "1", 1, "x", StatusNone, "", nil)},
			want: []string{"missing k@1/"}},
		{name: "the recorded replica is gone, a duplicate holds it",
			src:  []SourceVersion{sv("k", "1", 1, "x", StatusCompleted, "r1", nil)},
			site: []SiteVersion{dv("k", "r2", "x", true)}},
		{name: "a HEAD finds the version deleted since the listing",
			src:  []SourceVersion{sv("k", "1", 1, "x", StatusCompleted, "", nil), sv("k", "2", 2, "x", StatusCompleted, "", nil)},
			site: []SiteVersion{dv("k", "r2", "x", true), dv("k", "r1", "x", false)},
			f:    &fakeSite{markers: map[string]ReplicaMarkers{"r2": {Replica: true, SourceVersionID: "2"}}, gone: map[string]bool{"r1": true}},
			want: []string{"status-lies k@1/", "missing k@1/"}, heads: 2},
		{name: "the replica is deleted while its tags are read",
			src:  []SourceVersion{sv("k", "1", 1, "x", StatusCompleted, "r1", nil)},
			site: []SiteVersion{dv("k", "r1", "x", true)}, f: &fakeSite{gone: map[string]bool{"r1": true}},
			want: []string{"status-lies k@1/", "missing k@1/"}},
		{name: "tags differ by an added tag", src: []SourceVersion{sv("k", "1", 1, "x", StatusCompleted, "r1", nil)},
			site: []SiteVersion{dv("k", "r1", "x", true)}, f: &fakeSite{tags: map[string]map[string]string{"r1": {"a": "1"}}},
			want: []string{"tags k@1/r1"}},
		{name: "tags with dots and dollars, equal", src: []SourceVersion{sv("k", "1", 1, "x", StatusCompleted, "r1", map[string]string{"a.b": "$1"})},
			site: []SiteVersion{dv("k", "r1", "x", true)}, f: &fakeSite{tags: map[string]map[string]string{"r1": {"a.b": "$1"}}}},
		{name: "only a delete marker at the source, nothing at the site",
			src: []SourceVersion{sv("k", "1", 1, "<marker>", StatusCompleted, "", nil)}},
		{name: "latest marker on both sides", src: []SourceVersion{sv("k", "1", 1, "x", StatusCompleted, "r1", nil), sv("k", "0", 2, "<marker>", StatusCompleted, "m1", nil)},
			site: []SiteVersion{dm("k", "m1", true), dv("k", "r1", "x", false)}},
		{name: "source marker pending: reported pending, not marker", src: []SourceVersion{sv("k", "1", 1, "x", StatusCompleted, "r1", nil), sv("k", "0", 2, "<marker>", StatusPending, "", nil)},
			site: []SiteVersion{dv("k", "r1", "x", true)}, want: []string{"pending k@0/"}},
		{name: "source marker and data missing at the site", src: []SourceVersion{sv("k", "1", 1, "x", StatusCompleted, "", nil), sv("k", "0", 2, "<marker>", StatusCompleted, "", nil)},
			want: []string{"status-lies k@1/", "missing k@1/", "marker k@0/"}},
		{name: "hidden markers are not compared", src: []SourceVersion{sv("k", "2", 1, "x", StatusCompleted, "r1", nil), sv("k", "1", 2, "<marker>", StatusCompleted, "", nil), sv("k", "0", 3, "y", StatusCompleted, "r2", nil)},
			site: []SiteVersion{dv("k", "r2", "y", true), dv("k", "r1", "x", false), dm("k", "m9", false)}},
		{name: "site marker on top of a missing latest: missing only", src: []SourceVersion{sv("k", "1", 1, "x", StatusCompleted, "r1", nil)},
			site: []SiteVersion{dm("k", "m1", true)}, want: []string{"status-lies k@1/", "missing k@1/"}},
		{name: "foreign key: extra without a HEAD", site: []SiteVersion{dv("z", "r1", "x", true), dm("z", "m1", false)},
			want: []string{"extra z@/r1"}},
		{name: "out of scope: disabled rule", bucket: &Bucket{Name: "src", VersioningEnabled: true, Replication: &ReplicationConfig{Rules: []ReplicationRule{
			{ID: "off", Enabled: false, Prefix: "off/", DestinationBucket: "arn:aws:s3:::dst", StorageClass: "site-a"},
			{ID: "on", Enabled: true, Prefix: "on/", DestinationBucket: "arn:aws:s3:::dst", StorageClass: "site-a"}}}},
			src:  []SourceVersion{sv("off/k", "1", 1, "x", StatusNone, "", nil)},
			site: []SiteVersion{dv("off/k", "r1", "x", true)}, want: []string{"extra off/k@/r1"}},
		{name: "out of scope: rule to another site", src: []SourceVersion{sv("bonly/k", "1", 1, "x", StatusNone, "", nil)}},
		{name: "a data version claiming to replicate a delete marker is extra",
			src:  []SourceVersion{sv("k", "1", 1, "x", StatusCompleted, "r1", nil), sv("k", "0", 2, "<marker>", StatusCompleted, "m1", nil)},
			site: []SiteVersion{dv("k", "r9", "zz", true), dm("k", "m1", false), dv("k", "r1", "x", false)},
			f:    &fakeSite{markers: map[string]ReplicaMarkers{"r9": {Replica: true, SourceVersionID: "0"}}},
			want: []string{"marker k@0/r9", "extra k@/r9"}, heads: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := verifyBucket()
			if tc.bucket != nil {
				b = *tc.bucket
			}
			r := check(t, b, tc.f, tc.src, tc.site)
			sort.Slice(r.Findings, func(i, j int) bool { return r.Findings[i].SortKey() < r.Findings[j].SortKey() })
			if got := brief(r.Findings); !reflect.DeepEqual(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			if r.Heads != tc.heads {
				t.Fatalf("%d HEADs, want %d", r.Heads, tc.heads)
			}
		})
	}
}

func TestKeyCheckAsksInOrder(t *testing.T) {
	src := []SourceVersion{sv("k", "1", 1, "x", StatusCompleted, "", nil), sv("k", "2", 2, "x", StatusCompleted, "", nil)}
	c := NewKeyCheck(verifyBucket(), targetA, KeyVersions{Key: "k", Source: src, Sites: [][]SiteVersion{{dv("k", "r1", "x", true)}}}, 0)
	if _, err := c.TagsNeeded(); !errors.Is(err, ErrUnanswered) {
		t.Fatalf("tags asked before the HEADs: %v", err)
	}
	if _, err := c.Result(); !errors.Is(err, ErrUnanswered) {
		t.Fatalf("result before the HEADs: %v", err)
	}
	c.SetMarkers("r1", ReplicaMarkers{Replica: true, SourceVersionID: "2"}, true)
	need, err := c.TagsNeeded()
	if err != nil || !reflect.DeepEqual(need, []string{"r1"}) {
		t.Fatalf("tags needed %v, %v", need, err)
	}
	if _, err := c.Result(); !errors.Is(err, ErrUnanswered) {
		t.Fatalf("result before the tags: %v", err)
	}
	c.SetTags("r1", nil, true)
	r, err := c.Result()
	if err != nil {
		t.Fatal(err)
	}
	if got := brief(r.Findings); !reflect.DeepEqual(got, []string{"status-lies k@1/", "missing k@1/"}) {
		t.Fatalf("got %q", got)
	}
}

func TestKeyCheckRepairsOldestFirstOncePerVersion(t *testing.T) {
	src := []SourceVersion{
		sv("k", "1", 3, "new", StatusCompleted, "", map[string]string{"a": "1"}),
		sv("k", "2", 2, "mid", StatusFailed, "", nil),
		sv("k", "3", 1, "old", StatusCompleted, "", nil),
	}
	r := check(t, verifyBucket(), nil, src, nil)
	var got []string
	for _, rep := range r.Repairs {
		got = append(got, rep.VersionID+" "+string(rep.Kind))
	}
	if want := []string{"3 missing", "2 failed", "1 missing"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("repairs %q, want %q", got, want)
	}
}

func TestCompareContent(t *testing.T) {
	v := ObjectVersion{Size: 3, ContentMD5: md5Of("abc")}
	cases := []struct {
		site SiteVersion
		want contentVerdict
	}{
		{SiteVersion{Size: 3, ETag: `"` + strings.ToUpper(md5Of("abc")) + `"`}, contentEqual},
		{SiteVersion{Size: 3, ETag: md5Of("abd")}, contentDiffer},
		{SiteVersion{Size: 4, ETag: md5Of("abc")}, contentDiffer},
		{SiteVersion{Size: 3, ETag: `"` + md5Of("abc") + `-2"`}, contentUnknown},
		{SiteVersion{Size: 3}, contentUnknown},
	}
	for _, tc := range cases {
		if got := compareContent(v, tc.site); got != tc.want {
			t.Errorf("%+v: got %v, want %v", tc.site, got, tc.want)
		}
	}
	mp := ObjectVersion{Size: 3, ContentMD5: "0123456789abcdef0123456789abcdef-2"}
	if got := compareContent(mp, SiteVersion{Size: 3, ETag: `"0123456789abcdef0123456789abcdef-2"`}); got != contentEqual {
		t.Errorf("same multipart ETag: %v", got)
	}
	if got := compareContent(mp, SiteVersion{Size: 3, ETag: md5Of("abc")}); got != contentUnknown {
		t.Errorf("multipart source, plain replica: %v", got)
	}
}

func TestVerifyTargets(t *testing.T) {
	b := verifyBucket()
	got, err := b.VerifyTargets("", nil)
	want := []VerifyTarget{{"site-a", "dst"}, {"site-a", "elsewhere"}, {"site-b", "dst"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("every site: %v %v", got, err)
	}
	got, err = b.VerifyTargets("other/x", []string{"site-a"})
	want = []VerifyTarget{{"site-a", "dst"}, {"site-a", "elsewhere"}} // rule "all" covers other/ too, after "other"
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("under other/x: %v %v", got, err)
	}
	if _, err := b.VerifyTargets("", []string{"site-c"}); !errors.Is(err, ErrInvalidJob) || !strings.Contains(err.Error(), "site-c") {
		t.Fatalf("unknown site: %v", err)
	}
	if _, err := (Bucket{Name: "x", VersioningEnabled: true}).VerifyTargets("", nil); !errors.Is(err, ErrInvalidJob) {
		t.Fatalf("no configuration: %v", err)
	}
}

func TestRequeueForVerify(t *testing.T) {
	b := verifyBucket()
	withTags := sv("k", "1", 1, "x", StatusCompleted, "r1", map[string]string{"a": "1"}).ObjectVersion
	cases := []struct {
		name        string
		v           ObjectVersion
		r           Repair
		changed     bool
		wantContent []string
	}{
		{"missing: a full copy", withTags, Repair{Site: "site-a", Kind: FindingMissing}, true, []string{ContentData, ContentMetadata}},
		{"tags: in place", withTags, Repair{Site: "site-a", Kind: FindingTags, Metadata: true}, true, []string{ContentMetadata, ContentPutTagging}},
		{"tags removed: in place", sv("k", "1", 1, "x", StatusCompleted, "r1", nil).ObjectVersion, Repair{Site: "site-a", Kind: FindingTags, Metadata: true}, true, []string{ContentMetadata, ContentDeleteTagging}},
		{"marker", sv("k", "1", 1, "<marker>", StatusCompleted, "", nil).ObjectVersion, Repair{Site: "site-a", Kind: FindingMarker}, true, []string{ContentMetadata}},
		{"failed", sv("k", "1", 1, "x", StatusFailed, "", nil).ObjectVersion, Repair{Site: "site-a", Kind: FindingFailed}, true, []string{ContentData, ContentMetadata}},
		{"already pending", sv("k", "1", 1, "x", StatusPending, "", nil).ObjectVersion, Repair{Site: "site-a", Kind: FindingMissing}, false, nil},
		{"the rule sends the key elsewhere now", sv("other/k", "1", 1, "x", StatusCompleted, "", nil).ObjectVersion, Repair{Site: "site-a", Kind: FindingMissing}, false, nil},
		{"a replica now", func() ObjectVersion { v := withTags; v.Replication = ReplicationInfo{Status: StatusReplica}; return v }(), Repair{Site: "site-a", Kind: FindingMissing}, false, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := tc.v
			v.Replication.Backends = append([]Backend(nil), v.Replication.Backends...)
			changed := v.RequeueForVerify(b, targetA, tc.r)
			if changed != tc.changed {
				t.Fatalf("changed %v, want %v", changed, tc.changed)
			}
			if !changed {
				return
			}
			be, _ := v.Site("site-a")
			if be.Status != StatusPending || v.Replication.Status != StatusPending || be.Reason != "" {
				t.Fatalf("site %+v, aggregate %s", be, v.Replication.Status)
			}
			if tc.v.Replication.Backends != nil && be.DataStoreVersionID != tc.v.Replication.Backends[0].DataStoreVersionID {
				t.Fatalf("the recorded replica id is lost: %+v", be)
			}
			if !reflect.DeepEqual(v.Replication.Content, tc.wantContent) {
				t.Fatalf("content %v, want %v", v.Replication.Content, tc.wantContent)
			}
			if v.Replication.Destination != "arn:aws:s3:::dst" || v.Replication.StorageClass != "site-a,site-b" || v.Replication.Role == "" {
				t.Fatalf("rule not recorded: %+v", v.Replication)
			}
		})
	}
}

func TestVerifyCountsDrift(t *testing.T) {
	var c VerifyCounts
	for _, f := range []Finding{{Kind: FindingExtra, Site: "a"}, {Kind: FindingExtra, Site: "b"}, {Kind: FindingMissing, Site: "a"}} {
		c.AddFinding(f)
	}
	if c.Drift() != 3 || c.Drift(FindingExtra) != 1 || c.Drift(FindingExtra, FindingMissing) != 0 {
		t.Fatalf("drift %d %d", c.Drift(), c.Drift(FindingExtra))
	}
	d := c.Clone()
	d.AddFinding(Finding{Kind: FindingTags, Site: "a"})
	if c.Drift() != 3 {
		t.Fatal("Clone shares the maps")
	}
	if k, err := ParseFindingKind("status-lies"); err != nil || k != FindingStatusLies {
		t.Fatal(k, err)
	}
	if _, err := ParseFindingKind("lies"); err == nil {
		t.Fatal("unknown kind accepted")
	}
}

func TestFindingSortKeyPutsStatusLiesFirst(t *testing.T) {
	a := Finding{Kind: FindingExtra, Key: "a"}
	b := Finding{Kind: FindingStatusLies, Key: "z"}
	if !(b.SortKey() < a.SortKey()) {
		t.Fatal("status-lies do not sort first")
	}
	if AfterKey("k").Less(VersionRef{Key: "k", VersionID: "zzzzzzzz"}) || !AfterKey("k").Less(VersionRef{Key: "k\x00"}) {
		t.Fatal("AfterKey does not sit between a key's versions and the next key")
	}
}

func TestVerifyJobLife(t *testing.T) {
	if _, err := NewVerifyJob("", VerifyRequest{}, nil, t0); !errors.Is(err, ErrInvalidJob) {
		t.Fatalf("empty request: %v", err)
	}
	j, err := NewVerifyJob("vf-1", VerifyRequest{Bucket: "src", Sites: []string{"site-a"}, Repair: true}, []VerifyTarget{targetA}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if j.Kind != JobVerify || j.State != JobRunning || !j.Verify.Repair {
		t.Fatalf("new job %+v", j)
	}
	var c VerifyCounts
	c.Compared = 3
	c.AddFinding(Finding{Kind: FindingMissing, Site: "site-a"})
	rep := []Repair{{VersionRef: VersionRef{Key: "k", VersionID: "1"}, Site: "site-a", Kind: FindingMissing}}
	if err := j.CommitVerifyBatch("k", 3, c, rep, t0); err != nil {
		t.Fatal(err)
	}
	clone := j.Clone()
	clone.Verify.Requeue[0].Key = "changed"
	clone.Verify.Findings["site-a"][FindingMissing] = 9
	if j.Verify.Requeue[0].Key != "k" || j.Verify.Findings["site-a"][FindingMissing] != 1 {
		t.Fatal("Clone shares the verify state")
	}
	if err := j.RequeueDone(1, t0); err != nil {
		t.Fatal(err)
	}
	if j.Scanned != 3 || j.Verify.Compared != 3 || j.Verify.Requeued != 1 || j.Queued != 1 || j.Verify.Requeue != nil || j.Verify.LastKey != "k" {
		t.Fatalf("after a batch and its repairs: %+v %+v", j.JobCounts, *j.Verify)
	}
	if err := j.Cancel(t0); err != nil {
		t.Fatal(err)
	}
	if err := j.CommitVerifyBatch("l", 1, c, nil, t0); !errors.Is(err, ErrJobNotRunning) {
		t.Fatalf("commit after cancel: %v", err)
	}
	if err := (&Job{ID: "bf"}).CommitVerifyBatch("l", 1, c, nil, t0); !errors.Is(err, ErrInvalidJob) {
		t.Fatalf("commit to a backfill job: %v", err)
	}
}

// FuzzVerifyPagination builds a source and a site listing from the input
// (keys, versions, contents, statuses, markers, tags) and judges them cut
// into pages of two sizes: the verdict never depends on the pages, never
// panics, and accounts for every site data version once.
func FuzzVerifyPagination(f *testing.F) {
	f.Add([]byte("abcdefghijklmnop"), uint8(1), uint8(3))
	f.Add([]byte{0, 1, 2, 3, 250, 251, 252, 253, 9, 9, 9, 9}, uint8(2), uint8(5))
	f.Fuzz(func(t *testing.T, in []byte, n1, n2 uint8) {
		if len(in) > 400 {
			in = in[:400]
		}
		var src []SourceVersion
		var site []SiteVersion
		markers := map[string]ReplicaMarkers{}
		tags := map[string]map[string]string{}
		statuses := []Status{StatusCompleted, StatusNone, StatusPending, StatusFailed}
		for i := 0; i+3 < len(in); i += 4 {
			key := string(rune('a' + in[i]%5))
			vid := fmt.Sprintf("%03d", i)
			data := fmt.Sprint(in[i+1] % 4)
			if in[i+2]%7 == 0 {
				data = "<marker>"
			}
			rep := "r" + vid
			v := sv(key, vid, int(in[i+3]), data, statuses[in[i+2]%4], map[bool]string{true: rep}[in[i+1]%3 != 0], nil)
			if in[i+3]%5 == 0 {
				v.Tags = map[string]string{"t": data}
			}
			src = append(src, v)
			switch c := in[i+2] % 5; {
			case data == "<marker>" && c < 3:
				site = append(site, dm(key, rep, false))
			case data != "<marker>" && c < 4:
				body := data
				if c == 3 {
					body = "forged"
				}
				site = append(site, dv(key, rep, body, false))
				markers[rep] = ReplicaMarkers{Replica: true, SourceVersionID: vid}
				if in[i+3]%3 == 0 {
					tags[rep] = map[string]string{"t": "x"}
				}
			}
		}
		sortSource(src)
		sortSite(site)
		answers := &fakeSite{markers: markers, tags: tags}
		size := func(n uint8) int { return 1 + int(n)%7 }
		a, ra, sa := verifyAll(t, answers, paginate(src, size(n1)), paginate(site, size(n2)))
		b, rb, sb := verifyAll(t, answers, paginate(src, size(n2)), paginate(site, size(n1)))
		if !reflect.DeepEqual(a, b) || !reflect.DeepEqual(ra, rb) || !reflect.DeepEqual(sa, sb) {
			t.Fatalf("the verdict depends on the pages:\n%q\n%q", brief(a), brief(b))
		}
		if sa.Listed != int64(len(site)) {
			t.Fatalf("listed %d of %d", sa.Listed, len(site))
		}
	})
}

// sortSource orders versions as a walk of version document ids does.
func sortSource(vs []SourceVersion) {
	sort.SliceStable(vs, func(i, j int) bool { return vs[i].Ref().Less(vs[j].Ref()) })
}

// sortSite orders a listing by key, each key's latest version first, as
// S3 lists them, and marks it latest.
func sortSite(vs []SiteVersion) {
	sort.SliceStable(vs, func(i, j int) bool { return vs[i].Key < vs[j].Key })
	for i := range vs {
		vs[i].IsLatest = i == 0 || vs[i].Key != vs[i-1].Key
	}
}
