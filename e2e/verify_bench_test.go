package e2e

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/openbackbeat/backbeat/app"
	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// TestVerifyBench (BACKBEAT_E2E_BENCH=1; BACKBEAT_VERIFY_BENCH_N versions,
// 10,000 by default) measures a verify of a bucket in sync at site-a: the
// versions compared per second, from the job's start to its end, and the
// HEADs per 1,000 versions. The versions are written straight to the
// metadata store and their replicas straight to site-a (plain-MD5
// objects of 1 KiB, keys over 100 prefixes), as the pipeline would have;
// only the API role runs.
func TestVerifyBench(t *testing.T) {
	if os.Getenv("BACKBEAT_E2E_BENCH") != "1" {
		t.Skip("set BACKBEAT_E2E_BENCH=1 to run the verify benchmark")
	}
	n := 10000
	if s := os.Getenv("BACKBEAT_VERIFY_BENCH_N"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatal(err)
		}
	}
	e := newEnv(t, "BACKBEAT_BACKFILL_POLL=100ms")
	e.Start("api", "api")
	e.WaitAPI(30 * time.Second)
	ctx := context.Background()
	b := e.BucketAt("vbench", []string{"site-a"})
	b.Replication.Rules[0].StorageClass = "site-a"
	if err := e.Meta.PutBucket(ctx, b); err != nil {
		t.Fatal(err)
	}
	dest := b.Name + "-replica"
	site := e.Sites["site-a"].Destination()
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var replicas [][2]string // key, replica version id
	errs := make(chan error, 16)
	for w := range 16 {
		wg.Go(func() {
			data := make([]byte, 1024)
			for i := w; i < n; i += 16 {
				fillRandom(data)
				sum := md5.Sum(data)
				v := domain.ObjectVersion{
					Bucket: b.Name, Key: fmt.Sprintf("p%02d/obj-%05d", i%100, i), VersionID: fmt.Sprintf("%020d", 1e15-int64(i)),
					MicroVersionID: randomHex(8), Size: int64(len(data)), ContentMD5: hex.EncodeToString(sum[:]), ContentType: "application/x-e2e",
					LastModified: time.Now().UTC(), Tags: map[string]string{"origin": "bench"},
				}
				vid, err := site.Put(ctx, ports.Replica{Bucket: dest, Key: v.Key, SourceVersionID: v.VersionID, Size: v.Size,
					ContentMD5: v.ContentMD5, ContentType: v.ContentType, Tags: v.Tags}, bytes.NewReader(data))
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				replicas = append(replicas, [2]string{v.Key, vid})
				mu.Unlock()
				v.Replication = domain.NewReplicationInfo(b.Replication.Rules[0], b.Replication.Role, true)
				v.Replication.Status, v.Replication.Backends[0].Status, v.Replication.Backends[0].DataStoreVersionID = domain.StatusCompleted, domain.StatusCompleted, vid
				if err := e.Meta.PutVersion(ctx, v); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("wrote %d versions and their replicas in %s", n, time.Since(start).Round(time.Millisecond))

	j, code, out := e.verifyJob(ctx, b.Name, "--site", "site-a")
	if code != 0 || j.Compared != int64(n) {
		t.Fatalf("verify: exit %d, %+v\n%s", code, j, out)
	}
	took := j.UpdatedAt.Sub(j.StartedAt)
	rate := float64(j.Compared) / took.Seconds()
	heads := float64(j.Heads) * 1000 / float64(j.Compared)

	// The limit of the stage, in the same run: what verify cannot do
	// without, one GetObjectTagging per replica, with the concurrency of
	// the job runner's tag reads (4 x backfill.concurrency, its default).
	s3c := e.Sites["site-a"].S3()
	const tagReaders = 4 * app.DefaultJobConcurrency
	start = time.Now()
	work := make(chan [2]string)
	for range tagReaders {
		wg.Go(func() {
			for r := range work {
				if _, err := s3c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String(dest), Key: aws.String(r[0]), VersionId: aws.String(r[1])}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	for _, r := range replicas {
		work <- r
	}
	close(work)
	wg.Wait()
	baseline := float64(len(replicas)) / time.Since(start).Seconds()
	fmt.Printf("BENCH verify versions=%d took=%s rate=%.0f versions/s heads-per-1000=%.2f tag-reads=%d; raw GetObjectTagging x%d %.0f/s, ratio %.2fx (targets: >= 2000 versions/s, <= 1 HEAD per 1,000)\n",
		j.Compared, took.Round(time.Millisecond), rate, heads, j.TagReads, tagReaders, baseline, rate/baseline)
	t.Logf("verify of %d versions in sync: %s, %.0f versions/s, %.2f HEADs per 1,000, %d tag reads; the tag reads alone %.0f/s\n%s",
		j.Compared, took.Round(time.Millisecond), rate, heads, j.TagReads, baseline, out)
}
