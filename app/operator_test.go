package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/adapters/memory"
	"github.com/openbackbeat/backbeat/app"
	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// The operators' queries join the failure store with the metadata (a
// version gone is left out, the site's reason is carried), sum the
// metrics over sites, and tell an object's progress from its metadata.
func TestOperatorQueries(t *testing.T) {
	ctx := context.Background()
	meta := memory.NewMetadata()
	failures, err := memory.NewFailures(memory.FailuresConfig{})
	if err != nil {
		t.Fatal(err)
	}
	metrics, err := memory.NewMetrics(memory.MetricsConfig{})
	if err != nil {
		t.Fatal(err)
	}
	op, err := app.NewOperator(app.OperatorDeps{Failures: failures, Metrics: metrics, Metadata: meta})
	if err != nil {
		t.Fatal(err)
	}
	rule := domain.ReplicationRule{ID: "r", Enabled: true, DestinationBucket: "arn:aws:s3:::dst", StorageClass: "site-a,site-b"}
	if err := meta.PutBucket(ctx, domain.Bucket{Name: "b", VersioningEnabled: true,
		Replication: &domain.ReplicationConfig{Role: "r", Rules: []domain.ReplicationRule{rule}}}); err != nil {
		t.Fatal(err)
	}
	modified := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	v := domain.ObjectVersion{Bucket: "b", Key: "k", VersionID: "v1", Size: 42, LastModified: modified,
		Replication: domain.NewReplicationInfo(rule, "r", true)}
	v.Replication.Backends[0].Status, v.Replication.Backends[0].Reason = domain.StatusFailed, "AccessDenied"
	v.Replication.Backends[1].Status = domain.StatusCompleted
	if err := meta.PutVersion(ctx, v); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Millisecond)
	for _, e := range []ports.FailedEntry{
		{Site: "site-a", Bucket: "b", Key: "k", VersionID: "v1", FailedAt: now},
		{Site: "site-a", Bucket: "b", Key: "gone", VersionID: "v9", FailedAt: now.Add(-time.Second)},
	} {
		if err := failures.Add(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	versions, page, err := op.FailedPage(ctx, "site-a", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 2 || len(versions) != 1 || versions[0].Key != "k" || versions[0].Size != 42 ||
		!versions[0].LastModified.Equal(modified) || versions[0].Reason != "AccessDenied" {
		t.Errorf("FailedPage = %+v (page %+v); want k alone, with its size, date and reason", versions, page)
	}
	of, err := op.FailedOf(ctx, "b", "k", "v1")
	if err != nil || len(of) != 1 || of[0].Site != "site-a" {
		t.Errorf("FailedOf = %+v, %v; want the site-a entry", of, err)
	}

	for site, n := range map[string]int{"site-a": 2, "site-b": 3} {
		for range n {
			if err := metrics.Record(ctx, site, ports.MetricCompleted, 1, 10, ports.Op{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	sum, err := op.SumMetrics(ctx, []string{"site-a", "site-b"}, time.Hour)
	if err != nil || sum.Completed.Ops != 5 || sum.Completed.Bytes != 50 {
		t.Errorf("SumMetrics = %+v, %v; want 5 completions, 50 bytes", sum.Completed, err)
	}

	for _, tc := range []struct {
		site string
		want app.ObjectProgress
	}{
		{"site-a", app.ObjectProgress{Replicated: true, Total: 42}},
		{"site-b", app.ObjectProgress{Replicated: true, Total: 42, Done: 42, Completed: true}},
		{"site-c", app.ObjectProgress{}},
	} {
		got, err := op.ObjectProgress(ctx, tc.site, "b", "k", "v1")
		if err != nil || got != tc.want {
			t.Errorf("ObjectProgress(%s) = %+v, %v; want %+v", tc.site, got, err, tc.want)
		}
	}

	if _, err := app.NewOperator(app.OperatorDeps{}); err == nil {
		t.Error("NewOperator accepted no ports")
	}
}
