package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/app"
	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// Scenario 12: replica fidelity. Versions with object-lock retention and
// legal hold reach a destination bucket with object lock carrying them
// (and the object headers every scenario writes); a destination bucket
// without object lock gets FAILED with a reason that says so, and holds
// no copy without the lock.
func TestReplicaFidelity(t *testing.T) {
	parallel(t)
	e := newEnv(t)
	e.StartRoles()
	ctx := context.Background()
	if err := e.Sites["site-a"].EnsureLockedBucket(ctx, e.Run+"-lock-replica"); err != nil {
		t.Fatal(err)
	}
	b := e.BucketAt("lock", []string{"site-b"}) // site-b's bucket has no object lock
	until := time.Now().Add(2 * time.Minute).UTC().Truncate(time.Second)
	var ws []Written
	for i := range pick(6, 30) {
		lock := domain.Lock{Mode: domain.LockGovernance, RetainUntil: until, LegalHold: i%3 == 0}
		v, err := e.Sim.PutObjectWith(ctx, b, fmt.Sprintf("locked-%03d", i), []byte(fmt.Sprintf("locked %d", i)), app.ObjectAttrs{
			ContentType: "text/plain", Tags: map[string]string{"origin": "e2e"}, Headers: e2eHeaders, Lock: lock,
		})
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, Written{ObjectVersion: v, DestBucket: b.Name + "-replica"})
	}
	e.WaitDone(ws, pick(time.Minute, 3*time.Minute))

	// site-a alone: the checker compares bytes, headers, tags and lock.
	siteA := &Checker{Metadata: e.Meta, Sites: map[string]ports.ReplicaReader{"site-a": e.Sites["site-a"].ReplicaReader()}}
	rep, err := siteA.Check(ctx, ws)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("CHECK %s site-a: %s\n", t.Name(), rep)
	if rep.Replicated != len(ws) || rep.BadContent+rep.TagsDiffer+rep.Duplicated+rep.Lost != 0 {
		t.Errorf("site-a: %s\n  %s", rep, strings.Join(rep.Problems, "\n  "))
	}
	failed := 0
	for _, w := range ws {
		cur, err := e.Meta.Version(ctx, w.Bucket, w.Key, w.VersionID)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := cur.Site("site-a")
		bb, _ := cur.Site("site-b")
		if a.Status != domain.StatusCompleted {
			t.Errorf("%s at site-a: %+v", w.Key, a)
		}
		if bb.Status == domain.StatusFailed && strings.Contains(bb.Reason, "object lock") {
			failed++
		} else {
			t.Errorf("%s at site-b (no object lock): %+v, want FAILED with a reason naming object lock", w.Key, bb)
		}
		reps, err := e.Sites["site-b"].ReplicaReader().Replicas(ctx, w.DestBucket, w.Key)
		if err != nil {
			t.Fatal(err)
		}
		if len(reps) != 0 {
			t.Errorf("%s: site-b holds %d versions without the lock", w.Key, len(reps))
		}
	}
	fmt.Printf("SCENARIO %s: locked=%d refused-without-object-lock=%d\n", t.Name(), rep.Replicated, failed)
}
