package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.mongodb.org/mongo-driver/bson"
	"golang.org/x/sync/errgroup"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/e2e"
)

// writeConfig writes an isolated configuration: one site, own database,
// topics, groups, checkpoint and Redis keys.
func (b *bench) writeConfig(tag, db string) (string, error) {
	o := b.o
	p := b.run + "-" + tag
	cfg := fmt.Sprintf(`backend: real
source: {endpoint: %[1]q, region: %[2]q, accessKey: %[3]q, secretKey: %[4]q, multipartThreshold: %[12]d, partSize: %[13]d, maxPartsInFlight: %[14]d}
sites:
  - name: %[5]s
    s3: {endpoint: %[6]q, region: %[2]q, accessKey: %[3]q, secretKey: %[4]q, multipartThreshold: %[12]d, partSize: %[13]d, maxPartsInFlight: %[14]d}
mongo: {uri: %[7]q, database: %[8]q, journalMode: collections}
kafka: {brokers: [%[9]q], partitions: 8}
redis: {addr: %[10]q, keyPrefix: "%[11]s:"}
topics: {entries: %[11]s-replication, status: %[11]s-status, replay: %[11]s-replay, deadLetter: %[11]s-dead-letter}
replication: {concurrency: %[15]d, groupPrefix: %[11]s}
populator: {checkpointName: %[11]s}
api: {listen: "127.0.0.1:0"}
log: {level: %[16]s}
`, srcEndpoint, region, accessKey, secretKey, b.o.site, siteEndpoints[b.o.site], mongoURI, db, kafkaBroker, redisAddr, p,
		16<<20, o.partSize, o.inFlight, o.concurrency, o.logLevel)
	path := filepath.Join(o.out, p+".yaml")
	return path, os.WriteFile(path, []byte(cfg), 0o644)
}

func (b *bench) startAll(ctx context.Context) error {
	for _, role := range []string{"populator", "replicator", "status"} {
		s, err := startService(b.o, b.cfg, role, b.tag)
		if err != nil {
			return err
		}
		b.svc[role] = s
	}
	return nil
}

// pids of the service and the stack, for the CPU meter.
func (b *bench) pids() map[string]int {
	m := map[string]int{}
	for n, p := range b.stack {
		m[n] = p
	}
	for n, s := range b.svc {
		m[n] = s.pid()
	}
	return m
}

// newBucket creates a versioned source bucket replicating to <name>-replica
// at the site, and that destination bucket.
func (b *bench) newBucket(ctx context.Context, name string) (domain.Bucket, error) {
	bk := domain.Bucket{Name: name, VersioningEnabled: true, VFormat: "v0", Replication: &domain.ReplicationConfig{
		Role:  "arn:aws:iam::000000000000:role/bench",
		Rules: []domain.ReplicationRule{{ID: "all", Enabled: true, DestinationBucket: domain.DestinationBucketPrefix + name + "-replica", StorageClass: b.o.site}},
	}}
	if err := b.dstBkt.EnsureVersionedBucket(ctx, name+"-replica"); err != nil {
		return bk, err
	}
	if err := b.srcBkt.EnsureVersionedBucket(ctx, name); err != nil {
		return bk, err
	}
	return bk, b.meta.PutBucket(ctx, bk)
}

// seeded is an object whose data is on the source, metadata not yet written.
type seeded struct {
	key, vid, md5 string
	size          int64
}

// seed uploads n objects of size bytes to the source with the raw client.
func (b *bench) seed(ctx context.Context, bucket, prefix string, n, size int) ([]seeded, error) {
	out := make([]seeded, n)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(2 * b.o.concurrency)
	for i := range n {
		g.Go(func() error {
			data := make([]byte, size)
			_, _ = rand.Read(data)
			key := fmt.Sprintf("%s%06d", prefix, i)
			res, err := b.src.PutObject(gctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
				Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(size)), ContentType: aws.String("application/octet-stream")})
			if err != nil {
				return fmt.Errorf("seed %s/%s: %w", bucket, key, err)
			}
			sum := md5.Sum(data)
			out[i] = seeded{key: key, vid: aws.ToString(res.VersionId), md5: hex.EncodeToString(sum[:]), size: int64(size)}
			return nil
		})
	}
	return out, g.Wait()
}

// version is the metadata CloudServer would write for a seeded object.
func version(bk domain.Bucket, s seeded) domain.ObjectVersion {
	rule, _ := bk.RuleFor(s.key)
	return domain.ObjectVersion{Bucket: bk.Name, Key: s.key, VersionID: s.vid, MicroVersionID: fmt.Sprintf("%016x", mrand.Uint64()),
		Size: s.size, ContentMD5: s.md5, ContentType: "application/octet-stream", LastModified: time.Now().UTC(),
		Replication: domain.NewReplicationInfo(rule, bk.Replication.Role, s.size > 0)}
}

// writeVersions writes the metadata of objs with the concurrency of the
// service, as many CloudServer clients would.
func (b *bench) writeVersions(ctx context.Context, bk domain.Bucket, objs []seeded) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(b.o.concurrency)
	for _, s := range objs {
		g.Go(func() error { return b.meta.PutVersion(gctx, version(bk, s)) })
	}
	return g.Wait()
}

// completed counts the version documents (not masters) of bucket whose
// replication is COMPLETED.
func (b *bench) completed(ctx context.Context, bucket string) (int64, error) {
	return b.meta.Database().Collection(bucket).CountDocuments(ctx, bson.D{
		{Key: "_id", Value: bson.D{{Key: "$regex", Value: `\x00`}}},
		{Key: "value.replicationInfo.status", Value: string(domain.StatusCompleted)},
	})
}

// waitCompleted polls until want versions of bucket are COMPLETED.
func (b *bench) waitCompleted(ctx context.Context, bucket string, want int64, every time.Duration) error {
	deadline := time.Now().Add(b.o.workloadWait)
	last := int64(-1)
	lastLog := time.Now()
	for {
		n, err := b.completed(ctx, bucket)
		if err != nil {
			return err
		}
		if n >= want {
			return nil
		}
		if time.Since(lastLog) > 10*time.Second {
			logf("  %s: %d/%d completed", bucket, n, want)
			lastLog = time.Now()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %d of %d versions COMPLETED after %s (last poll %d); see %s/*.log", bucket, n, want, b.o.workloadWait, last, b.o.out)
		}
		last = n
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
	}
}

// warmUp replicates one object of bucket: the journal has opened the
// bucket's stream and the replicator has joined its group. A populator
// still starting opens its streams at the journal's end and would never
// see a write made before, so the version is written again (a new
// generation, hence a new event) until it completes.
func (b *bench) warmUp(ctx context.Context, bk domain.Bucket) error {
	objs, err := b.seed(ctx, bk.Name, "warmup-", 1, 1024)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(b.o.workloadWait)
	for {
		if err := b.meta.PutVersion(ctx, version(bk, objs[0])); err != nil {
			return err
		}
		for range 60 {
			n, err := b.completed(ctx, bk.Name)
			if err != nil {
				return err
			}
			if n >= 1 {
				return nil
			}
			time.Sleep(50 * time.Millisecond)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("warm-up object of %s not COMPLETED after %s; see %s/*.log", bk.Name, b.o.workloadWait, b.o.out)
		}
		logf("  %s: warm-up object not replicated yet, writing it again", bk.Name)
	}
}

// purge deletes every version in bucket, then the bucket, best effort: the
// large-object workload leaves three copies of a GiB on the stack's disk.
func purge(ctx context.Context, c *s3.Client, bucket string) {
	p := s3.NewListObjectVersionsPaginator(c, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			logf("  purge %s: %v", bucket, err)
			return
		}
		for _, v := range page.Versions {
			if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: v.Key, VersionId: v.VersionId}); err != nil {
				logf("  purge %s/%s: %v", bucket, aws.ToString(v.Key), err)
			}
		}
		for _, m := range page.DeleteMarkers {
			if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: m.Key, VersionId: m.VersionId}); err != nil {
				logf("  purge %s/%s: %v", bucket, aws.ToString(m.Key), err)
			}
		}
	}
	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)}); err != nil {
		logf("  purge %s: %v", bucket, err)
	}
}

// purgeLeftovers removes what interrupted bench runs left on the stack,
// as `task stack:clean-tests` does for the bench's names only.
func purgeLeftovers(ctx context.Context) error {
	return e2e.PurgeStack(ctx, e2e.Leftovers{
		DatabasePrefixes: []string{"bench_"},
		BucketPrefixes:   []string{"bench"},
		TopicPrefixes:    []string{"bench"},
		RedisPrefixes:    []string{"bench"},
		S3Prefixes:       []string{"bench"},
	}, os.Stdout)
}
