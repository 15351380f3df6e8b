package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// StatusApplier writes replication outcomes back to the source metadata
// with a compare-and-swap, never over a newer write, and keeps the failure
// store in step: a FAILED site is listed there, a COMPLETED one is not.
type StatusApplier struct {
	Subscriber  ports.Subscriber
	Publisher   ports.Publisher // for dead letters
	Metadata    ports.MetadataStore
	Failures    ports.FailureStore
	Metrics     ports.MetricsRecorder // optional
	Topics      Topics
	Group       string
	Concurrency int
	// Telemetry records outcomes and lag; optional.
	Telemetry *Telemetry
	Log       *slog.Logger
}

// Run applies outcomes until ctx ends.
func (a *StatusApplier) Run(ctx context.Context) error {
	if a.Group == "" {
		a.Group = "backbeat-replication-status"
	}
	if a.Concurrency <= 0 {
		a.Concurrency = 16
	}
	c := &consumer{sub: a.Subscriber, topic: a.Topics.Status, group: a.Group, concurrency: a.Concurrency, log: a.Log, plan: a.plan}
	return c.run(ctx)
}

func (a *StatusApplier) plan(ctx context.Context, d *ports.Delivery) *task {
	out, err := domain.DecodeOutcome(d.Payload)
	if err != nil {
		if err := deadLetter(ctx, a.Publisher, a.Topics.DeadLetter, a.Topics.Status, d.Message, err, a.Log, a.Telemetry); err != nil {
			return &task{key: "dead-letter", id: fmt.Sprint(d.Partition, d.Offset), run: func(context.Context) {}}
		}
		return nil
	}
	return &task{
		key: out.OrderingKey(),
		id:  fmt.Sprint(d.Partition, "/", d.Offset),
		run: func(ctx context.Context) {
			ctx, span := tracer.Start(traceContext(ctx, d.Headers), "apply-status",
				trace.WithAttributes(attribute.String("site", out.Site), attribute.String("status", string(out.Status))))
			defer span.End()
			// changed survives the retries: an attempt whose version write
			// went through but whose master sync failed sees no change the
			// next time, and must still count the outcome once.
			changed := false
			_ = retryForever(ctx, func() error { return a.apply(ctx, out, &changed) }, a.Log, "apply outcome")
		},
	}
}

// apply records one outcome. Stale outcomes and vanished versions are
// dropped with a log line: the newer write carries its own entry.
//
// A call that changes nothing still goes through UpdateVersion, which then
// brings the master document in step: an earlier attempt may have stopped
// between the version and the master, and returning early here left the
// master at an older status for good (found by the e2e suite).
func (a *StatusApplier) apply(ctx context.Context, out domain.Outcome, changed *bool) error {
	var now domain.Status // the site's status once the outcome is in
	_, err := a.Metadata.UpdateVersion(ctx, out.Bucket, out.Key, out.VersionID, func(v *domain.ObjectVersion) error {
		c, err := out.Apply(v)
		*changed = *changed || c
		if b, ok := v.Site(out.Site); ok {
			now = b.Status
		}
		return err
	})
	switch {
	case errors.Is(err, domain.ErrStaleOutcome), errors.Is(err, ports.ErrNotFound), errors.Is(err, domain.ErrIllegalTransition):
		a.Log.InfoContext(ctx, "outcome not applied", "bucket", out.Bucket, "key", out.Key, "version", out.VersionID, "site", out.Site, "status", out.Status, "reason", err)
		return nil
	case errors.Is(err, domain.ErrPoison):
		a.Log.WarnContext(ctx, "outcome for an unknown site", "bucket", out.Bucket, "key", out.Key, "site", out.Site, "err", err)
		return nil
	case err != nil:
		return fmt.Errorf("apply outcome to %s/%s %s: %w", out.Bucket, out.Key, out.VersionID, err)
	}
	fe := ports.FailedEntry{Site: out.Site, Bucket: out.Bucket, Key: out.Key, VersionID: out.VersionID, FailedAt: time.Now().Truncate(time.Millisecond)}
	switch now {
	case domain.StatusFailed:
		if err := a.Failures.Add(ctx, fe); err != nil {
			return fmt.Errorf("list failed entry: %w", err)
		}
	case domain.StatusCompleted:
		if _, err := a.Failures.Remove(ctx, fe); err != nil {
			return fmt.Errorf("unlist completed entry: %w", err)
		}
	}
	if *changed { // else already applied (a redelivery), or the site was COMPLETED before
		kind := ports.MetricCompleted
		if out.Status == domain.StatusFailed {
			kind = ports.MetricFailed
		}
		recordMetric(ctx, a.Metrics, a.Log, out.Site, kind, out.Bytes)
		a.Telemetry.applied(ctx, out, time.Now())
	}
	return nil
}

func recordMetric(ctx context.Context, m ports.MetricsRecorder, log *slog.Logger, site string, kind ports.MetricKind, bytes int64) {
	if m == nil {
		return
	}
	if err := m.Record(ctx, site, kind, bytes); err != nil {
		log.WarnContext(ctx, "record metric", "site", site, "kind", kind, "err", err)
	}
}
