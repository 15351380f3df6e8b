package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"
)

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
			rc := b.rcloneCopy(ctx, name, n)
			res.rclone, res.rcloneErr = rc.rate, rc.err
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

// rcloneRun is a run of rclone: its rate and CPU seconds, or why it did
// not run.
type rcloneRun struct {
	rate, cpu float64
	err       string
}

// rcloneCopy runs `rclone copy` between the two endpoints with N transfers;
// it returns the rate and rclone's CPU seconds, or why it could not run.
func (b *bench) rcloneCopy(ctx context.Context, bucket string, n int) rcloneRun {
	if _, err := exec.LookPath("rclone"); err != nil {
		out, ierr := exec.CommandContext(ctx, "apt-get", "install", "-y", "rclone").CombinedOutput()
		if ierr != nil {
			return rcloneRun{err: fmt.Sprintf("rclone missing and `apt-get install -y rclone` failed: %v: %s", ierr, lastLines(string(out), 3))}
		}
	}
	dst := bucket + "-rclone"
	if err := b.dstBkt.EnsureVersionedBucket(ctx, dst); err != nil {
		return rcloneRun{err: err.Error()}
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
		return rcloneRun{err: fmt.Sprintf("rclone copy: %v: %s", err, lastLines(string(out), 5))}
	}
	el := time.Since(start)
	// rclone must have copied everything for the rate to mean anything.
	cnt := 0
	p := s3.NewListObjectsV2Paginator(b.dst, &s3.ListObjectsV2Input{Bucket: aws.String(dst)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return rcloneRun{err: err.Error()}
		}
		cnt += len(page.Contents)
	}
	if cnt != n {
		return rcloneRun{err: fmt.Sprintf("rclone copied %d of %d objects", cnt, n)}
	}
	return rcloneRun{rate: float64(n) / el.Seconds(), cpu: (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()}
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, " | ")
}
