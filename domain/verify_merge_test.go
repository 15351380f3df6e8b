package domain

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// paginate cuts items into pages of size n (the last one shorter).
func paginate[T any](items []T, n int) [][]T {
	var pages [][]T
	for len(items) > n {
		pages = append(pages, items[:n])
		items = items[n:]
	}
	return append(pages, items)
}

// mergeAll feeds pages to a merge as it asks and returns every key.
func mergeAll(t *testing.T, src [][]SourceVersion, sites ...[][]SiteVersion) []KeyVersions {
	t.Helper()
	m := NewVersionMerge(len(sites))
	var out []KeyVersions
	for steps := 0; ; steps++ {
		if steps > 10000 {
			t.Fatal("the merge makes no progress")
		}
		for kv, ok := m.Next(); ok; kv, ok = m.Next() {
			out = append(out, kv)
		}
		if m.Done() {
			return out
		}
		wantSrc, wantSites := m.Wants()
		if !wantSrc && len(wantSites) == 0 {
			t.Fatal("the merge is not done, returns nothing and wants nothing")
		}
		if wantSrc {
			if err := m.FeedSource(src[0], len(src) == 1); err != nil {
				t.Fatal(err)
			}
			src = src[1:]
		}
		for _, i := range wantSites {
			if err := m.FeedSite(i, sites[i][0], len(sites[i]) == 1); err != nil {
				t.Fatal(err)
			}
			sites[i] = sites[i][1:]
		}
	}
}

func srcKeys(keys ...string) []SourceVersion {
	var out []SourceVersion
	for _, k := range keys {
		key, vid, _ := strings.Cut(k, "@")
		out = append(out, SourceVersion{ObjectVersion: ObjectVersion{Key: key, VersionID: vid}})
	}
	return out
}

func siteKeys(keys ...string) []SiteVersion {
	var out []SiteVersion
	for _, k := range keys {
		key, vid, _ := strings.Cut(k, "@")
		out = append(out, SiteVersion{Key: key, VersionID: vid})
	}
	return out
}

// flatten renders merged keys as key:source ids|site ids|...
func flatten(kvs []KeyVersions) []string {
	var out []string
	for _, kv := range kvs {
		var b strings.Builder
		b.WriteString(kv.Key + ":")
		for _, v := range kv.Source {
			b.WriteString(v.VersionID + ",")
		}
		for _, s := range kv.Sites {
			b.WriteString("|")
			for _, v := range s {
				b.WriteString(v.VersionID + ",")
			}
		}
		out = append(out, b.String())
	}
	return out
}

func TestVersionMergeEveryPagination(t *testing.T) {
	src := srcKeys("a@1", "a@2", "a@3", "b@1", "d@1", "d@2", "f@1", "f@2", "f@3", "f@4", "z@1")
	siteA := siteKeys("a@x", "c@x", "c@y", "d@x", "d@y", "d@z", "f@x", "y@x")
	siteB := siteKeys("f@p", "f@q", "f@r", "f@s", "f@t")
	want := []string{
		"a:1,2,3,|x,|", "b:1,||", "c:|x,y,|", "d:1,2,|x,y,z,|", "f:1,2,3,4,|x,|p,q,r,s,t,",
		"y:|x,|", "z:1,||",
	}
	for ns := 1; ns <= len(src); ns++ {
		for na := 1; na <= len(siteA); na++ {
			for nb := 1; nb <= len(siteB); nb++ {
				got := flatten(mergeAll(t, paginate(src, ns), paginate(siteA, na), paginate(siteB, nb)))
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("pages of %d/%d/%d: got %q, want %q", ns, na, nb, got, want)
				}
			}
		}
	}
}

func TestVersionMergeEmptySidesAndEmptyPages(t *testing.T) {
	got := flatten(mergeAll(t, [][]SourceVersion{nil}, [][]SiteVersion{nil}))
	if len(got) != 0 {
		t.Fatalf("got %q from empty sides", got)
	}
	// Empty pages before the last (a listing page of prefixes only, say)
	// are fine.
	got = flatten(mergeAll(t,
		[][]SourceVersion{nil, srcKeys("a@1"), nil, srcKeys("a@2"), nil},
		[][]SiteVersion{siteKeys("a@x"), nil, nil}))
	if want := []string{"a:1,2,|x,"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	got = flatten(mergeAll(t, [][]SourceVersion{srcKeys("k@1")}))
	if want := []string{"k:1,"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("source alone: got %q, want %q", got, want)
	}
}

func TestVersionMergeRefusesKeysOutOfOrder(t *testing.T) {
	m := NewVersionMerge(1)
	if err := m.FeedSource(srcKeys("b@1", "a@1"), false); !errors.Is(err, ErrPermanent) {
		t.Fatalf("keys down within a page: %v", err)
	}
	if err := m.FeedSite(0, siteKeys("b@1"), false); err != nil {
		t.Fatal(err)
	}
	if err := m.FeedSite(0, siteKeys("a@1"), true); !errors.Is(err, ErrPermanent) {
		t.Fatalf("keys down across pages: %v", err)
	}
	if err := m.FeedSite(0, nil, true); err != nil {
		t.Fatal(err)
	}
	if err := m.FeedSite(0, nil, true); !errors.Is(err, ErrPermanent) {
		t.Fatalf("fed after the last page: %v", err)
	}
	if err := m.FeedSite(1, nil, true); !errors.Is(err, ErrPermanent) {
		t.Fatalf("no such site: %v", err)
	}
}

// TestVersionMergeHoldsOnlyWhatItNeeds checks that the merge asks for a
// side only when it cannot tell a key is complete, so that memory stays at
// about a page per side.
func TestVersionMergeHoldsOnlyWhatItNeeds(t *testing.T) {
	m := NewVersionMerge(1)
	if err := m.FeedSource(srcKeys("a@1", "b@1"), false); err != nil {
		t.Fatal(err)
	}
	if src, sites := m.Wants(); src || len(sites) != 1 {
		t.Fatalf("wants source %v sites %v; want the site only", src, sites)
	}
	if err := m.FeedSite(0, siteKeys("a@x", "c@x"), false); err != nil {
		t.Fatal(err)
	}
	kv, ok := m.Next()
	if !ok || kv.Key != "a" {
		t.Fatalf("got %v %v, want key a", kv, ok)
	}
	// b is the source's last key fed: the source may hold more of it.
	if src, sites := m.Wants(); !src || len(sites) != 0 {
		t.Fatalf("wants source %v sites %v; want the source only", src, sites)
	}
	if _, ok := m.Next(); ok {
		t.Fatal("returned b before the source showed all of it")
	}
}
