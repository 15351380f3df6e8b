package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// ReplicatorDeps are the ports a Replicator drives.
type ReplicatorDeps struct {
	Subscriber ports.Subscriber // required: the entry and replay topics
	Publisher  ports.Publisher  // required: outcomes, replays, dead letters
	Source     ports.ObjectSource
	// Destination is the site's; required, as Source is.
	Destination ports.Destination
	// Topics' unnamed topics take DefaultTopics' names.
	Topics  Topics
	Control ports.SiteControl // optional: pause/resume
	// Progress receives the bytes of each copy as the site takes them, for
	// the API's object progress; optional.
	Progress ports.ProgressStore
	// Telemetry counts retries and replays; optional.
	Telemetry *Telemetry
	Log       *slog.Logger // optional
}

// Replicator copies the versions queued for one destination site. Entries
// of one key run one at a time in order, an entry identical to one in
// flight is dropped, different keys run concurrently, and an entry is
// acknowledged only after its outcome is published. Make one with
// NewReplicator.
type Replicator struct {
	ReplicatorDeps
	ReplicationConfig

	site     string
	retry    domain.RetryPolicy
	gateOnce sync.Once
	gate     *Gate
	progress *progressReporter
}

// NewReplicator returns the replicator of site. cfg's unset fields take
// their defaults; a missing dependency or a bad setting is an error that
// names it.
func NewReplicator(site string, deps ReplicatorDeps, cfg ReplicationConfig) (*Replicator, error) {
	errs := requireDeps(dep{"Subscriber", deps.Subscriber}, dep{"Publisher", deps.Publisher},
		dep{"Source", deps.Source}, dep{"Destination", deps.Destination})
	if site == "" {
		errs = append(errs, errors.New("the site is not named"))
	}
	cfg = cfg.WithDefaults()
	errs = append(errs, cfg.Validate())
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("replicator %s: %w", site, err)
	}
	deps.Topics = deps.Topics.WithDefaults()
	deps.Log = orDiscard(deps.Log)
	return &Replicator{ReplicatorDeps: deps, ReplicationConfig: cfg, site: site, retry: cfg.RetryPolicy()}, nil
}

// Site is the destination site this replicator serves.
func (r *Replicator) Site() string { return r.site }

// Run consumes the entry and replay topics until ctx ends, then waits for
// the copies in flight.
func (r *Replicator) Run(ctx context.Context) error {
	stopProgress := r.startProgress()
	defer stopProgress()
	errc := make(chan error, 3)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if r.Control != nil {
		states, err := r.Control.Watch(ctx, r.site)
		if err != nil {
			if ctx.Err() != nil {
				return nil // asked to stop while starting: not a failure
			}
			return fmt.Errorf("watch state of site %s: %w", r.site, err)
		}
		if st, ok := <-states; ok { // start paused if the stored state says so
			r.applyState(ctx, st)
		}
		go r.followState(ctx, states)
	}
	for _, c := range []*consumer{
		{topic: r.Topics.Entries, group: r.GroupPrefix + "-" + r.site},
		{topic: r.Topics.Replay, group: r.GroupPrefix + "-replay-" + r.site},
	} {
		c.sub, c.concurrency, c.gate, c.log, c.plan = r.Subscriber, r.Concurrency, r.theGate(), r.Log, r.plan
		go func() { errc <- c.run(ctx) }()
	}
	err := errors.Join(<-errc)
	cancel()
	return errors.Join(err, <-errc)
}

// Paused reports whether the replicator is paused now: a pause stored
// through SiteControl reaches it asynchronously, through its watch.
func (r *Replicator) Paused() bool { return r.theGate().Paused() }

// theGate is the replicator's pause gate, made on first use so that
// Paused may be called while Run starts.
func (r *Replicator) theGate() *Gate {
	r.gateOnce.Do(func() { r.gate = NewGate() })
	return r.gate
}

func (r *Replicator) followState(ctx context.Context, states <-chan ports.SiteState) {
	for st := range states {
		r.applyState(ctx, st)
	}
}

// applyState pauses or resumes consumption, and arms a scheduled resume.
func (r *Replicator) applyState(ctx context.Context, st ports.SiteState) {
	r.theGate().Set(st.Paused)
	r.Log.Info("site state", "site", r.site, "paused", st.Paused, "scheduledResume", st.ScheduledResume)
	if !st.Paused || st.ScheduledResume.IsZero() {
		return
	}
	at := st.ScheduledResume
	go func() {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(at)):
		}
		// Every replicator of the site may fire: resuming twice is harmless,
		// and a pause set since then (no schedule, or another one) wins.
		cur, err := r.Control.State(ctx, r.site)
		if err != nil || !cur.Paused || !cur.ScheduledResume.Equal(at) {
			return
		}
		if err := r.Control.SetState(ctx, r.site, ports.SiteState{}); err != nil {
			r.Log.Error("scheduled resume", "site", r.site, "err", err)
		}
	}()
}

// plan decides what a delivery needs: nothing, a dead letter, or a copy.
func (r *Replicator) plan(ctx context.Context, d *ports.Delivery) *task {
	entry, obj, err := domain.DecodeEntry(d.Payload)
	if err != nil {
		if err := deadLetter(ctx, r.Publisher, r.Topics.DeadLetter, r.Topics.Entries, d.Message, err, r.Log, r.Telemetry); err != nil {
			return &task{key: "dead-letter", id: fmt.Sprint(d.Partition, d.Offset), run: func(context.Context) {}}
		}
		return nil
	}
	if entry.Site != "" && entry.Site != r.site {
		return nil
	}
	b, ok := obj.Site(r.site)
	if !ok || b.Status != domain.StatusPending || obj.IsReplica() {
		return nil // not for this site, already done, or a replica
	}
	return &task{
		key: entry.OrderingKey(),
		// A replay is a new entry, not a duplicate: it is published by the
		// task before it, which may still be finishing when it arrives.
		id:  fmt.Sprintf("%s/%s:%s:%d", entry.Bucket, entry.Key, obj.Generation(), entry.ReplayCount),
		run: func(ctx context.Context) { r.replicate(ctx, d, entry, obj) },
	}
}

// replicate copies one version, retrying transient errors, and publishes
// its outcome (or its replay). It returns without publishing only when ctx
// ends, leaving the delivery unacknowledged for redelivery.
func (r *Replicator) replicate(ctx context.Context, d *ports.Delivery, entry domain.Entry, obj domain.ObjectVersion) {
	if entry.NotBefore > 0 {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(time.UnixMilli(entry.NotBefore))):
		}
	}
	ctx, span := tracer.Start(traceContext(ctx, d.Headers), "replicate",
		trace.WithAttributes(attribute.String("site", r.site), attribute.String("bucket", obj.Bucket),
			attribute.String("key", obj.Key), attribute.String("version", obj.VersionID)))
	defer span.End()

	start := time.Now()
	r.Telemetry.pickedUp(ctx, r.site, entry, obj, start)
	var dstVersion string
	var action domain.Action
	var err error
	attempts := 0
	for {
		attempts++
		dstVersion, action, err = r.apply(ctx, entry, obj)
		if err == nil || ctx.Err() != nil || !r.retry.ShouldRetry(err, attempts, time.Since(start)) {
			break
		}
		delay := r.retry.Delay(attempts)
		r.Telemetry.retried(ctx, r.site)
		r.Log.InfoContext(ctx, "retrying copy", "site", r.site, "bucket", obj.Bucket, "key", obj.Key, "version", obj.VersionID, "attempt", attempts, "in", delay, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
	}
	if ctx.Err() != nil {
		return // shutting down: the entry will be delivered again
	}
	out := domain.NewOutcome(obj, r.site, domain.StatusCompleted)
	out.Attempts, out.ReplayCount = attempts, entry.ReplayCount
	switch {
	case err == nil:
		out.Completed(action, dstVersion, obj.Size)
	case domain.Classify(err) == domain.Transient && entry.ReplayCount < r.MaxReplays:
		r.replay(ctx, entry, out.Bytes, err)
		return
	default:
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		out.Status = domain.StatusFailed
		out.Reason = fmt.Sprintf("%s error after %d attempts: %v", domain.Classify(err), attempts, err)
	}
	msg := ports.Message{Key: out.OrderingKey(), Payload: out.Encode(), Headers: traceHeaders(ctx)}
	if retryForever(ctx, func() error { return r.Publisher.Publish(ctx, r.Topics.Status, msg) }, r.Log, "publish outcome") == nil {
		r.Telemetry.outcomePublished(ctx, obj, out, time.Since(start))
	}
}

// replay sends an entry whose retries are spent to the replay topic, to be
// tried again after ReplayDelay; bytes are the data it asks for.
func (r *Replicator) replay(ctx context.Context, entry domain.Entry, bytes int64, cause error) {
	entry.Site = r.site
	entry.ReplayCount++
	entry.NotBefore = time.Now().Add(r.ReplayDelay).UnixMilli()
	r.Telemetry.replayed(ctx, r.site, entry.ReplayCount, bytes)
	r.Log.WarnContext(ctx, "replaying entry later", "site", r.site, "bucket", entry.Bucket, "key", entry.Key, "replay", entry.ReplayCount, "err", cause)
	msg := ports.Message{Key: entry.OrderingKey(), Payload: entry.Encode(), Headers: traceHeaders(ctx)}
	_ = retryForever(ctx, func() error { return r.Publisher.Publish(ctx, r.Topics.Replay, msg) }, r.Log, "publish replay")
}

// apply brings the site in step with one version: the replica's metadata
// changed in place when the entry asks for no data and the site holds the
// replica, else a full copy.
func (r *Replicator) apply(ctx context.Context, entry domain.Entry, obj domain.ObjectVersion) (string, domain.Action, error) {
	dstBucket := obj.Replication.DestinationBucketName()
	if dstBucket == "" {
		return "", "", fmt.Errorf("%w: version has no destination bucket", domain.ErrPermanent)
	}
	replica := ports.Replica{
		Bucket: dstBucket, Key: obj.Key, SourceVersionID: obj.VersionID, Size: obj.Size,
		ContentType: obj.ContentType, ContentMD5: obj.ContentMD5, UserMeta: obj.UserMeta, Tags: obj.Tags,
		IsDeleteMarker: obj.IsDeleteMarker, Headers: obj.Headers, Lock: obj.Lock,
	}
	src, dst := r.instrumented(entry, obj)
	if obj.MetadataOnly() {
		v, action, err := r.setTags(ctx, dst, obj, replica)
		if !errors.Is(err, ports.ErrNoReplica) {
			return v, action, err
		}
		// Never copied, or the copy was lost: the site converges by a copy.
		r.Log.InfoContext(ctx, "no replica to update: copying", "site", r.site, "bucket", obj.Bucket, "key", obj.Key, "version", obj.VersionID)
	}
	v, err := r.copy(ctx, src, dst, obj, replica)
	return v, domain.ActionCopied, err
}

// setTags changes the tags of the site's replica of obj in place.
func (r *Replicator) setTags(ctx context.Context, dst ports.Destination, obj domain.ObjectVersion, replica ports.Replica) (string, domain.Action, error) {
	hint := ""
	if b, ok := obj.Site(r.site); ok {
		hint = b.DataStoreVersionID
	}
	v, changed, err := dst.SetTags(ctx, replica, hint)
	if err != nil {
		return "", "", fmt.Errorf("set tags at site %s: %w", r.site, err)
	}
	if !changed {
		return v, domain.ActionNone, nil
	}
	return v, domain.ActionMetadata, nil
}

// copy streams one version from the source to the destination.
func (r *Replicator) copy(ctx context.Context, src ports.ObjectSource, dst ports.Destination, obj domain.ObjectVersion, replica ports.Replica) (string, error) {
	var body io.Reader
	if !obj.IsDeleteMarker {
		rc, err := src.Open(ctx, obj.Bucket, obj.Key, obj.VersionID)
		if err != nil {
			return "", fmt.Errorf("read source: %w", err)
		}
		defer func() { _ = rc.Close() }()
		body = rc
	}
	progress := r.progress.begin(r.site, obj)
	replica.Progress = progress.reporter()
	v, err := dst.Put(ctx, replica, body)
	if err != nil {
		return "", fmt.Errorf("write to site %s: %w", r.site, err)
	}
	progress.finish()
	return v, nil
}
