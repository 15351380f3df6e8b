package app

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/openbackbeat/backbeat/domain"
)

// upstreamMetrics are the Prometheus metrics upstream Backbeat exports,
// under its names, labels and buckets, beside this service's own, so that
// Zenko's replication dashboard and alerts (scality/backbeat
// monitoring/replication/dashboard.py, alerts.yaml) work against it
// unchanged. Each is recorded by the role upstream records it in:
//
//   - the populator: lib/queuePopulator/QueuePopulator.js
//     (s3_replication_populator_*) and extensions/replication/
//     ReplicationMetrics.js (s3_replication_queued_*);
//   - the replicator: extensions/replication/queueProcessor/
//     QueueProcessor.js (data and metadata reads, writes, bytes, statuses,
//     stage times, RPO), ReplicationMetrics.js (processed bytes and
//     elapsed time), and the replays it sends (replay attempts and queued
//     replays, which upstream's status processor counts because it is the
//     one that replays there);
//   - the status applier: extensions/replication/
//     replicationStatusProcessor/ReplicationStatusProcessor.js (statuses,
//     latency, replays completed, processing time).
//
// Names carry no unit for the exporter to add; counters get _total.
type upstreamMetrics struct {
	popObjects, popBytes, popMessages                                 metric.Int64Counter
	logTimestamp                                                      metric.Float64Gauge
	queuedObjects, queuedBytes, processedBytes                        metric.Int64Counter
	elapsed                                                           metric.Float64Histogram
	dataStatus, metadataStatus, dataBytes, metadataBytes, sourceBytes metric.Int64Counter
	reads, writes                                                     metric.Int64Counter
	stage, rpo                                                        metric.Float64Histogram
	status, replayAttempts, replaySuccess                             metric.Int64Counter
	replayQueuedObjects, replayQueuedBytes                            metric.Int64Counter
	replayCompletedObjects, replayCompletedBytes                      metric.Int64Counter
	statusDuration, latency, replayQueuedSizes, replayCompletedSizes  metric.Float64Histogram
	replayCount                                                       metric.Float64Histogram
}

// Buckets, upstream's.
var (
	// elapsedBuckets is ReplicationMetrics.js' TIME_BUCKETS (seconds).
	elapsedBuckets = []float64{0.03, 0.1, 0.3, 1, 3, 10, 30, 100, 300, 1000, 3000}
	// stageBuckets are s3_replication_stage_time_elapsed's (milliseconds).
	stageBuckets = []float64{10, 100, 1000, 10000, 30000, 60000, 120000, 300000}
	// rpoBuckets are the RPO's and the latency's (seconds).
	rpoBuckets = []float64{1, 10, 30, 60, 120, 300, 600}
	// statusBuckets are the status processing time's (seconds).
	statusBuckets = []float64{0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 1}
	// objectSizeBuckets are conf/config.json's objectSizeMetrics (bytes).
	objectSizeBuckets = []float64{66560, 8388608, 68157440}
	// replayCountBuckets are 0 .. replays-1 for the default 5 replays.
	replayCountBuckets = []float64{0, 1, 2, 3, 4}
)

// sizeRanges are ReplicationMetrics.js' SIZE_BUCKETS: the
// contentLengthRange label of s3_replication_elapsed_seconds.
var sizeRanges = []struct {
	label string
	lt    float64
}{
	{"<10KB", 1e4}, {"10KB..30KB", 3e4}, {"30KB..100KB", 1e5}, {"100KB..300KB", 3e5},
	{"300KB..1MB", 1e6}, {"1MB..3MB", 3e6}, {"3MB..10MB", 1e7}, {"10MB..30MB", 3e7},
	{"30MB..100MB", 1e8}, {"100MB..300MB", 3e8}, {"300MB..1GB", 1e9}, {"1GB..3GB", 3e9},
	{"3GB..10GB", 1e10}, {"10GB..30GB", 3e10}, {"30GB..100GB", 1e11}, {"100GB..300GB", 3e11},
	{"300GB..1TB", 1e12},
}

func sizeRange(n int64) string {
	for _, r := range sizeRanges {
		if float64(n) < r.lt {
			return r.label
		}
	}
	return ">1TB"
}

// Label values, upstream's.
const (
	upstreamOrigin = "replication"
	// serviceName of the replicator, as lib/constants.js services name
	// upstream's queue processor and its replay processor.
	serviceQueueProcessor  = "ReplicationQueueProcessor"
	serviceReplayProcessor = "ReplicationReplayProcessor"
	stageSourceDataRead    = "ReplicationSourceDataRead"
	stageDataWrite         = "ReplicationDestinationDataWrite"
	stageMetadataWrite     = "ReplicationDestinationMetadataWrite"
	// The source is read through the S3 API from where CloudServer keeps
	// it; the sites are S3 endpoints, which upstream types aws_s3.
	sourceLocationType = "local"
	siteLocationType   = "aws_s3"
)

func newUpstreamMetrics(m metric.Meter) (*upstreamMetrics, error) {
	u := &upstreamMetrics{}
	var errs []error
	counter := func(name, desc string) metric.Int64Counter {
		c, err := m.Int64Counter(name, metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	histogram := func(name, desc string, buckets []float64) metric.Float64Histogram {
		h, err := m.Float64Histogram(name, metric.WithDescription(desc), metric.WithExplicitBucketBoundaries(buckets...))
		errs = append(errs, err)
		return h
	}
	u.popObjects = counter("s3_replication_populator_objects", "Total objects queued for replication")
	u.popBytes = counter("s3_replication_populator_bytes", "Total number of bytes queued for replication not including metadata")
	u.popMessages = counter("s3_replication_populator_messages", "Total number of Kafka messages produced by the queue populator")
	var err error
	u.logTimestamp, err = m.Float64Gauge("s3_replication_log_timestamp", metric.WithDescription("Last timestamp read from the metadata journal"))
	errs = append(errs, err)
	u.queuedObjects = counter("s3_replication_queued_objects", "Total number of objects queued for replication")
	u.queuedBytes = counter("s3_replication_queued_bytes", "Total number of bytes queued for replication")
	u.processedBytes = counter("s3_replication_processed_bytes", "Total number of bytes replicated")
	u.elapsed = histogram("s3_replication_elapsed_seconds", "Replication jobs elapsed time in seconds", elapsedBuckets)
	u.dataStatus = counter("s3_replication_data_status_changed", "Total number of status updates")
	u.metadataStatus = counter("s3_replication_metadata_status_changed", "Total number of status updates")
	u.dataBytes = counter("s3_replication_data_bytes", "Total number of bytes replicated for data operation")
	u.metadataBytes = counter("s3_replication_metadata_bytes", "Total number of bytes replicated for metadata operation")
	u.sourceBytes = counter("s3_replication_source_data_bytes", "Total number of data bytes read from replication source")
	u.reads = counter("s3_replication_data_read", "Total number of read operations")
	u.writes = counter("s3_replication_data_write", "Total number of write operations")
	u.stage = histogram("s3_replication_stage_time_elapsed", "Elapsed time of a specific stage in replication (in millisecond)", stageBuckets)
	u.rpo = histogram("s3_replication_rpo_seconds", "Difference between the time the object is updated and the time it is picked up for replication", rpoBuckets)
	u.status = counter("s3_replication_status_changed", "Total number of objects updated")
	u.statusDuration = histogram("s3_replication_status_process_duration_seconds", "Duration of replication status processing", statusBuckets)
	u.latency = histogram("s3_replication_latency_seconds", "Time taken for an object to replicate successfully to the destination", rpoBuckets)
	u.replayAttempts = counter("s3_replication_replay_attempts", "Total number of attempts made to replay replication")
	u.replaySuccess = counter("s3_replication_replay_success", "Total number of times an object was replicated during a replay")
	u.replayQueuedObjects = counter("s3_replication_replay_objects_queued", "Total number of objects added to replay queues")
	u.replayQueuedBytes = counter("s3_replication_replay_bytes_queued", "Total Number of bytes added to replay queues")
	u.replayQueuedSizes = histogram("s3_replication_replay_file_sizes_queued", "Total number of objects queued for replay by file size", objectSizeBuckets)
	u.replayCompletedObjects = counter("s3_replication_replay_objects_completed", "Total number of objects completed from replay queues")
	u.replayCompletedBytes = counter("s3_replication_replay_bytes_completed", "Total number of bytes completed from replay queues")
	u.replayCompletedSizes = histogram("s3_replication_replay_file_sizes_completed", "Total number of objects completed from replay by file size", objectSizeBuckets)
	u.replayCount = histogram("s3_replication_replay_count", "Total number of replays to complete replication", replayCountBuckets)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("create upstream instruments: %w", err)
	}
	return u, nil
}

func attrs(kv ...string) metric.MeasurementOption {
	a := make([]attribute.KeyValue, 0, len(kv)/2+1)
	a = append(a, attribute.String("origin", upstreamOrigin))
	for i := 0; i+1 < len(kv); i += 2 {
		a = append(a, attribute.String(kv[i], kv[i+1]))
	}
	return metric.WithAttributes(a...)
}

func (t *Telemetry) up() *upstreamMetrics {
	if t == nil {
		return nil
	}
	return t.upstream
}

// populated counts entries the populator published from a batch of the
// journal, each with the bytes of data it asks for (0 for metadata only),
// and the commit time of the batch's last event (zero when unknown).
func (t *Telemetry) populated(ctx context.Context, logID string, entryBytes []int64, last time.Time) {
	u := t.up()
	if u == nil {
		return
	}
	labels := []string{"logName", "mongo-log", "logId", logID}
	if !last.IsZero() {
		u.logTimestamp.Record(ctx, float64(last.UnixMilli())/1000, attrs(labels...))
	}
	if len(entryBytes) == 0 {
		return
	}
	var sum int64
	for _, b := range entryBytes {
		sum += b
	}
	u.popObjects.Add(ctx, int64(len(entryBytes)), attrs(labels...))
	u.popBytes.Add(ctx, sum, attrs(labels...))
	u.popMessages.Add(ctx, int64(len(entryBytes)), attrs(append(labels, "publishStatus", "SUCCESS")...))
}

// queuedFor counts an entry queued for site with bytes of data.
func (t *Telemetry) queuedFor(ctx context.Context, site string, bytes int64) {
	u := t.up()
	if u == nil {
		return
	}
	// The partition an entry lands in is the bus's choice, not known here.
	labels := attrs("partition", "", "fromLocation", "", "fromLocationType", sourceLocationType, "toLocation", site, "toLocationType", siteLocationType)
	u.queuedObjects.Add(ctx, 1, labels)
	u.queuedBytes.Add(ctx, bytes, labels)
}

func replicatorService(replay int) string {
	if replay > 0 {
		return serviceReplayProcessor
	}
	return serviceQueueProcessor
}

// pickedUp records the RPO of an entry the replicator starts on: the time
// since the version was written.
func (t *Telemetry) pickedUp(ctx context.Context, site string, e domain.Entry, obj domain.ObjectVersion, now time.Time) {
	u := t.up()
	if u == nil || obj.LastModified.IsZero() {
		return
	}
	u.rpo.Record(ctx, max(now.Sub(obj.LastModified).Seconds(), 0), attrs("serviceName", replicatorService(e.ReplayCount), "location", site))
}

// stageDone records one read or write of a replication stage.
func (t *Telemetry) stageDone(ctx context.Context, site string, e domain.Entry, stage string, bytes int64, took time.Duration) {
	u := t.up()
	if u == nil {
		return
	}
	svc := replicatorService(e.ReplayCount)
	base := attrs("serviceName", svc, "location", site)
	u.stage.Record(ctx, float64(took)/float64(time.Millisecond), attrs("serviceName", svc, "location", site, "replicationStage", stage))
	switch stage {
	case stageSourceDataRead:
		u.reads.Add(ctx, 1, base)
		u.sourceBytes.Add(ctx, bytes, base)
	case stageDataWrite:
		u.writes.Add(ctx, 1, attrs("serviceName", svc, "location", site, "replicationContent", "data"))
		u.dataBytes.Add(ctx, bytes, base)
	case stageMetadataWrite:
		u.writes.Add(ctx, 1, attrs("serviceName", svc, "location", site, "replicationContent", "metadata"))
		u.metadataBytes.Add(ctx, bytes, base)
	}
}

// metadataCarried counts the metadata a data write carried to the site
// (upstream writes it in a request of its own).
func (t *Telemetry) metadataCarried(ctx context.Context, site string, e domain.Entry) {
	u := t.up()
	if u == nil {
		return
	}
	u.metadataBytes.Add(ctx, int64(len(e.Value)), attrs("serviceName", replicatorService(e.ReplayCount), "location", site))
}

// outcomePublished records the status the replicator published for a
// version, and the job's bytes and time.
func (t *Telemetry) outcomePublished(ctx context.Context, obj domain.ObjectVersion, out domain.Outcome, took time.Duration) {
	u := t.up()
	if u == nil {
		return
	}
	st := attrs("location", out.Site, "replicationStatus", string(out.Status))
	u.metadataStatus.Add(ctx, 1, st)
	if obj.NeedsData() {
		u.dataStatus.Add(ctx, 1, st)
	}
	status := "success"
	if out.Status != domain.StatusCompleted {
		status = "error"
	}
	loc := []string{"fromLocation", "", "fromLocationType", sourceLocationType, "toLocation", out.Site, "toLocationType", siteLocationType, "status", status}
	u.processedBytes.Add(ctx, out.Bytes, attrs(loc...))
	u.elapsed.Record(ctx, took.Seconds(), attrs(append(loc, "contentLengthRange", sizeRange(obj.Size))...))
}

// replaySent records an entry sent to the replay topic for its replay-th
// time, with bytes of data.
func (t *Telemetry) replaySent(ctx context.Context, site string, replay int, bytes int64) {
	u := t.up()
	if u == nil {
		return
	}
	u.replayAttempts.Add(ctx, 1, attrs("location", site, "replayCount", strconv.Itoa(replay)))
	if replay == 1 {
		labels := attrs("location", site, "replayCount", "0")
		u.replayQueuedObjects.Add(ctx, 1, labels)
		u.replayQueuedBytes.Add(ctx, bytes, labels)
		u.replayQueuedSizes.Record(ctx, float64(bytes), labels)
	}
}

// statusApplied records an outcome the status applier wrote.
func (t *Telemetry) statusApplied(ctx context.Context, out domain.Outcome, now time.Time) {
	u := t.up()
	if u == nil {
		return
	}
	u.status.Add(ctx, 1, attrs("replicationStatus", string(out.Status)))
	if out.Status != domain.StatusCompleted && out.Status != domain.StatusFailed {
		return
	}
	replays := strconv.Itoa(out.ReplayCount)
	if out.Status == domain.StatusCompleted {
		if out.ReplayCount > 0 {
			u.replaySuccess.Add(ctx, 1, attrs("location", out.Site, "replayCount", replays))
		}
		u.replayCount.Record(ctx, float64(out.ReplayCount), attrs("location", out.Site))
	}
	labels := attrs("location", out.Site, "replayCount", replays, "replicationStatus", string(out.Status))
	u.replayCompletedObjects.Add(ctx, 1, labels)
	u.replayCompletedBytes.Add(ctx, out.Bytes, labels)
	u.replayCompletedSizes.Record(ctx, float64(out.Bytes), labels)
	if out.SourceModified > 0 {
		u.latency.Record(ctx, max(now.Sub(time.UnixMilli(out.SourceModified)).Seconds(), 0), labels)
	}
}

// statusProcessed records how long the status applier took over one
// outcome, from delivery to its side effects done.
func (t *Telemetry) statusProcessed(ctx context.Context, out domain.Outcome, ok bool, took time.Duration) {
	u := t.up()
	if u == nil {
		return
	}
	result := "success"
	if !ok {
		result = "error"
	}
	u.statusDuration.Record(ctx, took.Seconds(), attrs("result", result, "replicationStatus", string(out.Status)))
}
