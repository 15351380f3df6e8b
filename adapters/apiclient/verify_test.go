package apiclient_test

import (
	"context"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/adapters/apiclient"
	"github.com/openbackbeat/backbeat/domain"
)

func TestVerify(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "tok", apiclient.WithToken("tok"))
	ctx := context.Background()
	rule := domain.ReplicationRule{ID: "r", Enabled: true, DestinationBucket: "arn:aws:s3:::dst", StorageClass: "site-a,site-b"}
	if err := e.Meta.PutBucket(ctx, domain.Bucket{Name: "bkt", VersioningEnabled: true, Replication: &domain.ReplicationConfig{Rules: []domain.ReplicationRule{rule}}}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a/1", "a/2", "b/1"} {
		v := domain.ObjectVersion{Bucket: "bkt", Key: k, VersionID: "v", Size: 10, Replication: domain.NewReplicationInfo(rule, "r", true)}
		for i := range v.Replication.Backends {
			v.Replication.Backends[i].Status = domain.StatusCompleted
		}
		if err := e.Meta.PutVersion(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	e.Dests["site-b"].CreateBucket("dst")
	e.RunJobs(t, 10, 0)
	id, err := e.client.StartVerify(ctx, apiclient.VerifyRequest{Bucket: "bkt", Prefix: "a/", Sites: []string{"site-b"}})
	if err != nil || id == "" {
		t.Fatalf("StartVerify = %q, %v", id, err)
	}
	var j apiclient.VerifyJob
	for deadline := time.Now().Add(10 * time.Second); !j.Finished(); time.Sleep(5 * time.Millisecond) {
		if j, err = e.client.Verify(ctx, id); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("job not done: %+v", j)
		}
	}
	if j.State != apiclient.JobDone || j.Compared != 2 || j.ByKind["missing"] != 2 || j.ByKind["status-lies"] != 2 || j.Drift != 4 ||
		j.DriftIgnoring("status-lies") != 2 || j.Findings["site-b"]["missing"] != 2 || len(j.Targets) != 1 {
		t.Fatalf("job %+v", j)
	}
	p, err := e.client.VerifyFindings(ctx, id, "", "")
	if err != nil || len(p.Findings) != 4 || p.IsTruncated || p.Findings[0].Kind != "status-lies" {
		t.Fatalf("VerifyFindings = %+v, %v", p, err)
	}
	p, err = e.client.VerifyFindings(ctx, id, "missing", "")
	if err != nil || len(p.Findings) != 2 || p.Findings[0].Key != "a/1" || p.Findings[1].Key != "a/2" {
		t.Fatalf("VerifyFindings(missing) = %+v, %v", p, err)
	}
	list, err := e.client.Verifies(ctx)
	if err != nil || len(list) != 1 || list[0].ID != id {
		t.Fatalf("Verifies = %+v, %v", list, err)
	}
	if raw, err := e.client.VerifyJSON(ctx, id); err != nil || len(raw) == 0 || raw[0] != '{' {
		t.Fatalf("VerifyJSON = %s, %v", raw, err)
	}
	if _, err := e.client.CancelVerify(ctx, id); apiclient.ErrorName(err) != "JobNotRunning" {
		t.Fatalf("CancelVerify of a done job: %v", err)
	}
	if _, err := e.client.StartVerify(ctx, apiclient.VerifyRequest{Bucket: "nope"}); apiclient.ErrorName(err) != "NoSuchBucket" {
		t.Fatalf("StartVerify of a missing bucket: %v", err)
	}
}
