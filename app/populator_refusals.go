package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// Refusals: the sites a version must not be replicated to, decided by
// domain.Bucket.Refusals on the bucket as read (cached for
// BucketCacheTTL), and published as FAILED outcomes.

type cachedBucket struct {
	b   domain.Bucket
	err error
	at  time.Time
}

// refusedSites returns, with the reason, the pending sites this version
// must not be replicated to: the bucket is gone or no longer replicates the
// key, its document or replication configuration cannot be used, or the
// site is not one this service knows. bad is set when the refusal is due to
// bad input rather than to a configuration change. err is set only when
// ctx ended while the bucket could not be read.
func (p *Populator) refusedSites(ctx context.Context, obj domain.ObjectVersion, pending []string) (refused map[string]string, bad, err error) {
	var b domain.Bucket
	notFound := false
	err = retryForever(ctx, func() error {
		var err error
		b, err = p.bucket(ctx, obj.Bucket)
		notFound = errors.Is(err, ports.ErrNotFound)
		if notFound {
			return nil
		}
		return err
	}, p.Log, "read bucket "+obj.Bucket)
	switch {
	case notFound:
		return domain.RefuseAll(pending, "source bucket does not exist"), nil, nil
	case err != nil && ctx.Err() != nil:
		return nil, nil, err
	case err != nil: // retrying cannot fix it: the document is unusable
		bad = fmt.Errorf("bucket %s: %w", obj.Bucket, err)
		return domain.RefuseAll(pending, bad.Error()), bad, nil
	}
	refused, bad = b.Refusals(obj.Key, pending, p.Sites)
	return refused, bad, nil
}

// failSites marks sites FAILED with their reason, so that the version is
// never left PENDING forever (upstream's weakness). It publishes the
// outcomes as a replicator would: the status applier writes them (stale
// ones are dropped by their generation) and lists them in the failure
// store, where operators find and retry them. They count as queued here,
// and as failed when applied.
func (p *Populator) failSites(ctx context.Context, obj domain.ObjectVersion, refused map[string]string) error {
	outs := make([]domain.Outcome, 0, len(refused))
	msgs := make([]ports.Message, 0, len(refused))
	for site, reason := range refused {
		out := domain.NewOutcome(obj, site, domain.StatusFailed)
		out.Reason = reason
		outs = append(outs, out)
		msgs = append(msgs, ports.Message{Key: out.OrderingKey(), Payload: out.Encode(), Headers: traceHeaders(ctx)})
	}
	if err := retryForever(ctx, func() error { return p.Publisher.Publish(ctx, p.Topics.Status, msgs...) }, p.Log, "publish refusals"); err != nil {
		return fmt.Errorf("mark refused sites FAILED on %s/%s %s: %w", obj.Bucket, obj.Key, obj.VersionID, err)
	}
	for _, out := range outs {
		p.Log.WarnContext(ctx, "version not replicated", "bucket", obj.Bucket, "key", obj.Key, "version", obj.VersionID, "site", out.Site, "reason", out.Reason)
		p.counts().record(ctx, deferredCount{site: out.Site, kind: ports.MetricQueued, ops: 1, bytes: out.Bytes})
		p.Telemetry.entryPublished(ctx, out.Site)
	}
	return nil
}

func (p *Populator) bucket(ctx context.Context, name string) (domain.Bucket, error) {
	ttl := p.BucketCacheTTL
	p.mu.Lock()
	c, ok := p.buckets[name]
	p.mu.Unlock()
	if ok && time.Since(c.at) < ttl {
		return c.b, c.err
	}
	b, err := p.Metadata.Bucket(ctx, name)
	if err == nil && b.Replication != nil {
		// The stored configuration is checked as PutBucketReplication
		// would; sites are checked per version (nil: not here), so that a
		// rule naming one unknown site still replicates to the others.
		if verr := b.Replication.Validate(nil); verr != nil {
			err = fmt.Errorf("invalid %w [%w]", verr, domain.ErrPermanent)
		}
	}
	if err != nil && !errors.Is(err, ports.ErrNotFound) && domain.Classify(err) == domain.Transient {
		return b, err // do not cache transient failures
	}
	p.mu.Lock()
	if p.buckets == nil {
		p.buckets = map[string]cachedBucket{}
	}
	p.buckets[name] = cachedBucket{b: b, err: err, at: time.Now()}
	p.mu.Unlock()
	return b, err
}
