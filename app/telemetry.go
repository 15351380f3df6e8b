package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// instrumentation names the meter and the tracer of the use cases.
const instrumentation = "github.com/openbackbeat/backbeat/app"

// tracer starts spans on the global TracerProvider current at the time:
// unlike a Tracer taken once at init, it follows a provider replaced later
// (tests install and restore their own).
var tracer globalTracer

type globalTracer struct{}

func (globalTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	return otel.GetTracerProvider().Tracer(instrumentation).Start(ctx, name, opts...)
}

// LagBuckets are the histogram bounds of the replication lag, in seconds:
// sub-second for a healthy pipeline, up to hours for a paused or failing
// site.
var LagBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200}

// Telemetry holds the OpenTelemetry instruments of the use cases. It is
// passed to each role explicitly (never a package global), so a test can
// read the metrics of its own pipeline. A nil *Telemetry records nothing.
type Telemetry struct {
	published   metric.Int64Counter
	replicated  metric.Int64Counter
	failed      metric.Int64Counter
	bytes       metric.Int64Counter
	retries     metric.Int64Counter
	replays     metric.Int64Counter
	deadLetters metric.Int64Counter
	historyLost metric.Int64Counter
	lag         metric.Float64Histogram
	leaseRole   metric.Int64Gauge
	leaseEpoch  metric.Int64Gauge
	meter       metric.Meter
	// upstream are upstream Backbeat's metrics, beside these.
	upstream *upstreamMetrics
}

// NewTelemetry creates the instruments on mp; a nil mp means the global
// provider (otel.GetMeterProvider).
func NewTelemetry(mp metric.MeterProvider) (*Telemetry, error) {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	m := mp.Meter(instrumentation)
	t := &Telemetry{meter: m}
	var errs []error
	counter := func(name, unit, desc string) metric.Int64Counter {
		c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	t.published = counter("backbeat.entries.published", "{entry}", "Replication entries published to the bus, per destination site queued.")
	t.replicated = counter("backbeat.entries.replicated", "{entry}", "Object versions whose replication to a site completed, by action: copied, metadata (changed in place) or none (already there).")
	t.failed = counter("backbeat.entries.failed", "{entry}", "Object versions whose replication to a site failed.")
	t.bytes = counter("backbeat.replicated", "By", "Object data bytes replicated to a site.")
	t.retries = counter("backbeat.retries", "{attempt}", "Copy attempts retried after a transient error.")
	t.replays = counter("backbeat.replays", "{entry}", "Entries sent to the replay topic once their retries were spent.")
	t.deadLetters = counter("backbeat.dead.letters", "{message}", "Bad inputs published to the dead-letter topic, by where they came from.")
	t.historyLost = counter("backbeat.journal.history.lost", "{event}", "Times the populator found journal history it had not read gone (the oplog rolled past its checkpoint).")
	var err error
	t.leaseRole, err = m.Int64Gauge("backbeat.populator.active", metric.WithUnit("1"),
		metric.WithDescription("1 while this populator instance holds the lease and publishes, 0 while it is a standby."))
	errs = append(errs, err)
	t.leaseEpoch, err = m.Int64Gauge("backbeat.populator.lease.epoch", metric.WithUnit("1"),
		metric.WithDescription("The fencing epoch of this populator's current lease grant (0 while standby)."))
	errs = append(errs, err)
	t.lag, err = m.Float64Histogram("backbeat.replication.lag", metric.WithUnit("s"),
		metric.WithDescription("Time from the source write to the replica's COMPLETED status being applied."),
		metric.WithExplicitBucketBoundaries(LagBuckets...))
	errs = append(errs, err)
	t.upstream, err = newUpstreamMetrics(m)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("create app instruments: %w", err)
	}
	return t, nil
}

func site(s string) metric.MeasurementOption {
	return metric.WithAttributes(attribute.String("site", s))
}

func (t *Telemetry) entryPublished(ctx context.Context, s string) {
	if t != nil {
		t.published.Add(ctx, 1, site(s))
	}
}

// batchPublished records a batch of the journal the populator published:
// each entry's bytes of data (0 for metadata only), the sites the entries
// were queued for, and the commit time of the batch's last event (zero
// when unknown).
func (t *Telemetry) batchPublished(ctx context.Context, logID string, entryBytes []int64, queued []queuedSite, last time.Time) {
	t.populated(ctx, logID, entryBytes, last)
	for _, q := range queued {
		t.entryPublished(ctx, q.site)
		t.queuedFor(ctx, q.site, q.bytes)
	}
}

func (t *Telemetry) retried(ctx context.Context, s string) {
	if t != nil {
		t.retries.Add(ctx, 1, site(s))
	}
}

// replayed records an entry sent to the replay topic for its replay-th
// time, with bytes of data.
func (t *Telemetry) replayed(ctx context.Context, s string, replay int, bytes int64) {
	if t != nil {
		t.replays.Add(ctx, 1, site(s))
		t.replaySent(ctx, s, replay, bytes)
	}
}

func (t *Telemetry) deadLettered(ctx context.Context, source string) {
	if t != nil {
		t.deadLetters.Add(ctx, 1, metric.WithAttributes(attribute.String("source", source)))
	}
}

// PopulatorRole records a change of the populator's role; it is the
// OnRole hook of its Leadership.
func (t *Telemetry) PopulatorRole(active bool, epoch int64) {
	if t == nil {
		return
	}
	v := int64(0)
	if active {
		v = 1
	}
	ctx := context.Background()
	t.leaseRole.Record(ctx, v)
	t.leaseEpoch.Record(ctx, epoch)
}

// applied records an outcome newly written to the source metadata.
func (t *Telemetry) applied(ctx context.Context, out domain.Outcome, now time.Time) {
	if t == nil {
		return
	}
	t.statusApplied(ctx, out, now)
	switch out.Status {
	case domain.StatusFailed:
		t.failed.Add(ctx, 1, site(out.Site))
	case domain.StatusCompleted:
		action := out.Action
		if action == "" {
			action = domain.ActionCopied // an outcome of an older writer
		}
		t.replicated.Add(ctx, 1, metric.WithAttributes(attribute.String("site", out.Site), attribute.String("action", string(action))))
		t.bytes.Add(ctx, out.Bytes, site(out.Site))
		// The source time is the version's write, not its tag change's:
		// only a copy's lag is measured.
		if out.SourceModified > 0 && action == domain.ActionCopied {
			lag := now.Sub(time.UnixMilli(out.SourceModified)).Seconds()
			t.lag.Record(ctx, max(lag, 0), site(out.Site))
		}
	}
}

// ObserveBacklog reports each site's pending entries and bytes, as the
// shared MetricsRecorder counts them, whenever the metrics are collected.
// Unregister the returned registration when done.
func (t *Telemetry) ObserveBacklog(m ports.MetricsRecorder, sites []string) (metric.Registration, error) {
	entries, err := t.meter.Int64ObservableGauge("backbeat.backlog.entries", metric.WithUnit("{entry}"),
		metric.WithDescription("Entries queued for a site and not yet completed or failed."))
	if err != nil {
		return nil, fmt.Errorf("create backlog gauge: %w", err)
	}
	bytes, err := t.meter.Int64ObservableGauge("backbeat.backlog", metric.WithUnit("By"),
		metric.WithDescription("Object data bytes queued for a site and not yet completed or failed."))
	if err != nil {
		return nil, fmt.Errorf("create backlog gauge: %w", err)
	}
	return t.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		var errs []error
		for _, s := range sites {
			sm, err := m.Site(ctx, s, time.Minute)
			if err != nil {
				errs = append(errs, fmt.Errorf("backlog of site %s: %w", s, err))
				continue
			}
			o.ObserveInt64(entries, sm.Pending.Ops, site(s))
			o.ObserveInt64(bytes, sm.Pending.Bytes, site(s))
		}
		return errors.Join(errs...)
	}, entries, bytes)
}
