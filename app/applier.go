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

// StatusApplierDeps are the ports a StatusApplier drives.
type StatusApplierDeps struct {
	Subscriber ports.Subscriber    // required: the status topic
	Publisher  ports.Publisher     // required: dead letters
	Metadata   ports.MetadataStore // required
	Failures   ports.FailureStore  // required
	// Topics' unnamed topics take DefaultTopics' names.
	Topics  Topics
	Metrics ports.MetricsRecorder // optional
	// Telemetry records outcomes and lag; optional.
	Telemetry *Telemetry
	Log       *slog.Logger // optional
}

// StatusApplier writes replication outcomes back to the source metadata
// with a compare-and-swap, never over a newer write, and keeps the failure
// store in step: a FAILED site is listed there, a COMPLETED one is not.
// Make one with NewStatusApplier.
type StatusApplier struct {
	StatusApplierDeps
	// group is the consumer group, <GroupPrefix>-status.
	group       string
	concurrency int
	lanes       *opLanes // of the outcomes' counts
}

// NewStatusApplier returns a status applier; of cfg it uses Concurrency
// and GroupPrefix, whose unset values take their defaults. A missing
// dependency or a bad setting is an error that names it.
func NewStatusApplier(deps StatusApplierDeps, cfg ReplicationConfig) (*StatusApplier, error) {
	errs := requireDeps(dep{"Subscriber", deps.Subscriber}, dep{"Publisher", deps.Publisher},
		dep{"Metadata", deps.Metadata}, dep{"Failures", deps.Failures})
	cfg = cfg.WithDefaults()
	errs = append(errs, cfg.Validate())
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("status applier: %w", err)
	}
	deps.Topics = deps.Topics.WithDefaults()
	deps.Log = orDiscard(deps.Log)
	return &StatusApplier{StatusApplierDeps: deps, group: cfg.GroupPrefix + "-status", concurrency: cfg.Concurrency, lanes: newOpLanes(cfg.Concurrency + 1)}, nil
}

// Run applies outcomes until ctx ends.
func (a *StatusApplier) Run(ctx context.Context) error {
	c := &consumer{sub: a.Subscriber, topic: a.Topics.Status, group: a.group, concurrency: a.concurrency, log: a.Log, plan: a.plan}
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
	// What the MongoDB write found, for the finish: the site's status once
	// the outcome is in (empty when it was not applied) and whether this
	// outcome changed it. changed survives the retries: an attempt whose
	// version write went through but whose master sync failed sees no
	// change the next time, and must still count the outcome once.
	var now domain.Status
	changed := false
	var start time.Time
	return &task{
		key: out.OrderingKey(),
		id:  fmt.Sprint(d.Partition, "/", d.Offset),
		run: func(ctx context.Context) {
			start = time.Now()
			ctx, span := tracer.Start(traceContext(ctx, d.Headers), "apply-status",
				trace.WithAttributes(attribute.String("site", out.Site), attribute.String("status", string(out.Status))))
			defer span.End()
			_ = retryForever(ctx, func() error {
				var err error
				now, err = a.apply(ctx, out, &changed)
				return err
			}, a.Log, "apply outcome")
		},
		// Redis is not on the status's path: during its outage statuses
		// still reach MongoDB, while the failure store and the counters
		// wait here, in order per key, and catch up when it returns. The
		// delivery is acked only after them, so a crash meanwhile redoes
		// them rather than losing them.
		finish: func(ctx context.Context) {
			// One op for every attempt: a count whose reply was lost is
			// not counted again by the next.
			op := ports.Op{Lane: a.lanes.take(), ID: a.lanes.nextID()}
			defer a.lanes.put(op.Lane)
			err := retryForever(ctx, func() error { return a.sideEffects(ctx, out, now, changed, op) }, a.Log, "update failure store and metrics")
			a.Telemetry.statusProcessed(ctx, out, err == nil && ctx.Err() == nil, time.Since(start))
		},
	}
}

// apply writes one outcome to the version's metadata and returns the
// site's status once it is in; empty when the outcome was not applied.
// Stale outcomes and vanished versions are dropped with a log line: the
// newer write carries its own entry.
//
// A call that changes nothing still goes through UpdateVersion, which then
// brings the master document in step: an earlier attempt may have stopped
// between the version and the master, and returning early here left the
// master at an older status for good (found by the e2e suite).
func (a *StatusApplier) apply(ctx context.Context, out domain.Outcome, changed *bool) (domain.Status, error) {
	var now domain.Status
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
		return "", nil
	case errors.Is(err, domain.ErrPoison):
		a.Log.WarnContext(ctx, "outcome for an unknown site", "bucket", out.Bucket, "key", out.Key, "site", out.Site, "err", err)
		return "", nil
	case err != nil:
		return "", fmt.Errorf("apply outcome to %s/%s %s: %w", out.Bucket, out.Key, out.VersionID, err)
	}
	return now, nil
}

// sideEffects keeps the failure store and the counters in step with an
// applied outcome: a FAILED site is listed, a COMPLETED one is not, and a
// change is counted once.
func (a *StatusApplier) sideEffects(ctx context.Context, out domain.Outcome, now domain.Status, changed bool, op ports.Op) error {
	if now == "" {
		return nil
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
	if !changed { // already applied (a redelivery), or the site was COMPLETED before
		return nil
	}
	kind := ports.MetricCompleted
	if out.Status == domain.StatusFailed {
		kind = ports.MetricFailed
	}
	if a.Metrics != nil {
		if err := a.Metrics.Record(ctx, out.Site, kind, 1, out.Bytes, op); err != nil {
			return fmt.Errorf("count the outcome: %w", err)
		}
	}
	a.Telemetry.applied(ctx, out, time.Now())
	return nil
}
