package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"go.mongodb.org/mongo-driver/bson"
	mopts "go.mongodb.org/mongo-driver/mongo/options"
	"golang.org/x/sync/errgroup"

	"github.com/openbackbeat/backbeat/adapters/mongometa"
	"github.com/openbackbeat/backbeat/adapters/s3site"
	"github.com/openbackbeat/backbeat/domain"
)

// bench holds the clients of one run.
type bench struct {
	o      options
	run    string // unique prefix of every bucket, topic, group, key
	src    *s3.Client
	dst    *s3.Client
	srcBkt *s3site.Client // creates versioned buckets, uploads the large object
	dstBkt *s3site.Client
	meta   *mongometa.Store
	cfg    string // the service's configuration file
	tag    string
	svc    map[string]*service
	stack  map[string]int
	notes  []string
	kafka  sarama.Client
}

func run(ctx context.Context, o options) ([]Result, error) {
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return nil, err
	}
	b := &bench{o: o, run: fmt.Sprintf("bench%d", time.Now().UnixNano()%1e8), svc: map[string]*service{}, stack: stackPids()}
	var err error
	if b.src, err = rawS3(ctx, srcEndpoint, 2*o.concurrency); err != nil {
		return nil, err
	}
	if b.dst, err = rawS3(ctx, siteEndpoints[b.o.site], 2*o.concurrency); err != nil {
		return nil, err
	}
	s3cfg := func(ep string) s3site.Config {
		return s3site.Config{Endpoint: ep, Region: region, AccessKey: accessKey, SecretKey: secretKey,
			MultipartThreshold: 16 << 20, PartSize: o.partSize, MaxPartsInFlight: o.inFlight}
	}
	if b.srcBkt, err = s3site.New(ctx, s3cfg(srcEndpoint)); err != nil {
		return nil, err
	}
	if b.dstBkt, err = s3site.New(ctx, s3cfg(siteEndpoints[b.o.site])); err != nil {
		return nil, err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	db := "bench_" + b.run
	// A minute per operation, not the default 10 s: a loaded
	// mongo-java-server has been seen taking more than 10 s to answer a
	// write, and a failed CloudServer write would end the run.
	if b.meta, err = mongometa.New(ctx, mongometa.Config{URI: mongoURI, Database: db, Logger: quiet, Timeout: time.Minute}); err != nil {
		return nil, err
	}
	defer b.meta.Close(context.Background())
	defer func() { _ = b.meta.Database().Drop(context.Background()) }()
	logf("run %s: metadata database %s, concurrency %d", b.run, db, o.concurrency)

	if b.kafka, err = sarama.NewClient([]string{kafkaBroker}, sarama.NewConfig()); err != nil {
		return nil, err
	}
	defer b.kafka.Close()
	var results []Result
	if b.cfg, err = b.writeConfig("svc", db); err != nil {
		return nil, err
	}
	b.tag = b.run
	if err := b.startAll(ctx); err != nil {
		return nil, err
	}
	stopped := false
	stopAll := func() {
		if !stopped {
			for _, s := range b.svc {
				s.stop()
			}
			stopped = true
		}
	}
	defer stopAll()

	// 1. and 5.: small objects, against the raw copy and rclone.
	small, err := b.smallObjects(ctx, o.small, false)
	if err != nil {
		return results, fmt.Errorf("%d objects: %w", o.small, err)
	}
	big, err := b.smallObjects(ctx, o.objects, true)
	if err != nil {
		return results, fmt.Errorf("%d objects: %w", o.objects, err)
	}
	name := fmt.Sprintf("%d x %d B", o.objects, o.smallSize)
	r := ratioRow(name+" vs raw copy", "objects/s", big.rate, big.raw, 0.9)
	r.Note = big.note
	results = append(results, r)
	if big.rclone > 0 {
		results = append(results, ratioRow(name+" vs rclone", "objects/s", big.rate, big.rclone, 1.2))
	} else if big.rcloneErr != "" {
		results = append(results, Result{Name: name + " vs rclone", Unit: "objects/s", Value: big.rate, Target: ">= 1.2x", Note: "skipped: " + big.rcloneErr})
	}
	flat := Result{Name: fmt.Sprintf("time/object %d vs %d", o.objects, o.small), Unit: "ms/object",
		Value: 1000 / big.rate, Baseline: 1000 / small.rate, Target: "<= 1.2x"}
	flat.Ratio = flat.Value / flat.Baseline
	flat.Met = flat.Ratio <= 1.2
	results = append(results, flat)
	printTable(os.Stdout, results)

	// 2.: one large object.
	if !o.skipBig {
		rs, err := b.largeObject(ctx)
		results = append(results, rs...)
		if err != nil {
			return results, fmt.Errorf("large object: %w", err)
		}
		printTable(os.Stdout, results)
	}

	// 4.: steady load at half the measured throughput.
	if !o.skipSteady {
		rs, err := b.steady(ctx, big.rate/2)
		results = append(results, rs...)
		if err != nil {
			return results, fmt.Errorf("steady load: %w", err)
		}
		printTable(os.Stdout, results)
	}
	stopAll()

	// 3.: the populator alone, on its own database and topic.
	if !o.skipPop {
		rs, err := b.populatorOnly(ctx)
		results = append(results, rs...)
		if err != nil {
			return results, fmt.Errorf("populator: %w", err)
		}
	}
	// 4.: what a compare-and-swap costs the MongoDB stand-in.
	cas, err := b.casCost(ctx)
	if err != nil {
		return results, fmt.Errorf("stand-in CAS cost: %w", err)
	}
	results = append(results, cas)
	for _, n := range b.notes {
		fmt.Println(n)
	}
	return results, nil
}

// casCost measures an update filtered on {_id, value}, the status
// write-back's compare-and-swap, against one filtered on {_id} alone, in a
// collection of casDocs documents. mongo-java-server serves a query from an
// index only when the query names exactly the index's fields
// (AbstractUniqueIndex.canHandle), so the CAS scans the whole bucket
// collection: its cost grows with the bucket, which MongoDB's does not.
func (b *bench) casCost(ctx context.Context) (Result, error) {
	const casDocs, ops = 20000, 300
	coll := b.meta.Database().Collection(b.run + "-cas")
	defer func() { _ = coll.Drop(context.WithoutCancel(ctx)) }()
	id := func(i int) string { return fmt.Sprintf("k%06d", i) }
	value := func(i int) bson.D { return bson.D{{Key: "key", Value: id(i)}, {Key: "content-length", Value: 4096}} }
	docs := make([]any, 0, 1000)
	for i := range casDocs {
		docs = append(docs, bson.D{{Key: "_id", Value: id(i)}, {Key: "value", Value: value(i)}})
		if len(docs) == cap(docs) {
			if _, err := coll.InsertMany(ctx, docs); err != nil {
				return Result{}, err
			}
			docs = docs[:0]
		}
	}
	timed := func(withValue bool) (time.Duration, error) {
		start := time.Now()
		for n := range ops {
			i := n * (casDocs / ops)
			f := bson.D{{Key: "_id", Value: id(i)}}
			if withValue {
				f = append(f, bson.E{Key: "value", Value: value(i)})
			}
			res, err := coll.UpdateOne(ctx, f, bson.D{{Key: "$set", Value: bson.D{{Key: "n", Value: n}}}})
			if err != nil {
				return 0, err
			}
			if res.MatchedCount != 1 {
				return 0, fmt.Errorf("update of %s matched %d documents", id(i), res.MatchedCount)
			}
		}
		return time.Since(start) / ops, nil
	}
	byID, err := timed(false)
	if err != nil {
		return Result{}, err
	}
	cas, err := timed(true)
	if err != nil {
		return Result{}, err
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	r := Result{Name: fmt.Sprintf("stand-in update, {_id, value} vs {_id}, %d docs", casDocs), Unit: "ms/update",
		Value: ms(cas), Baseline: ms(byID), Ratio: ms(cas) / ms(byID), Target: "-",
		Note: "the CAS filter is not served by the _id index on mongo-java-server (it is on MongoDB): status write-back cost grows with the bucket"}
	logf("stand-in CAS cost: %.2f ms per update by {_id, value}, %.2f ms by {_id} (%d documents)", r.Value, r.Baseline, casDocs)
	return r, nil
}

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

type smallResult struct {
	rate, raw, rclone float64
	rcloneErr, note   string
}

// smallObjects measures n small objects through the service and, when
// baselines is set, with the raw copy and rclone from the same source.
func (b *bench) smallObjects(ctx context.Context, n int, baselines bool) (smallResult, error) {
	var res smallResult
	name := fmt.Sprintf("%s-s%d", b.run, n)
	bk, err := b.newBucket(ctx, name)
	if err != nil {
		return res, err
	}
	logf("%d objects: seeding the source", n)
	objs, err := b.seed(ctx, name, "obj-", n, b.o.smallSize)
	if err != nil {
		return res, err
	}
	if baselines {
		if res.raw, err = b.rawCopySmall(ctx, name, objs); err != nil {
			return res, err
		}
		logf("%d objects: raw copy %.0f objects/s", n, res.raw)
		if !b.o.skipRclone {
			res.rclone, res.rcloneErr = b.rcloneCopy(ctx, name, n)
			if res.rcloneErr != "" {
				logf("rclone skipped: %s", res.rcloneErr)
			} else {
				logf("%d objects: rclone %.0f objects/s", n, res.rclone)
			}
		}
	}
	if err := b.warmUp(ctx, bk); err != nil {
		return res, fmt.Errorf("warm-up: %w", err)
	}
	logf("%d objects: replicating through the service", n)
	meter := newCPUMeter(b.pids())
	profs := map[string]chan string{}
	if baselines && b.o.profileSecs > 0 {
		for role, s := range b.svc {
			c := make(chan string, 1)
			profs[role] = c
			go func() {
				c <- profile(ctx, s, b.o.bin, b.o.profileSecs, filepath.Join(b.o.out, role+".cpu.pprof"))
			}()
		}
	}
	var javaProf chan string
	if baselines && b.o.profileSecs > 0 {
		javaProf = make(chan string, 1)
		go func() {
			javaProf <- javaSamples(ctx, b.stack["mongo"], time.Duration(b.o.profileSecs)*time.Second)
		}()
	}
	statusTopic, entriesTopic := b.run+"-svc-status", b.run+"-svc-replication"
	base, err := topicCount(b.kafka, statusTopic)
	if err != nil {
		return res, err
	}
	entriesBase, err := topicCount(b.kafka, entriesTopic)
	if err != nil {
		return res, err
	}
	start := time.Now()
	if err := b.writeVersions(ctx, bk, objs); err != nil {
		return res, err
	}
	written := time.Since(start)
	var published, copied time.Duration
	// Counting COMPLETED documents costs mongo-java-server a scan of the
	// collection, which would slow the service down: follow the entries and
	// the outcomes on their topics (cheap offsets) until all are out, then
	// Mongo.
	for {
		if published == 0 {
			e, err := topicCount(b.kafka, entriesTopic)
			if err != nil {
				return res, err
			}
			if e-entriesBase >= int64(n) {
				published = time.Since(start)
			}
		}
		c, err := topicCount(b.kafka, statusTopic)
		if err != nil {
			return res, err
		}
		if c-base >= int64(n) || time.Since(start) > b.o.workloadWait {
			copied = time.Since(start)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := b.waitCompleted(ctx, name, int64(n)+1, 20*time.Millisecond); err != nil {
		return res, err
	}
	el := time.Since(start)
	res.rate = float64(n) / el.Seconds()
	res.note = fmt.Sprintf("of %s in all, the metadata writes (CloudServer's part) took %s (%.0f/s), the last entry was in Kafka at %s, the last outcome on the status topic at %s (copies done: %.0f objects/s), the status applier's writes to Mongo took the rest; %s",
		el.Round(time.Millisecond), written.Round(time.Millisecond), float64(n)/written.Seconds(), published.Round(time.Millisecond),
		copied.Round(time.Millisecond), float64(n)/copied.Seconds(), meter.report())
	logf("%d objects: service %.0f objects/s (%s)", n, res.rate, res.note)
	if javaProf != nil {
		b.notes = append(b.notes, fmt.Sprintf("\nmongo-java-server thread samples (%d s during %d objects):\n%s", b.o.profileSecs, n, <-javaProf))
	}
	for _, role := range []string{"replicator", "status", "populator"} {
		if c, ok := profs[role]; ok {
			b.notes = append(b.notes, fmt.Sprintf("\n%s CPU profile (%d s during %d objects; %s/%s.cpu.pprof):\n%s", role, b.o.profileSecs, n, b.o.out, role, <-c))
		}
	}
	return res, nil
}

// rawCopySmall copies every object with N workers: GET from the source,
// PUT to the site, nothing else.
func (b *bench) rawCopySmall(ctx context.Context, bucket string, objs []seeded) (float64, error) {
	dst := bucket + "-raw"
	if err := b.dstBkt.EnsureVersionedBucket(ctx, dst); err != nil {
		return 0, err
	}
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(b.o.concurrency)
	for _, s := range objs {
		g.Go(func() error {
			get, err := b.src.GetObject(gctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(s.key), VersionId: aws.String(s.vid)})
			if err != nil {
				return fmt.Errorf("raw get %s: %w", s.key, err)
			}
			defer get.Body.Close()
			_, err = b.dst.PutObject(gctx, &s3.PutObjectInput{Bucket: aws.String(dst), Key: aws.String(s.key),
				Body: io.NopCloser(get.Body), ContentLength: get.ContentLength, ContentType: get.ContentType, Metadata: get.Metadata}, streaming)
			if err != nil {
				return fmt.Errorf("raw put %s: %w", s.key, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	return float64(len(objs)) / time.Since(start).Seconds(), nil
}

// rcloneCopy runs `rclone copy` between the two endpoints with N transfers;
// it returns the rate, or why it could not run.
func (b *bench) rcloneCopy(ctx context.Context, bucket string, n int) (float64, string) {
	if _, err := exec.LookPath("rclone"); err != nil {
		out, ierr := exec.CommandContext(ctx, "apt-get", "install", "-y", "rclone").CombinedOutput()
		if ierr != nil {
			return 0, fmt.Sprintf("rclone missing and `apt-get install -y rclone` failed: %v: %s", ierr, lastLines(string(out), 3))
		}
	}
	dst := bucket + "-rclone"
	if err := b.dstBkt.EnsureVersionedBucket(ctx, dst); err != nil {
		return 0, err.Error()
	}
	// rclone's S3 backend cannot apply AWS_CA_BUNDLE to its own HTTP
	// transport and refuses to start; the endpoints are plain HTTP anyway.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_CA_BUNDLE=") {
			env = append(env, kv)
		}
	}
	for _, r := range []struct{ name, ep string }{{"SRC", srcEndpoint}, {"DST", siteEndpoints[b.o.site]}} {
		p := "RCLONE_CONFIG_" + r.name + "_"
		env = append(env, p+"TYPE=s3", p+"PROVIDER=Other", p+"ACCESS_KEY_ID="+accessKey, p+"SECRET_ACCESS_KEY="+secretKey,
			p+"ENDPOINT="+r.ep, p+"REGION="+region, p+"FORCE_PATH_STYLE=true")
	}
	t := fmt.Sprint(b.o.concurrency)
	cmd := exec.CommandContext(ctx, "rclone", "copy", "src:"+bucket, "dst:"+dst, "--transfers", t, "--checkers", t, "--s3-no-check-bucket")
	cmd.Env = env
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Sprintf("rclone copy: %v: %s", err, lastLines(string(out), 5))
	}
	el := time.Since(start)
	// rclone must have copied everything for the rate to mean anything.
	cnt := 0
	p := s3.NewListObjectsV2Paginator(b.dst, &s3.ListObjectsV2Input{Bucket: aws.String(dst)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return 0, err.Error()
		}
		cnt += len(page.Contents)
	}
	if cnt != n {
		return 0, fmt.Sprintf("rclone copied %d of %d objects", cnt, n)
	}
	return float64(n) / el.Seconds(), ""
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, " | ")
}

// pattern is a cheap deterministic body of any size.
type pattern struct {
	left int64
	buf  []byte
}

func newPattern(size int64) *pattern {
	buf := make([]byte, 1<<20)
	_, _ = rand.Read(buf)
	return &pattern{left: size, buf: buf}
}

func (p *pattern) Read(d []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	n := copy(d, p.buf[int(p.left%int64(len(p.buf))):])
	n = int(min(int64(n), p.left))
	p.left -= int64(n)
	return n, nil
}

// largeObject copies one large object with the raw multipart copy and
// through a freshly started replicator, whose peak RSS it reads.
func (b *bench) largeObject(ctx context.Context) ([]Result, error) {
	size := b.o.bigSize
	name := fmt.Sprintf("%s-big", b.run)
	bk, err := b.newBucket(ctx, name)
	if err != nil {
		return nil, err
	}
	defer func() {
		cctx := context.WithoutCancel(ctx)
		purge(cctx, b.src, name)
		purge(cctx, b.dst, name+"-raw")
		purge(cctx, b.dst, name+"-replica")
	}()
	logf("large object: uploading %d MiB to the source", size>>20)
	vid, err := b.srcBkt.PutObject(ctx, name, "big", newPattern(size), size, "application/octet-stream", nil, nil)
	if err != nil {
		return nil, err
	}
	raw, err := b.rawCopyLarge(ctx, name, "big", vid, size)
	if err != nil {
		return nil, fmt.Errorf("raw multipart copy: %w", err)
	}
	logf("large object: raw copy %.0f MiB/s", raw/(1<<20))
	// A fresh replicator: its VmHWM is the peak of this copy (and of one
	// warm-up object), not of the workloads before.
	b.svc["replicator"].stop()
	s, err := startService(b.o, b.cfg, "replicator", b.tag+"-big")
	if err != nil {
		return nil, err
	}
	b.svc["replicator"] = s
	if err := b.warmUp(ctx, bk); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	meter := newCPUMeter(b.pids())
	statusTopic := b.run + "-svc-status"
	base, err := topicCount(b.kafka, statusTopic)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	v := version(bk, seeded{key: "big", vid: vid, size: size})
	if err := b.meta.PutVersion(ctx, v); err != nil {
		return nil, err
	}
	var copied time.Duration
	for copied == 0 && time.Since(start) < b.o.workloadWait {
		if c, err := topicCount(b.kafka, statusTopic); err == nil && c > base {
			copied = time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := b.waitCompleted(ctx, name, 2, 50*time.Millisecond); err != nil {
		return nil, err
	}
	el := time.Since(start)
	rate := float64(size) / el.Seconds()
	rss, err := peakRSS(s.pid())
	if err != nil {
		return nil, err
	}
	label := fmt.Sprintf("1 x %d MiB", size>>20)
	r := ratioRow(label+" vs raw copy", "MiB/s", rate/(1<<20), raw/(1<<20), 0.9)
	r.Note = fmt.Sprintf("%s end to end; the outcome was on the status topic at %s (%.0f MiB/s from metadata write to copy done); %s",
		el.Round(time.Millisecond), copied.Round(time.Millisecond), float64(size)/(1<<20)/copied.Seconds(), meter.report())
	return []Result{r, limitRow(label+" replicator peak RSS", "MiB", float64(rss)/(1<<20), 128, true)}, nil
}

// rawCopyLarge streams the object from the source into a multipart upload
// with the service's part size and parts in flight.
func (b *bench) rawCopyLarge(ctx context.Context, bucket, key, vid string, size int64) (float64, error) {
	dst := bucket + "-raw"
	if err := b.dstBkt.EnsureVersionedBucket(ctx, dst); err != nil {
		return 0, err
	}
	start := time.Now()
	get, err := b.src.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), VersionId: aws.String(vid)})
	if err != nil {
		return 0, err
	}
	defer get.Body.Close()
	up, err := b.dst.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(dst), Key: aws.String(key)})
	if err != nil {
		return 0, err
	}
	free := make(chan []byte, b.o.inFlight)
	for range b.o.inFlight {
		free <- make([]byte, b.o.partSize)
	}
	var mu sync.Mutex
	var parts []types.CompletedPart
	g, gctx := errgroup.WithContext(ctx)
	for num := int32(1); ; num++ {
		buf := <-free
		n, rerr := io.ReadFull(get.Body, buf)
		if n == 0 {
			free <- buf
			break
		}
		g.Go(func() error {
			defer func() { free <- buf }()
			out, err := b.dst.UploadPart(gctx, &s3.UploadPartInput{Bucket: aws.String(dst), Key: aws.String(key), UploadId: up.UploadId,
				PartNumber: aws.Int32(num), Body: bytes.NewReader(buf[:n]), ContentLength: aws.Int64(int64(n))}, streaming)
			if err != nil {
				return err
			}
			mu.Lock()
			parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num)})
			mu.Unlock()
			return nil
		})
		if rerr != nil {
			if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
				break
			}
			_ = g.Wait()
			return 0, rerr
		}
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	slices.SortFunc(parts, func(a, b types.CompletedPart) int { return int(*a.PartNumber - *b.PartNumber) })
	if _, err := b.dst.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(dst), Key: aws.String(key),
		UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
		return 0, err
	}
	return float64(size) / time.Since(start).Seconds(), nil
}

// steady writes objects at rate per second for the configured duration
// and measures, per object, the time from its metadata write (the end of
// CloudServer's PUT) to its COMPLETED status.
func (b *bench) steady(ctx context.Context, rate float64) ([]Result, error) {
	n := int(math.Max(50, rate*b.o.steadyFor.Seconds()))
	name := fmt.Sprintf("%s-steady", b.run)
	bk, err := b.newBucket(ctx, name)
	if err != nil {
		return nil, err
	}
	objs, err := b.seed(ctx, name, "obj-", n, b.o.smallSize)
	if err != nil {
		return nil, err
	}
	if err := b.warmUp(ctx, bk); err != nil {
		return nil, err
	}
	logf("steady load: %d objects at %.0f/s", n, rate)
	coll := b.meta.Database().Collection(name)
	var mu sync.Mutex
	putAt := map[string]time.Time{}
	var lat []time.Duration
	var writeErr atomic.Value
	done := make(chan struct{})
	go func() {
		defer close(done)
		interval := time.Duration(float64(time.Second) / rate)
		next := time.Now()
		var wg sync.WaitGroup
		sem := make(chan struct{}, b.o.concurrency)
		for _, s := range objs {
			if d := time.Until(next); d > 0 {
				time.Sleep(d)
			}
			next = next.Add(interval)
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				if err := b.meta.PutVersion(ctx, version(bk, s)); err != nil {
					writeErr.Store(err)
					return
				}
				mu.Lock()
				putAt[domain.DocumentID(s.key, s.vid, "v0")] = time.Now()
				mu.Unlock()
			}()
		}
		wg.Wait()
	}()
	deadline := time.Now().Add(b.o.steadyFor + b.o.workloadWait)
	writing := true
	for writing || len(putAt) > 0 {
		select {
		case <-done:
			writing = false
		case <-time.After(10 * time.Millisecond):
		}
		if err, _ := writeErr.Load().(error); err != nil {
			return nil, err
		}
		mu.Lock()
		ids := make([]string, 0, len(putAt))
		for id := range putAt {
			ids = append(ids, id)
		}
		mu.Unlock()
		for len(ids) > 0 {
			chunk := ids[:min(len(ids), 500)]
			ids = ids[len(chunk):]
			cur, err := coll.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: chunk}}},
				{Key: "value.replicationInfo.status", Value: string(domain.StatusCompleted)}}, mopts.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
			if err != nil {
				return nil, err
			}
			var docs []struct {
				ID string `bson:"_id"`
			}
			if err := cur.All(ctx, &docs); err != nil {
				return nil, err
			}
			now := time.Now()
			mu.Lock()
			for _, d := range docs {
				if at, ok := putAt[d.ID]; ok {
					lat = append(lat, now.Sub(at))
					delete(putAt, d.ID)
				}
			}
			mu.Unlock()
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d objects not COMPLETED in time", len(putAt))
		}
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / float64(time.Millisecond)
	}
	note := fmt.Sprintf("%d objects at %.0f/s; poll every 10 ms adds up to ~10 ms", len(lat), rate)
	p50 := limitRow("steady load p50 put->COMPLETED", "ms", pct(0.50), 50, true)
	p50.Note = note
	return []Result{p50, limitRow("steady load p99 put->COMPLETED", "ms", pct(0.99), 1000, true)}, nil
}

// populatorOnly runs the populator alone and measures journal events to
// Kafka entries: version documents are inserted in bulk while it runs.
func (b *bench) populatorOnly(ctx context.Context) ([]Result, error) {
	n := b.o.popEvents
	db := "bench_" + b.run + "_pop"
	cfg, err := b.writeConfig("pop", db)
	if err != nil {
		return nil, err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	meta, err := mongometa.New(ctx, mongometa.Config{URI: mongoURI, Database: db, Logger: quiet, Timeout: time.Minute})
	if err != nil {
		return nil, err
	}
	defer meta.Close(context.Background())
	defer func() { _ = meta.Database().Drop(context.Background()) }()
	name := b.run + "-pop"
	bk := domain.Bucket{Name: name, VersioningEnabled: true, VFormat: "v0", Replication: &domain.ReplicationConfig{
		Role:  "arn:aws:iam::000000000000:role/bench",
		Rules: []domain.ReplicationRule{{ID: "all", Enabled: true, DestinationBucket: domain.DestinationBucketPrefix + name + "-replica", StorageClass: b.o.site}},
	}}
	if err := meta.PutBucket(ctx, bk); err != nil {
		return nil, err
	}
	s, err := startService(b.o, cfg, "populator", b.run+"-pop")
	if err != nil {
		return nil, err
	}
	defer s.stop()
	sc := sarama.NewConfig()
	client, err := sarama.NewClient([]string{kafkaBroker}, sc)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	topic := b.run + "-pop-replication"
	// Warm-up: one version through, so the journal has the bucket's stream.
	// Written again until seen: a populator still starting opens its
	// streams at the journal's end.
	warm := version(bk, seeded{key: "warmup", vid: "98000000000000999999RG001  0", size: 1})
	deadline := time.Now().Add(b.o.workloadWait)
	for {
		warm.MicroVersionID = fmt.Sprintf("%016x", mrand.Uint64())
		if err := meta.PutVersion(ctx, warm); err != nil {
			return nil, err
		}
		time.Sleep(2 * time.Second)
		c, err := topicCount(client, topic)
		if err == nil && c >= 1 {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("warm-up: topic %s has no entry after %s (%v)", topic, b.o.workloadWait, err)
		}
	}
	warmed, err := topicCount(client, topic)
	if err != nil {
		return nil, err
	}
	var tmpl bson.D
	if err := meta.Database().Collection(name).FindOne(ctx, bson.D{{Key: "_id", Value: domain.DocumentID("warmup", warm.VersionID, "v0")}}).Decode(&tmpl); err != nil {
		return nil, err
	}
	docs := make([]any, n)
	for i := range docs {
		d := slices.Clone(tmpl)
		for j := range d {
			if d[j].Key == "_id" {
				d[j].Value = domain.DocumentID(fmt.Sprintf("pop-%07d", i), warm.VersionID, "v0")
			}
		}
		docs[i] = d
	}
	// The populator is stopped while the documents go in (its checkpoint is
	// past the warm-up), then started again: it drains the backlog, so the
	// figure is the populator's rate, not the rate of the test's inserts.
	s.stop()
	logf("populator: inserting %d version documents while it is stopped", n)
	start := time.Now()
	coll := meta.Database().Collection(name)
	for i := 0; i < n; i += 1000 {
		if _, err := coll.InsertMany(ctx, docs[i:min(n, i+1000)], mopts.InsertMany().SetOrdered(false)); err != nil {
			return nil, err
		}
	}
	inserted := time.Since(start)
	if s, err = startService(b.o, cfg, "populator", b.run+"-pop-2"); err != nil {
		return nil, err
	}
	defer s.stop()
	meter := newCPUMeter(map[string]int{"populator": s.pid(), "mongo": b.stack["mongo"], "kafka": b.stack["kafka"]})
	prof := make(chan string, 1)
	go func() {
		prof <- profile(ctx, s, b.o.bin, b.o.profileSecs, filepath.Join(b.o.out, "populator.cpu.pprof"))
	}()
	restarted := time.Now()
	var first time.Time
	for deadline := restarted.Add(b.o.workloadWait); ; {
		c, err := topicCount(client, topic)
		if err == nil && c > warmed && first.IsZero() {
			first = time.Now()
		}
		if err == nil && c >= int64(n)+warmed {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("topic %s has %d of %d entries (%v)", topic, c-warmed, n, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	drained := time.Since(first)
	r := limitRow(fmt.Sprintf("populator %d events -> Kafka", n), "entries/s", float64(n)/drained.Seconds(), 20000, false)
	r.Note = fmt.Sprintf("backlog of %d inserts (written in %s, %.0f docs/s, populator stopped); first entry %s after the restart, last %s after the first; %s",
		n, inserted.Round(time.Millisecond), float64(n)/inserted.Seconds(), first.Sub(restarted).Round(time.Millisecond),
		drained.Round(time.Millisecond), meter.report())
	logf("populator: %.0f entries/s (%s)", r.Value, r.Note)
	b.notes = append(b.notes, fmt.Sprintf("\npopulator CPU profile (%d s from its restart; %s/populator.cpu.pprof):\n%s", b.o.profileSecs, b.o.out, <-prof))
	return []Result{r}, nil
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

// purgeBuckets deletes the buckets named by -purge, with their versions,
// from the source and from the site.
func purgeBuckets(ctx context.Context, o options) error {
	for _, ep := range []string{srcEndpoint, siteEndpoints[o.site]} {
		c, err := rawS3(ctx, ep, 4)
		if err != nil {
			return err
		}
		for _, b := range strings.Split(o.purge, ",") {
			if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(b)}); err == nil {
				purge(ctx, c, b)
				logf("purged %s at %s", b, ep)
			}
		}
	}
	return nil
}
