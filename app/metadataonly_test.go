package app_test

// Component tests of metadata-only entries: tag changes recorded the way
// CloudServer records them reach every site's existing replica in place.

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// countOpens counts the source reads from now on.
func (h *harness) countOpens() *atomic.Int64 {
	var n atomic.Int64
	h.source.SetOpenFault(func(string, string, string) error { n.Add(1); return nil })
	return &n
}

// versionsAt returns how many versions site holds of each key of vs.
func (h *harness) versionsAt(site string, vs []domain.ObjectVersion) map[string]int {
	h.t.Helper()
	out := map[string]int{}
	for _, v := range vs {
		reps, err := h.dests[site].Replicas(context.Background(), v.Bucket+"-replica", v.Key)
		if err != nil {
			h.t.Fatal(err)
		}
		out[v.Key] = len(reps)
	}
	return out
}

// replicaOf returns site's replica of v, failing unless there is exactly one.
func (h *harness) replicaOf(site string, v domain.ObjectVersion) ports.StoredReplica {
	h.t.Helper()
	reps, err := h.dests[site].Replicas(context.Background(), v.Bucket+"-replica", v.Key)
	if err != nil {
		h.t.Fatal(err)
	}
	var found []ports.StoredReplica
	for _, r := range reps {
		if r.SourceVersionID == v.VersionID {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		h.t.Fatalf("site %s holds %d replicas of %s/%s %s, want 1", site, len(found), v.Bucket, v.Key, v.VersionID)
	}
	return found[0]
}

// setTags changes v's tags at the source as CloudServer does.
func (h *harness) setTags(v domain.ObjectVersion, tags map[string]string) domain.ObjectVersion {
	h.t.Helper()
	nv, err := h.sim.SetTags(context.Background(), v.Bucket, v.Key, v.VersionID, tags)
	if err != nil {
		h.t.Fatal(err)
	}
	return nv
}

// completedWithTags waits until every site of v is COMPLETED and holds v's
// replica with exactly tags.
func (h *harness) completedWithTags(v domain.ObjectVersion, tags map[string]string) {
	h.t.Helper()
	h.waitFor(v, "COMPLETED", aggregateIs(domain.StatusCompleted))
	for _, s := range h.sites {
		if got := h.replicaOf(s, v).Tags; !domain.TagsEqual(got, tags) {
			h.t.Fatalf("site %s: replica of %s/%s has tags %v, want %v (source COMPLETED)", s, v.Bucket, v.Key, got, tags)
		}
	}
}

func TestTagChangesReachEveryReplicaInPlace(t *testing.T) {
	h := newHarness(t, "site-a", "site-b")
	b := h.bucket("tagged")
	var vs []domain.ObjectVersion
	for i := range 50 {
		v := h.put(b, fmt.Sprintf("k-%02d", i), []byte(fmt.Sprintf("data %d", i)))
		vs = append(vs, v)
	}
	for _, v := range vs {
		h.waitFor(v, "COMPLETED", aggregateIs(domain.StatusCompleted))
	}
	before := map[string]map[string]int{}
	for _, s := range h.sites {
		before[s] = h.versionsAt(s, vs)
	}
	opens := h.countOpens()

	// Put tags: the same replica versions carry the new tags.
	for i, v := range vs {
		tags := map[string]string{"team": "y", "n": fmt.Sprint(i), "a$b.c": "dotted"}
		vs[i] = h.setTags(v, tags)
		if got := vs[i].Replication.Content; !slices.Equal(got, []string{domain.ContentMetadata, domain.ContentPutTagging}) {
			t.Fatalf("content after a tag change = %v", got)
		}
	}
	for _, v := range vs {
		h.completedWithTags(v, v.Tags)
	}
	// Delete tags: the replicas have none.
	for i, v := range vs[:25] {
		vs[i] = h.setTags(v, nil)
	}
	for _, v := range vs[:25] {
		h.completedWithTags(v, nil)
	}

	if n := opens.Load(); n != 0 {
		t.Errorf("tag changes read the source's data %d times, want 0", n)
	}
	for _, s := range h.sites {
		if after := h.versionsAt(s, vs); !maps.Equal(after, before[s]) {
			t.Errorf("site %s: versions per key changed from %v to %v: a tag change wrote a new version", s, before[s], after)
		}
		if got := h.dests[s].TagWrites(); got != 75 {
			t.Errorf("site %s: %d tag writes, want 75 (50 puts, 25 deletes)", s, got)
		}
	}
}

func TestTagChangeRacingASecondPutKeepsOrder(t *testing.T) {
	h := newHarness(t, "site-a", "site-b")
	b := h.bucket("racing")
	type pair struct{ first, second domain.ObjectVersion }
	var all []pair
	for i := range 50 {
		key := fmt.Sprintf("k-%02d", i)
		first := h.put(b, key, []byte("first "+key))
		first = h.setTags(first, map[string]string{"changed": "yes", "i": fmt.Sprint(i)})
		second := h.put(b, key, []byte("second "+key))
		all = append(all, pair{first, second})
	}
	for _, p := range all {
		h.completedWithTags(p.first, p.first.Tags)
		h.completedWithTags(p.second, p.second.Tags)
		for _, s := range h.sites {
			reps, err := h.dests[s].Replicas(context.Background(), b.Name+"-replica", p.first.Key)
			if err != nil {
				t.Fatal(err)
			}
			if len(reps) != 2 || reps[0].SourceVersionID != p.first.VersionID || reps[1].SourceVersionID != p.second.VersionID {
				t.Fatalf("site %s: %s holds %d versions in the wrong order or with duplicates: %+v", s, p.first.Key, len(reps), reps)
			}
		}
	}
}

func TestTagChangeWithoutReplicaFallsBackToACopy(t *testing.T) {
	h := newHarness(t, "site-a")
	b := h.bucket("lost")
	h.dests["site-a"].SetFault(func(ports.Replica) error { return fmt.Errorf("%w: refused", domain.ErrPermanent) })
	v := h.put(b, "k", []byte("bytes"))
	h.waitFor(v, "FAILED", aggregateIs(domain.StatusFailed))
	h.dests["site-a"].SetFault(nil)

	v = h.setTags(v, map[string]string{"late": "tag"})
	h.completedWithTags(v, v.Tags)
	if r := h.replicaOf("site-a", v); string(r.Data) != "bytes" {
		t.Fatalf("the fallback copy holds %q", r.Data)
	}
}

func TestSetTagsOfADeleteMarkerIsRefused(t *testing.T) {
	h := newHarness(t, "site-a")
	b := h.bucket("markers")
	m := domain.ObjectVersion{Bucket: b.Name, Key: "gone", VersionID: "0000000000000000001", IsDeleteMarker: true}
	if err := h.meta.PutVersion(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if _, err := h.sim.SetTags(context.Background(), b.Name, "gone", m.VersionID, map[string]string{"a": "b"}); err == nil {
		t.Fatal("tags were set on a delete marker")
	}
}
