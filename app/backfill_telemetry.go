package app

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/openbackbeat/backbeat/domain"
)

// BackfillTelemetry holds the instruments of backfill jobs:
// backbeat_backfill_versions_total{job,result} (result: queued, or the
// skip reason) and backbeat_backfill_progress{job} (the fraction of the
// versions scanned, 1 once done). A nil *BackfillTelemetry records nothing.
type BackfillTelemetry struct {
	versions      metric.Int64Counter
	progressGauge metric.Float64Gauge
}

// Backfill creates the backfill instruments on the same meter as t's; a
// nil t gives a nil result, which records nothing.
func (t *Telemetry) Backfill() (*BackfillTelemetry, error) {
	if t == nil {
		return nil, nil
	}
	versions, err1 := t.meter.Int64Counter("backbeat.backfill.versions", metric.WithUnit("{version}"),
		metric.WithDescription("Versions a backfill job scanned, by result: queued, or the reason it skipped them (completed, pending, no-rule, disabled-rule, replica, failed, unreadable, deleted)."))
	progress, err2 := t.meter.Float64Gauge("backbeat.backfill.progress",
		metric.WithDescription("Fraction of its versions a backfill job has scanned, from 0 to 1 (1 once done)."))
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("create backfill instruments: %w", err)
	}
	return &BackfillTelemetry{versions: versions, progressGauge: progress}, nil
}

func jobAttr(j domain.Job) attribute.KeyValue { return attribute.String("job", j.ID) }

// batchDone counts a batch's versions and updates the job's progress.
func (t *BackfillTelemetry) batchDone(ctx context.Context, j domain.Job, c domain.JobCounts) {
	if t == nil {
		return
	}
	if c.Queued > 0 {
		t.versions.Add(ctx, c.Queued, metric.WithAttributes(jobAttr(j), attribute.String("result", "queued")))
	}
	for reason, n := range c.Skipped {
		t.versions.Add(ctx, n, metric.WithAttributes(jobAttr(j), attribute.String("result", string(reason))))
	}
	t.progress(ctx, j)
}

func (t *BackfillTelemetry) progress(ctx context.Context, j domain.Job) {
	if t != nil {
		t.progressGauge.Record(ctx, j.Progress(), metric.WithAttributes(jobAttr(j)))
	}
}
