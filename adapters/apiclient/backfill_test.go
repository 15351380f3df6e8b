package apiclient_test

import (
	"context"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/adapters/apiclient"
	"github.com/openbackbeat/backbeat/domain"
)

func TestBackfill(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "tok", apiclient.WithToken("tok"))
	ctx := context.Background()
	rule := domain.ReplicationRule{ID: "r", Enabled: true, DestinationBucket: "arn:aws:s3:::dst", StorageClass: "site-a,site-b"}
	if err := e.Meta.PutBucket(ctx, domain.Bucket{Name: "bkt", VersioningEnabled: true, Replication: &domain.ReplicationConfig{Rules: []domain.ReplicationRule{rule}}}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a/1", "a/2", "b/1"} {
		if err := e.Meta.PutVersion(ctx, domain.ObjectVersion{Bucket: "bkt", Key: k, VersionID: "v", Size: 10}); err != nil {
			t.Fatal(err)
		}
	}
	e.RunJobs(t, 10, 0)
	id, err := e.client.StartBackfill(ctx, apiclient.BackfillRequest{Bucket: "bkt", Prefix: "a/", Sites: []string{"site-b"}})
	if err != nil || id == "" {
		t.Fatalf("StartBackfill = %q, %v", id, err)
	}
	var j apiclient.BackfillJob
	for deadline := time.Now().Add(10 * time.Second); !j.Finished(); time.Sleep(5 * time.Millisecond) {
		if j, err = e.client.Backfill(ctx, id); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("job not done: %+v", j)
		}
	}
	if j.State != apiclient.JobDone || j.Queued != 2 || j.Total != 2 || j.BytesQueued != 20 || j.PerSite["site-b"].Versions != 2 || j.SkippedTotal() != 0 || j.StartedAt.IsZero() {
		t.Fatalf("job %+v", j)
	}
	list, err := e.client.Backfills(ctx)
	if err != nil || len(list) != 1 || list[0].ID != id {
		t.Fatalf("Backfills = %+v, %v", list, err)
	}
	raw, err := e.client.BackfillJSON(ctx, id)
	if err != nil || len(raw) == 0 || raw[0] != '{' {
		t.Fatalf("BackfillJSON = %s, %v", raw, err)
	}
	if _, err := e.client.CancelBackfill(ctx, id); apiclient.ErrorName(err) != "JobNotRunning" {
		t.Fatalf("CancelBackfill of a done job: %v", err)
	}
	id2, err := e.client.StartBackfill(ctx, apiclient.BackfillRequest{Bucket: "nope"})
	if apiclient.ErrorName(err) != "NoSuchBucket" || id2 != "" {
		t.Fatalf("StartBackfill of a missing bucket: %q %v", id2, err)
	}
}
