package app_test

import (
	"context"
	"maps"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/openbackbeat/backbeat/adapters/memory"
	"github.com/openbackbeat/backbeat/app"
	"github.com/openbackbeat/backbeat/domain"
)

// TestVerifyFindingsGauge reads backbeat.verify.findings from the job
// store: per site and kind, the newest finished job of each bucket and
// site, summed over buckets; running and older jobs do not count.
func TestVerifyFindingsGauge(t *testing.T) {
	ctx := context.Background()
	jobs := memory.NewJobs()
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	add := func(id, bucket string, minute int, state domain.JobState, site string, kind domain.FindingKind, n int64) {
		j, err := domain.NewVerifyJob(id, domain.VerifyRequest{Bucket: bucket}, []domain.VerifyTarget{{Site: site, Bucket: "dst"}}, at.Add(time.Duration(minute)*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		j.Verify.Findings = map[string]map[domain.FindingKind]int64{site: {kind: n}}
		j.State = state
		if err := jobs.CreateJob(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	add("old", "b1", 1, domain.JobDone, "site-a", domain.FindingMissing, 100) // superseded by "new"
	add("new", "b1", 2, domain.JobDone, "site-a", domain.FindingMissing, 3)
	add("other", "b2", 1, domain.JobDone, "site-a", domain.FindingMissing, 4)
	add("run", "b1", 3, domain.JobRunning, "site-a", domain.FindingMissing, 50)
	add("b", "b1", 1, domain.JobDone, "site-b", domain.FindingExtra, 2)

	reader := sdkmetric.NewManualReader()
	tel, err := app.NewTelemetry(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tel.Verify(jobs); err != nil {
		t.Fatal(err)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	got := map[[2]string]int64{}
	progress := map[string]float64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch m.Name {
			case "backbeat.verify.findings":
				for _, p := range m.Data.(metricdata.Gauge[int64]).DataPoints {
					site, _ := p.Attributes.Value(attribute.Key("site"))
					kind, _ := p.Attributes.Value(attribute.Key("kind"))
					got[[2]string{site.AsString(), kind.AsString()}] = p.Value
				}
			case "backbeat.verify.progress":
				for _, p := range m.Data.(metricdata.Gauge[float64]).DataPoints {
					job, _ := p.Attributes.Value(attribute.Key("job"))
					progress[job.AsString()] = p.Value
				}
			}
		}
	}
	if got[[2]string{"site-a", "missing"}] != 7 || got[[2]string{"site-b", "extra"}] != 2 || got[[2]string{"site-a", "extra"}] != 0 {
		t.Fatalf("findings gauge %v", got)
	}
	if len(got) != 2*len(domain.FindingKinds) {
		t.Fatalf("%d points, want every kind for both sites: %v", len(got), got)
	}
	// Running jobs, and the newest finished one of each bucket ("run" is
	// newer than "new" in b1, so "new" counts as the newest finished).
	if want := map[string]float64{"run": 0, "new": 1, "other": 1}; !maps.Equal(progress, want) {
		t.Fatalf("progress gauge %v, want %v", progress, want)
	}
}
