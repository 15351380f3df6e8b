package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/openbackbeat/backbeat/app"
	"github.com/openbackbeat/backbeat/domain"
)

type simulateOptions struct {
	objects, size, buckets int
	wait                   time.Duration
	// retag and untag change the tags of that many of the versions written
	// (the first ones, then the next ones), once they replicated when wait
	// is set, as PutObjectTagging and DeleteObjectTagging do.
	retag, untag int
}

// bucketMaker creates versioned buckets on an S3 endpoint.
type bucketMaker interface {
	EnsureVersionedBucket(ctx context.Context, bucket string) error
}

// simulate plays CloudServer: it creates demo buckets replicating to every
// site, writes objects, optionally follows them until they complete, then
// changes the tags of some.
func simulate(ctx context.Context, w *wiring, cfg Config, out io.Writer, o simulateOptions) error {
	if o.retag < 0 || o.untag < 0 || o.retag+o.untag > o.objects {
		return fmt.Errorf("--retag %d and --untag %d must be at least 0 and add up to at most --objects %d", o.retag, o.untag, o.objects)
	}
	written, err := simulateInto(ctx, w, cfg, out, "demo", o)
	if err != nil || o.retag+o.untag == 0 {
		return err
	}
	changed, err := retagInto(ctx, w, written[:o.retag+o.untag], o.retag)
	fmt.Fprintf(out, "changed the tags of %d objects and removed those of %d\n", o.retag, o.untag)
	if err != nil || o.wait <= 0 {
		return err
	}
	return follow(ctx, w, out, changed, o.wait)
}

// retagInto gives the first retag versions new tags and removes the tags
// of the others, and returns them as they are now.
func retagInto(ctx context.Context, w *wiring, versions []domain.ObjectVersion, retag int) ([]domain.ObjectVersion, error) {
	sim := &app.Simulator{Metadata: w.writer, Objects: w.sourceObjects, Versions: w.metadata}
	var out []domain.ObjectVersion
	for i, v := range versions {
		var tags map[string]string
		if i < retag {
			tags = map[string]string{"origin": "simulator", "retagged": time.Now().UTC().Format(time.RFC3339Nano)}
		}
		nv, err := sim.SetTags(ctx, v.Bucket, v.Key, v.VersionID, tags)
		if err != nil {
			return out, err
		}
		out = append(out, nv)
	}
	return out, nil
}

// simulateInto writes o.objects objects over o.buckets buckets named
// <prefix>-<n> and returns the versions written.
func simulateInto(ctx context.Context, w *wiring, cfg Config, out io.Writer, prefix string, o simulateOptions) ([]domain.ObjectVersion, error) {
	sim := &app.Simulator{Metadata: w.writer, Objects: w.sourceObjects}
	sites := cfg.SiteNames()
	var bs []domain.Bucket
	for i := range max(o.buckets, 1) {
		b := demoBucket(fmt.Sprintf("%s-%d", prefix, i+1), sites)
		if err := createBuckets(ctx, w, b, sites); err != nil {
			return nil, err
		}
		bs = append(bs, b)
	}
	var written []domain.ObjectVersion
	data := make([]byte, o.size)
	for i := range o.objects {
		_, _ = rand.Read(data)
		b := bs[i%len(bs)]
		v, err := sim.PutObject(ctx, b, fmt.Sprintf("object-%05d", i), data, "application/octet-stream",
			map[string]string{"demo": "yes"}, map[string]string{"origin": "simulator"})
		if err != nil {
			return written, err
		}
		written = append(written, v)
	}
	fmt.Fprintf(out, "wrote %d objects of %d bytes to %d bucket(s), replicating to %s\n", len(written), o.size, len(bs), strings.Join(sites, ", "))
	if o.wait <= 0 {
		return written, nil
	}
	return written, follow(ctx, w, out, written, o.wait)
}

// demoBucket is a versioned bucket replicating every key to every site,
// into <name>-replica.
func demoBucket(name string, sites []string) domain.Bucket {
	return domain.Bucket{Name: name, VersioningEnabled: true, VFormat: "v0", Replication: &domain.ReplicationConfig{
		Role:  "arn:aws:iam::000000000000:role/backbeat-demo",
		Rules: []domain.ReplicationRule{{ID: "demo", Enabled: true, DestinationBucket: domain.DestinationBucketPrefix + name + "-replica", StorageClass: strings.Join(sites, ",")}},
	}}
}

// createBuckets creates the destination buckets at every site, then the
// source bucket with its replication configuration.
func createBuckets(ctx context.Context, w *wiring, b domain.Bucket, sites []string) error {
	for _, site := range sites {
		if err := w.destBuckets[site].EnsureVersionedBucket(ctx, b.Name+"-replica"); err != nil {
			return fmt.Errorf("create destination bucket %s-replica at %s: %w", b.Name, site, err)
		}
	}
	sim := &app.Simulator{Metadata: w.writer, Objects: w.sourceObjects}
	return sim.CreateBucket(ctx, b)
}

// follow prints replication progress until every version is COMPLETED or
// FAILED, or the wait is over.
func follow(ctx context.Context, w *wiring, out io.Writer, written []domain.ObjectVersion, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	start := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		counts := map[domain.Status]int{}
		var stuck []string
		for _, v := range written {
			cur, err := w.metadata.Version(ctx, v.Bucket, v.Key, v.VersionID)
			if err != nil {
				return fmt.Errorf("read status of %s/%s: %w", v.Bucket, v.Key, err)
			}
			counts[cur.Replication.Status]++
			if st := cur.Replication.Status; st != domain.StatusCompleted && st != domain.StatusFailed && len(stuck) < 5 {
				stuck = append(stuck, fmt.Sprintf("%s/%s %s: %s %v", v.Bucket, v.Key, v.VersionID, st, cur.Replication.Backends))
			}
		}
		done := counts[domain.StatusCompleted] + counts[domain.StatusFailed]
		fmt.Fprintf(out, "[%5.1fs] completed %d/%d  failed %d  in progress %d\n", time.Since(start).Seconds(),
			counts[domain.StatusCompleted], len(written), counts[domain.StatusFailed], len(written)-done)
		if done == len(written) {
			if counts[domain.StatusFailed] > 0 {
				return fmt.Errorf("%d objects FAILED to replicate: see `backbeat ctl failed list`", counts[domain.StatusFailed])
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("gave up after %s: %d of %d objects not done, for example:\n  %s", wait, len(written)-done, len(written), strings.Join(stuck, "\n  "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}
