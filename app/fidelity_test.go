package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/app"
	"github.com/openbackbeat/backbeat/domain"
)

func TestHeadersAndObjectLockReachTheReplica(t *testing.T) {
	h := newHarness(t, "site-a", "site-b")
	b := h.bucket("fidelity")
	h.dests["site-a"].CreateLockedBucket(b.Name + "-replica") // site-b's has no object lock
	headers := domain.Headers{CacheControl: "no-cache", ContentDisposition: "attachment", ContentEncoding: "identity",
		ContentLanguage: "de", Expires: "Thu, 01 Jan 2037 00:00:00 GMT", WebsiteRedirectLocation: "/x"}
	lock := domain.Lock{Mode: domain.LockCompliance, RetainUntil: time.Now().Add(time.Hour).UTC().Truncate(time.Second), LegalHold: true}
	v, err := h.sim.PutObjectWith(context.Background(), b, "k", []byte("locked"), app.ObjectAttrs{ContentType: "text/plain", Headers: headers, Lock: lock})
	if err != nil {
		t.Fatal(err)
	}
	cur := h.waitFor(v, "COMPLETED at site-a, FAILED at site-b", func(v domain.ObjectVersion) bool {
		a, _ := v.Site("site-a")
		b, _ := v.Site("site-b")
		return a.Status == domain.StatusCompleted && b.Status == domain.StatusFailed
	})
	r := h.replicaOf("site-a", v)
	if r.Headers != headers || r.Lock != lock {
		t.Fatalf("replica has headers %+v, lock %+v; want %+v, %+v", r.Headers, r.Lock, headers, lock)
	}
	bb, _ := cur.Site("site-b")
	if !strings.Contains(bb.Reason, "object lock") {
		t.Fatalf("site-b (no object lock): %+v, want FAILED with a reason naming object lock", bb)
	}
	if n := h.versionsAt("site-b", []domain.ObjectVersion{v})["k"]; n != 0 {
		t.Fatalf("site-b holds a copy without the lock")
	}
}
