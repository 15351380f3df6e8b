package jobstoretest

import (
	"testing"
	"time"

	shared "github.com/openbackbeat/backbeat/ports/internal/suite"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// RunVerify checks that a job store keeps verify jobs whole: their
// targets, counts per site and kind, the last key compared and the
// repairs not yet done. Every adapter runs it beside Run.
func RunVerify(t *testing.T, newStore func(t *testing.T) ports.JobStore) {
	t.Helper()
	shared.Run(t, newStore, []shared.Case[ports.JobStore]{
		{Name: "VerifyJobRoundTrip", Fn: testVerifyRoundTrip},
		{Name: "VerifyBatchesAndRepairs", Fn: testVerifyBatches},
	})
}

func verifyJob(t *testing.T, bucket string) domain.Job {
	t.Helper()
	j, err := domain.NewVerifyJob(shared.Unique("vf"), domain.VerifyRequest{Bucket: bucket, Prefix: "p/é.$", Sites: []string{"site.a"}, Repair: true},
		[]domain.VerifyTarget{{Site: "site.a", Bucket: "dst"}, {Site: "site.a", Bucket: "dst$2"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// normalizeVerify makes empty and nil alike in the verify state.
func normalizeVerify(j domain.Job) domain.Job {
	j = j.Clone()
	if v := j.Verify; v != nil {
		if len(v.Requeue) == 0 {
			v.Requeue = nil
		}
		for site, kinds := range v.Findings {
			if len(kinds) == 0 {
				delete(v.Findings, site)
			}
		}
		if len(v.Findings) == 0 {
			v.Findings = nil
		}
	}
	return j
}

func wantVerify(t *testing.T, what string, got, want domain.Job) {
	t.Helper()
	wantJob(t, what, normalizeVerify(got), normalizeVerify(want))
}

func testVerifyRoundTrip(t *testing.T, s ports.JobStore) {
	j := verifyJob(t, shared.Unique("bkt"))
	create(t, s, j)
	wantVerify(t, "verify job read back", read(t, s, j.ID), j)
	jobs, err := s.Jobs(shared.Context(t, opTimeout), ports.JobFilter{Kind: domain.JobVerify})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, got := range jobs {
		if got.ID == j.ID {
			found = true
			wantVerify(t, "verify job listed", got, j)
		}
	}
	if !found {
		t.Fatalf("verify job %s not listed by kind", j.ID)
	}
}

func testVerifyBatches(t *testing.T, s ports.JobStore) {
	j := verifyJob(t, shared.Unique("bkt"))
	create(t, s, j)
	var c domain.VerifyCounts
	c.Compared, c.SiteVersions, c.Heads, c.TagReads = 10, 12, 1, 9
	c.AddFinding(domain.Finding{Kind: domain.FindingStatusLies, Site: "site.a"})
	c.AddFinding(domain.Finding{Kind: domain.FindingMissing, Site: "site.a"})
	repairs := []domain.Repair{
		{VersionRef: domain.VersionRef{Key: "p/é.$\x01k", VersionID: "v1"}, Site: "site.a", Kind: domain.FindingMissing},
		{VersionRef: domain.VersionRef{Key: "p/x", VersionID: "v2"}, Site: "site.a", Kind: domain.FindingTags, Metadata: true},
	}
	ctx := shared.Context(t, opTimeout)
	got, err := s.UpdateJob(ctx, j.ID, func(j *domain.Job) error {
		return j.CommitVerifyBatch("p/é.$\x01k", 10, c, repairs, time.Now())
	})
	if err != nil {
		t.Fatal(err)
	}
	wantVerify(t, "after a batch", read(t, s, j.ID), got)
	if v := read(t, s, j.ID).Verify; v.LastKey != "p/é.$\x01k" || len(v.Requeue) != 2 || v.Findings["site.a"][domain.FindingStatusLies] != 1 {
		t.Fatalf("verify state after a batch: %+v", v)
	}
	got, err = s.UpdateJob(ctx, j.ID, func(j *domain.Job) error { return j.RequeueDone(2, time.Now()) })
	if err != nil {
		t.Fatal(err)
	}
	back := read(t, s, j.ID)
	wantVerify(t, "after the repairs", back, got)
	if back.Verify.Requeued != 2 || len(back.Verify.Requeue) != 0 || back.Scanned != 10 {
		t.Fatalf("after the repairs: %+v scanned %d", back.Verify, back.Scanned)
	}
}
