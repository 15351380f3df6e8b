package e2e

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/domain"
)

// TestBackfillBench (BACKBEAT_E2E_BENCH=1; BACKBEAT_BACKFILL_BENCH_N
// versions, 10,000 by default) measures a backfill against live traffic in
// the same run, on the same roles and servers: the same number of 1 KiB
// versions, their data already in the source S3 in both cases,
//   - live: their metadata written PENDING, as CloudServer does (16
//     writers), timed from the first write to the last COMPLETED;
//   - backfill: written before their bucket had a rule, then the rule and
//     `backbeat ctl backfill start`, timed from the start to the last
//     COMPLETED.
//
// The ratio is the backfill's rate over the live one (target >= 0.9x).
func TestBackfillBench(t *testing.T) {
	if os.Getenv("BACKBEAT_E2E_BENCH") != "1" {
		t.Skip("set BACKBEAT_E2E_BENCH=1 to run the backfill benchmark")
	}
	n := 10000
	if s := os.Getenv("BACKBEAT_BACKFILL_BENCH_N"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatal(err)
		}
	}
	e := newEnv(t, "BACKBEAT_BACKFILL_POLL=100ms")
	e.StartRoles()
	ctx := context.Background()

	live := e.Bucket("live")
	staged := e.stage(ctx, live.Name, n)
	base := e.settledCompletions(ctx) // the canaries' included
	start := time.Now()
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < n; i += 16 {
				if _, err := e.Sim.Record(ctx, live, staged[i]); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	wrote := time.Since(start)
	liveTook := e.waitCompletions(ctx, base+int64(n), start, 30*time.Minute)
	e.checkBucketCompleted(ctx, live.Name, n)

	bf := e.Bucket("backfill")
	plain := bf
	plain.Replication = nil
	if err := e.Meta.PutBucket(ctx, plain); err != nil {
		t.Fatal(err)
	}
	for i, v := range e.stage(ctx, bf.Name, n) {
		if _, err := e.Sim.Record(ctx, plain, v); err != nil {
			t.Fatalf("version %d before the rule: %v", i, err)
		}
	}
	if err := e.Meta.PutBucket(ctx, bf); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	out, err := e.ctlCmd("backfill", "start", "--bucket", bf.Name).Output()
	if err != nil {
		t.Fatalf("ctl backfill start: %v\n%s", err, out)
	}
	id := strings.TrimSpace(string(out))
	bfTook := e.waitCompletions(ctx, base+int64(2*n), start, 30*time.Minute)
	e.checkBucketCompleted(ctx, bf.Name, n)
	job, err := e.API.Backfill(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if job.Queued != int64(n) {
		t.Fatalf("backfill queued %d versions, want %d: %+v", job.Queued, n, job)
	}
	liveRate, bfRate := float64(n)/liveTook.Seconds(), float64(n)/bfTook.Seconds()
	fmt.Printf("BENCH backfill versions=%d took=%s rate=%.0f versions/s; live PENDING traffic took=%s (metadata writes %s) rate=%.0f versions/s; ratio %.2fx (target >= 0.9x)\n",
		n, bfTook.Round(time.Millisecond), bfRate, liveTook.Round(time.Millisecond), wrote.Round(time.Millisecond), liveRate, bfRate/liveRate)
	t.Logf("backfill of %d versions: %s (%.0f/s, walk %s); live: %s (%.0f/s); ratio %.2fx", n, bfTook.Round(time.Millisecond), bfRate,
		job.UpdatedAt.Sub(job.StartedAt).Round(time.Millisecond), liveTook.Round(time.Millisecond), liveRate, bfRate/liveRate)
}

// stage puts n objects of 1 KiB into bucket at the source S3 (16 writers)
// and returns their versions, metadata not written.
func (e *Env) stage(ctx context.Context, bucket string, n int) []domain.ObjectVersion {
	e.t.Helper()
	vs := make([]domain.ObjectVersion, n)
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			data := make([]byte, 1024)
			for i := w; i < n; i += 16 {
				fillRandom(data)
				key := fmt.Sprintf("p%02d/obj-%05d", i%100, i)
				vid, err := e.Source.PutObject(ctx, bucket, key, bytes.NewReader(data), int64(len(data)), "application/x-e2e", nil, nil)
				if err != nil {
					e.t.Error(err)
					return
				}
				sum := md5.Sum(data)
				vs[i] = domain.ObjectVersion{Bucket: bucket, Key: key, VersionID: vid, Size: int64(len(data)),
					ContentMD5: hex.EncodeToString(sum[:]), ContentType: "application/x-e2e"}
			}
		})
	}
	wg.Wait()
	if e.t.Failed() {
		e.t.FailNow()
	}
	return vs
}

// waitCompletions polls the API's completions metric (counted by the
// status applier once a COMPLETED status is in MongoDB) until every site
// has at least want, and returns the time since start then. Polling the
// metric costs the stand-in nothing, where a scan of the bucket's
// metadata would slow what is measured.
func (e *Env) waitCompletions(ctx context.Context, want int64, start time.Time, timeout time.Duration) time.Duration {
	e.t.Helper()
	lastLog := time.Now()
	for {
		least := want
		for _, s := range siteNames {
			least = min(least, e.completions(ctx, s))
		}
		took := time.Since(start)
		if least >= want {
			return took
		}
		if took > timeout {
			e.t.Fatalf("%d of %d completions at the slowest site after %s", least, want, timeout)
		}
		if time.Since(lastLog) > 10*time.Second {
			e.t.Logf("[%5.1fs] %d/%d completions at the slowest site", took.Seconds(), least, want)
			lastLog = time.Now()
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// settledCompletions waits until no site's completion count moved for 3 s
// and returns the largest.
func (e *Env) settledCompletions(ctx context.Context) int64 {
	e.t.Helper()
	read := func() (most int64) {
		for _, s := range siteNames {
			most = max(most, e.completions(ctx, s))
		}
		return most
	}
	last, since := read(), time.Now()
	for time.Since(since) < 3*time.Second {
		time.Sleep(500 * time.Millisecond)
		if n := read(); n != last {
			last, since = n, time.Now()
		}
	}
	return last
}

// checkBucketCompleted scans bucket's metadata: n versions, every one
// COMPLETED.
func (e *Env) checkBucketCompleted(ctx context.Context, bucket string, n int) {
	e.t.Helper()
	counts := map[domain.Status]int{}
	for v := range e.scanAll(ctx, bucket) {
		counts[v.Replication.Status]++
	}
	if counts[domain.StatusCompleted] != n || len(counts) != 1 {
		e.t.Fatalf("%s: statuses %v, want %d COMPLETED", bucket, counts, n)
	}
}
