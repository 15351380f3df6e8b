package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// VerifyTelemetry holds the instruments of verify jobs:
//   - backbeat_verify_versions_total{job}: source versions compared;
//   - backbeat_verify_findings{site,kind}: the findings of the last
//     finished verify job of each bucket and site, summed over buckets;
//   - backbeat_verify_progress{job}: the fraction of its versions each
//     running verify job, and the newest finished one of each bucket, has
//     compared (1 once done).
//
// The two gauges are read from the job store when metrics are collected,
// so every API instance shows the same, whichever ran the jobs. A nil
// *VerifyTelemetry records nothing.
type VerifyTelemetry struct {
	versions metric.Int64Counter
}

// collectTimeout bounds the job store read of one metrics collection.
const collectTimeout = 2 * time.Second

// Verify creates the verify instruments on the same meter as t's, the
// gauges reading jobs; a nil t gives a nil result, which records nothing.
func (t *Telemetry) Verify(jobs ports.JobStore) (*VerifyTelemetry, error) {
	if t == nil {
		return nil, nil
	}
	versions, err1 := t.meter.Int64Counter("backbeat.verify.versions", metric.WithUnit("{version}"),
		metric.WithDescription("Source versions a verify job compared with a site."))
	findings, err2 := t.meter.Int64ObservableGauge("backbeat.verify.findings",
		metric.WithDescription("Findings of the last finished verify job of each bucket and site, summed over buckets, by site and kind (missing, content, tags, marker, status-lies, pending, failed, extra)."))
	progress, err3 := t.meter.Float64ObservableGauge("backbeat.verify.progress",
		metric.WithDescription("Fraction of its versions a verify job has compared, from 0 to 1 (1 once done): every running job, and the newest finished one of each bucket."))
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("create verify instruments: %w", err)
	}
	if jobs != nil {
		_, err := t.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
			ctx, cancel := context.WithTimeout(ctx, collectTimeout)
			defer cancel()
			js, err := jobs.Jobs(ctx, ports.JobFilter{Kind: domain.JobVerify})
			if err != nil {
				return nil // the store is away: no verify gauges this time
			}
			finished := map[string]bool{} // buckets whose newest finished job is shown
			for _, j := range js {
				if j.State == domain.JobRunning || !finished[j.Bucket] {
					o.ObserveFloat64(progress, j.Progress(), metric.WithAttributes(jobAttr(j)))
				}
				if j.State.Final() {
					finished[j.Bucket] = true
				}
			}
			for site, kinds := range LastVerifyFindings(js) {
				for _, k := range domain.FindingKinds {
					o.ObserveInt64(findings, kinds[k], metric.WithAttributes(attribute.String("site", site), attribute.String("kind", string(k))))
				}
			}
			return nil
		}, findings, progress)
		if err != nil {
			return nil, fmt.Errorf("register the verify gauges: %w", err)
		}
	}
	return &VerifyTelemetry{versions: versions}, nil
}

// LastVerifyFindings sums, per site and kind, the findings of the newest
// finished (done) verify job of each bucket and site among jobs, listed
// newest first as the job store lists them.
func LastVerifyFindings(jobs []domain.Job) map[string]map[domain.FindingKind]int64 {
	type bucketSite struct{ bucket, site string }
	seen := map[bucketSite]bool{}
	out := map[string]map[domain.FindingKind]int64{}
	for _, j := range jobs {
		if j.Kind != domain.JobVerify || j.State != domain.JobDone || j.Verify == nil {
			continue
		}
		for _, t := range j.Verify.Targets {
			bs := bucketSite{j.Bucket, t.Site}
			if seen[bs] {
				continue
			}
			seen[bs] = true
			if out[t.Site] == nil {
				out[t.Site] = map[domain.FindingKind]int64{}
			}
			for k, n := range j.Verify.Findings[t.Site] {
				out[t.Site][k] += n
			}
		}
	}
	return out
}

// batchDone counts a batch's compared versions.
func (t *VerifyTelemetry) batchDone(ctx context.Context, j domain.Job, c domain.VerifyCounts) {
	if t != nil && c.Compared > 0 {
		t.versions.Add(ctx, c.Compared, metric.WithAttributes(jobAttr(j)))
	}
}
