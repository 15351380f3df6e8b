package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/domain"
)

// SetTags changes the tags of w in place at the source, as CloudServer's
// PutObjectTagging (tags non-empty) or DeleteObjectTagging (none) does,
// and records the change in the ledger.
func (e *Env) SetTags(ctx context.Context, w Written, tags map[string]string) Written {
	e.t.Helper()
	v, err := e.Sim.SetTags(ctx, w.Bucket, w.Key, w.VersionID, tags)
	if err != nil {
		e.t.Fatalf("set tags of %s/%s %s: %v", w.Bucket, w.Key, w.VersionID, err)
	}
	w.ObjectVersion = v
	e.Ledger.Update(w)
	return w
}

// Scenario 9: metadata-only updates. Replicated versions get new tags or
// lose theirs; every site's replica version changes in place: the same
// destination version (no copy, no new version) carries the new tags.
func TestMetadataOnlyUpdates(t *testing.T) {
	parallel(t)
	e := newEnv(t)
	e.StartRoles()
	ctx := context.Background()
	b := e.Bucket("tags")
	e.load(ctx, []domain.Bucket{b}, pick(150, 455), 512, 0) // 10% of keys twice: 165 or 501 versions
	e.WaitDone(e.Ledger.All(), pick(2*time.Minute, 5*time.Minute))

	retag, untag := pick(60, 200), pick(15, 50)
	all := e.Ledger.All()
	if len(all) < retag+untag {
		t.Fatalf("only %d versions written, %d tag changes wanted", len(all), retag+untag)
	}
	// Where each site holds each version now: the change must land there.
	before := map[string]string{}
	for _, w := range all[:retag+untag] {
		cur, err := e.Meta.Version(ctx, w.Bucket, w.Key, w.VersionID)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range siteNames {
			site, _ := cur.Site(s)
			before[s+"/"+w.VersionID] = site.DataStoreVersionID
		}
	}
	var changed []Written
	for i, w := range all[:retag+untag] {
		var tags map[string]string
		if i < retag {
			tags = map[string]string{"origin": "e2e", "retag": fmt.Sprint(i), "dotted.name": "escaped in Mongo"}
		}
		changed = append(changed, e.SetTags(ctx, w, tags))
	}
	e.WaitDone(changed, pick(2*time.Minute, 5*time.Minute))
	rep := e.Verify()

	inPlace := 0
	for _, w := range changed {
		cur, err := e.Meta.Version(ctx, w.Bucket, w.Key, w.VersionID)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range siteNames {
			site, _ := cur.Site(s)
			if site.Status == domain.StatusCompleted && site.DataStoreVersionID == before[s+"/"+w.VersionID] {
				inPlace++
				continue
			}
			t.Errorf("%s/%s %s at %s: %+v after the tag change, was at destination version %s", w.Bucket, w.Key, w.VersionID, s, site, before[s+"/"+w.VersionID])
		}
	}
	fmt.Printf("SCENARIO %s: metadata-only=%d tags-differ=%d\n", t.Name(), inPlace, rep.TagsDiffer)
	t.Logf("metadata-only=%d tags-differ=%d", inPlace, rep.TagsDiffer)
	if want := len(changed) * len(siteNames); inPlace != want {
		t.Errorf("metadata-only=%d, want %d (%d tag changes at %d sites)", inPlace, want, len(changed), len(siteNames))
	}
}
