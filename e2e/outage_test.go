package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/adapters/apiclient"
	"github.com/openbackbeat/backbeat/domain"
)

// Scenario 5: a destination denying writes for good (its bucket is
// missing): every version ends FAILED at that site with the reason and is
// listed in the failure store; once the bucket exists, retrying them all
// through the API completes them.
func TestDeniedThenRetriedThroughAPI(t *testing.T) {
	parallel(t)
	e := newEnv(t)
	e.StartRoles()
	ctx := context.Background()
	b := e.BucketAt("denied", []string{"site-b"})
	e.load(ctx, []domain.Bucket{b}, pick(20, 500), 256, 0)
	ws := e.Ledger.All()
	e.WaitStatus(ws, 2*time.Minute, domain.StatusFailed)
	for _, w := range ws {
		cur, err := e.Meta.Version(ctx, w.Bucket, w.Key, w.VersionID)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := cur.Site("site-a")
		bb, _ := cur.Site("site-b")
		if a.Status != domain.StatusFailed || a.Reason == "" || bb.Status != domain.StatusCompleted {
			t.Fatalf("%s/%s %s: site-a %+v, site-b %+v; want site-a FAILED with a reason, site-b COMPLETED", w.Bucket, w.Key, w.VersionID, a, bb)
		}
	}
	first, _ := e.Meta.Version(ctx, ws[0].Bucket, ws[0].Key, ws[0].VersionID)
	a, _ := first.Site("site-a")
	t.Logf("%d versions FAILED at site-a, for example: %s", len(ws), a.Reason)

	failed := e.listFailed(ctx, "site-a")
	if len(failed) != len(ws) {
		t.Fatalf("failure store lists %d versions for site-a, want %d", len(failed), len(ws))
	}
	if err := e.Sites["site-a"].EnsureVersionedBucket(ctx, b.Name+"-replica"); err != nil {
		t.Fatal(err)
	}
	// The listing is newest first. Retried in pages in that order, a key's
	// newer version could reach the site before its older one (each request
	// keeps a key's versions in order, separate requests cannot), so the
	// operator's tool retries oldest first, as the README advises.
	var entries []apiclient.RetryEntry
	for _, f := range slices.Backward(failed) {
		entries = append(entries, apiclient.RetryEntry{Bucket: f.Bucket, Key: f.Key, VersionID: f.VersionID, StorageClass: f.StorageClass})
	}
	retried := 0
	for len(entries) > 0 {
		n := min(len(entries), 100)
		out, err := e.API.Retry(ctx, entries[:n])
		if err != nil {
			t.Fatalf("retry through the API: %v", err)
		}
		retried += len(out)
		entries = entries[n:]
	}
	if retried != len(ws) {
		t.Fatalf("the API retried %d versions, want %d", retried, len(ws))
	}
	e.WaitStatus(ws, 2*time.Minute, domain.StatusCompleted)
	if left := e.listFailed(ctx, "site-a"); len(left) != 0 {
		t.Errorf("failure store still lists %d versions for site-a after they completed", len(left))
	}
	e.Verify()
}

// listFailed pages through the failure store of site.
func (e *Env) listFailed(ctx context.Context, site string) []apiclient.FailedVersion {
	e.t.Helper()
	var all []apiclient.FailedVersion
	var marker int64
	for {
		p, err := e.API.ListFailed(ctx, site, marker)
		if err != nil {
			e.t.Fatalf("list failed versions of %s: %v", site, err)
		}
		all = append(all, p.Versions...)
		if !p.IsTruncated || p.NextMarker == nil {
			return all
		}
		marker = *p.NextMarker
	}
}

// stack runs e2e/stack/stack.sh with args (stop or start a component).
func stack(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command("bash", append([]string{"stack/stack.sh"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("stack.sh %v: %v\n%s", args, err, out)
	}
	t.Logf("stack.sh %v:\n%s", args, out)
}

// privateRedis is a redis-server the test starts, stops and starts again
// on the same port; it is stopped when the test ends.
type privateRedis struct {
	addr, dir string
	cmd       *exec.Cmd
}

func startRedis(t *testing.T) *privateRedis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("no redis-server (the stack's scripts install it: bash e2e/stack/stack.sh up): %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &privateRedis{addr: l.Addr().String(), dir: t.TempDir()}
	l.Close()
	r.start(t)
	t.Cleanup(func() {
		if r.cmd != nil {
			r.stop(t)
		}
	})
	return r
}

func (r *privateRedis) start(t *testing.T) {
	t.Helper()
	host, port, _ := net.SplitHostPort(r.addr)
	r.cmd = exec.Command("redis-server", "--bind", host, "--port", port, "--dir", r.dir, "--save", "", "--appendonly", "yes", "--appendfsync", "always")
	r.cmd.Stdout, r.cmd.Stderr = io.Discard, io.Discard
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", r.addr, time.Second)
		if err == nil {
			c.Close()
			t.Logf("redis-server on %s (pid %d)", r.addr, r.cmd.Process.Pid)
			return
		}
		if i == 100 {
			t.Fatalf("redis-server on %s did not listen: %v", r.addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (r *privateRedis) stop(t *testing.T) {
	t.Helper()
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	_ = r.cmd.Wait()
	r.cmd = nil
	t.Logf("redis-server on %s stopped", r.addr)
}

// outage stops component for down while a load runs, starts it again
// (deferred too, so that a failing test never leaves it stopped), and
// checks the invariants once everything is done. When backlogSite is set,
// that site's backlog metric (read through the API) must rise during the
// outage and fall back to zero. Full suite only: it disturbs every user of
// the shared stack.
func outage(t *testing.T, component string, down time.Duration, backlogSite string, extra ...string) {
	if !full() {
		t.Skip("full suite only (BACKBEAT_E2E_FULL=1): stops a shared stack service")
	}
	e := newEnv(t, extra...)
	e.StartRoles()
	ctx := context.Background()
	buckets := []domain.Bucket{e.Bucket("outage-0"), e.Bucket("outage-1")}
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait) // loaders end before the roles stop, even on failure
	wg.Add(1)
	go func() {
		defer wg.Done()
		e.load(ctx, buckets, 1000, 512, 40)
	}()
	time.Sleep(10 * time.Second)
	restarted := false
	defer func() {
		if !restarted {
			stack(t, "start", component)
		}
	}()
	stack(t, "stop", component)
	peak := int64(0)
	for end := time.Now().Add(down); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		if backlogSite != "" {
			peak = max(peak, e.backlog(ctx, backlogSite))
		}
	}
	stack(t, "start", component)
	restarted = true
	wg.Wait()
	e.WaitDone(e.Ledger.All(), 5*time.Minute)
	e.Verify()
	if backlogSite == "" {
		return
	}
	t.Logf("backlog of %s peaked at %d during the outage", backlogSite, peak)
	if peak == 0 {
		t.Errorf("backlog of %s did not rise while it was down", backlogSite)
	}
	deadline := time.Now().Add(30 * time.Second)
	for n := e.backlog(ctx, backlogSite); n != 0; n = e.backlog(ctx, backlogSite) {
		if time.Now().After(deadline) {
			t.Errorf("backlog of %s is still %d once everything completed", backlogSite, n)
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// backlog reads a site's backlog count through the API (-1 on error).
func (e *Env) backlog(ctx context.Context, site string) int64 {
	m, err := e.API.SiteMetric(ctx, site, "backlog")
	if err != nil || m.Backlog == nil {
		return -1
	}
	return m.Backlog.Results.Count.Int64()
}

// Scenario 3: the Kafka broker stopped for 20 s mid-load.
func TestKafkaOutage(t *testing.T) {
	outage(t, "kafka", 20*time.Second, "")
}

// Scenario 4: a destination S3 server stopped for 30 s mid-load: copies
// retry with backoff in place and complete once it is back; the site's
// backlog rises and falls. The retry budget outlasts the outage: an entry
// whose budget runs out goes to the replay topic, and the key's next
// versions, still on the entries topic, may then reach the site before it
// (order per key is kept only while retries stay in place; see README).
func TestDestinationOutage(t *testing.T) {
	outage(t, "s3-site-a", 30*time.Second, "site-a",
		"BACKBEAT_REPLICATION_MAXATTEMPTS=1000", "BACKBEAT_REPLICATION_MAXELAPSED=3m", "BACKBEAT_REPLICATION_MAXDELAY=3s")
}

// Scenario 15: Redis stopped for 20 s mid-load. Statuses keep reaching
// COMPLETED in MongoDB during the outage (counted and printed); after it
// the backlog counter drains to zero, nothing is listed as failed, and
// nothing is lost. The roles use a Redis of their own, started by the test
// (the stack's redis-server binary, with an append-only file, so that it
// comes back with its counts as a production Redis does), so that stopping
// it disturbs no other user of the shared stack.
func TestRedisOutage(t *testing.T) {
	parallel(t)
	rs := startRedis(t)
	e := newEnv(t, "BACKBEAT_REDIS_ADDR="+rs.addr)
	e.StartRoles()
	ctx := context.Background()
	buckets := []domain.Bucket{e.Bucket("redis-0"), e.Bucket("redis-1")}
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	wg.Add(1)
	go func() {
		defer wg.Done()
		e.load(ctx, buckets, pick(400, 800), 512, pick(20.0, 30.0))
	}()
	time.Sleep(8 * time.Second)
	completed := func() int {
		counts, err := e.Checker.Statuses(ctx, e.Ledger.All())
		if err != nil {
			t.Fatal(err)
		}
		return counts[domain.StatusCompleted]
	}
	rs.stop(t)
	before := completed()
	time.Sleep(20 * time.Second)
	during := completed() - before
	rs.start(t)
	wg.Wait()
	e.WaitDone(e.Ledger.All(), 5*time.Minute)
	e.Verify()
	fmt.Printf("SCENARIO %s: completed-during-outage=%d\n", t.Name(), during)
	t.Logf("%d versions reached COMPLETED while Redis was down", during)
	if during == 0 {
		t.Error("no status was written back while Redis was down")
	}
	for _, site := range siteNames {
		deadline := time.Now().Add(30 * time.Second)
		for n := e.backlog(ctx, site); n != 0; n = e.backlog(ctx, site) {
			if time.Now().After(deadline) {
				t.Errorf("backlog of %s is %d once everything completed: the counters missed the outage", site, n)
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		if failed := e.listFailed(ctx, site); len(failed) != 0 {
			t.Errorf("%d entries listed as failed at %s, none failed", len(failed), site)
		}
	}
}
