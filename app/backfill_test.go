package app_test

// Component tests of backfill jobs on the in-memory adapters: what a job
// queues and skips, dry runs, concurrent writes, cancel, resumption, the
// lease, the rate and the backlog hold, and the pipeline replicating what
// a job queued.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/adapters/memory"
	"github.com/openbackbeat/backbeat/app"
	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

var bfSites = []string{"site-a", "site-b"}

type bfEnv struct {
	t       *testing.T
	meta    *memory.Metadata
	jobs    *memory.Jobs
	locks   *memory.Locker
	metrics *memory.Metrics
	svc     *app.BackfillService
	log     *slog.Logger
}

func newBFEnv(t *testing.T) *bfEnv {
	t.Helper()
	metrics, err := memory.NewMetrics(memory.MetricsConfig{})
	if err != nil {
		t.Fatal(err)
	}
	e := &bfEnv{t: t, meta: memory.NewMetadata(), jobs: memory.NewJobs(), locks: memory.NewLocker(), metrics: metrics,
		log: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if e.svc, err = app.NewBackfillService(e.jobs, e.meta, bfSites); err != nil {
		t.Fatal(err)
	}
	return e
}

var bfConfig = app.JobRunnerConfig{BatchSize: 7, Concurrency: 4, LeaseTTL: 600 * time.Millisecond, Poll: 10 * time.Millisecond}

// runner starts a job runner over store (the env's metadata when nil); it
// stops when the test ends, or when stop is called.
func (e *bfEnv) runner(store ports.MetadataStore, cfg app.JobRunnerConfig) (stop func()) {
	e.t.Helper()
	if store == nil {
		store = e.meta
	}
	r := &app.JobRunner{Jobs: e.jobs, Locks: e.locks, Metadata: store, Scanner: e.meta, Metrics: e.metrics, Config: cfg, Log: e.log}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := r.Run(ctx); err != nil {
			e.t.Errorf("runner: %v", err)
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	e.t.Cleanup(stop)
	return stop
}

func (e *bfEnv) start(req domain.JobRequest) domain.Job {
	e.t.Helper()
	j, err := e.svc.Start(context.Background(), req)
	if err != nil {
		e.t.Fatalf("start %+v: %v", req, err)
	}
	return j
}

// wait polls job id until it is in a final state.
func (e *bfEnv) wait(id string) domain.Job {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		j, err := e.svc.Job(context.Background(), id)
		if err != nil {
			e.t.Fatal(err)
		}
		if j.State.Final() {
			return j
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("job %s not finished after 20 s: %+v", id, j)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (e *bfEnv) run(req domain.JobRequest) domain.Job {
	e.t.Helper()
	stop := e.runner(nil, bfConfig)
	defer stop()
	j := e.wait(e.start(req).ID)
	if j.State != domain.JobDone {
		e.t.Fatalf("job %s ended %s: %s", j.ID, j.State, j.Error)
	}
	return j
}

func bfRule(prefix string, enabled bool, sites ...string) domain.ReplicationRule {
	return domain.ReplicationRule{ID: "r-" + prefix, Enabled: enabled, Prefix: prefix, DestinationBucket: "arn:aws:s3:::dst", StorageClass: strings.Join(sites, ",")}
}

func (e *bfEnv) bucket(name string, rules ...domain.ReplicationRule) domain.Bucket {
	e.t.Helper()
	b := domain.Bucket{Name: name, VersioningEnabled: true, VFormat: "v0", Replication: &domain.ReplicationConfig{Role: "arn:aws:iam::1:role/crr", Rules: rules}}
	if err := e.meta.PutBucket(context.Background(), b); err != nil {
		e.t.Fatal(err)
	}
	return b
}

var vidSeq atomic.Int64

// put writes a version as CloudServer would have before the bucket had a
// rule (no replicationInfo), then applies change.
func (e *bfEnv) put(bucket, key string, size int64, change func(*domain.ObjectVersion)) domain.ObjectVersion {
	e.t.Helper()
	n := vidSeq.Add(1)
	v := domain.ObjectVersion{Bucket: bucket, Key: key, VersionID: fmt.Sprintf("v%08d", 99999999-n), MicroVersionID: fmt.Sprint("m", n),
		Size: size, ContentMD5: "d41d8cd98f00b204e9800998ecf8427e", LastModified: time.Now().UTC().Add(time.Duration(n) * time.Millisecond)}
	if change != nil {
		change(&v)
	}
	if err := e.meta.PutVersion(context.Background(), v); err != nil {
		e.t.Fatal(err)
	}
	return v
}

func (e *bfEnv) version(v domain.ObjectVersion) domain.ObjectVersion {
	e.t.Helper()
	cur, err := e.meta.Version(context.Background(), v.Bucket, v.Key, v.VersionID)
	if err != nil {
		e.t.Fatal(err)
	}
	return cur
}

func sitesWith(st domain.Status, sites ...string) func(*domain.ObjectVersion) {
	return func(v *domain.ObjectVersion) {
		for _, s := range sites {
			v.Replication.Backends = append(v.Replication.Backends, domain.Backend{Site: s, Status: st, DataStoreVersionID: "dst-" + s})
		}
		v.Replication.Status = domain.Aggregate(v.Replication.Backends)
	}
}

// everyReason writes one version per verdict and returns the expected
// counts of a job over the bucket.
func (e *bfEnv) everyReason(bucket string) (queued map[string]domain.ObjectVersion, want domain.JobCounts) {
	e.t.Helper()
	e.bucket(bucket, bfRule("off/", false, "site-a"), bfRule("a/", true, "site-a", "site-b"))
	queued = map[string]domain.ObjectVersion{
		"new":         e.put(bucket, "a/new", 100, nil),
		"empty":       e.put(bucket, "a/empty", 0, nil),
		"marker":      e.put(bucket, "a/marker", 0, func(v *domain.ObjectVersion) { v.IsDeleteMarker = true; v.ContentMD5 = "" }),
		"site-b only": e.put(bucket, "a/half", 10, sitesWith(domain.StatusCompleted, "site-a")),
	}
	e.put(bucket, "a/completed", 1, sitesWith(domain.StatusCompleted, "site-a", "site-b"))
	e.put(bucket, "a/pending", 1, sitesWith(domain.StatusPending, "site-a", "site-b"))
	e.put(bucket, "a/failed", 1, sitesWith(domain.StatusFailed, "site-a", "site-b"))
	e.put(bucket, "a/replica", 1, func(v *domain.ObjectVersion) { v.Replication.Status = domain.StatusReplica })
	e.put(bucket, "z/none", 1, nil)
	e.put(bucket, "off/x", 1, nil)
	want = domain.JobCounts{Scanned: 10, Queued: 4, BytesQueued: 110,
		Skipped: map[domain.SkipReason]int64{domain.SkipCompleted: 1, domain.SkipPending: 1, domain.SkipFailed: 1, domain.SkipReplica: 1, domain.SkipNoRule: 1, domain.SkipDisabledRule: 1},
		PerSite: map[string]domain.SiteCount{"site-a": {Versions: 3, Bytes: 100}, "site-b": {Versions: 4, Bytes: 110}}}
	return queued, want
}

func wantCounts(t *testing.T, what string, got domain.Job, want domain.JobCounts) {
	t.Helper()
	g := got.JobCounts
	if len(g.Skipped) == 0 {
		g.Skipped = nil
	}
	if len(want.Skipped) == 0 {
		want.Skipped = nil
	}
	if len(g.PerSite) == 0 {
		g.PerSite = nil
	}
	if len(want.PerSite) == 0 {
		want.PerSite = nil
	}
	if !reflect.DeepEqual(g, want) {
		t.Fatalf("%s: counts\n got  %+v\n want %+v", what, g, want)
	}
}

func TestBackfillEverySkipReason(t *testing.T) {
	t.Parallel()
	e := newBFEnv(t)
	queued, want := e.everyReason("reasons")
	j := e.run(domain.JobRequest{Bucket: "reasons"})
	wantCounts(t, "real run", j, want)
	if j.Total != 10 || j.Progress() != 1 || j.Batch != nil {
		t.Fatalf("job %+v", j)
	}
	for name, v := range queued {
		cur := e.version(v)
		r := cur.Replication
		if r.Status != domain.StatusPending || r.Destination != "arn:aws:s3:::dst" || r.Role != "arn:aws:iam::1:role/crr" || r.StorageClass != "site-a,site-b" {
			t.Errorf("%s: replicationInfo %+v", name, r)
		}
		wantContent := []string{domain.ContentData, domain.ContentMetadata}
		if v.Size == 0 {
			wantContent = []string{domain.ContentMetadata}
		}
		if !slices.Equal(r.Content, wantContent) {
			t.Errorf("%s: content %v, want %v", name, r.Content, wantContent)
		}
		wantPending := bfSites
		if name == "site-b only" {
			wantPending = []string{"site-b"}
			if a, _ := cur.Site("site-a"); a.Status != domain.StatusCompleted || a.DataStoreVersionID != "dst-site-a" {
				t.Errorf("site-a of a half-replicated version changed: %+v", a)
			}
		}
		if got := cur.PendingSites(); !slices.Equal(got, wantPending) {
			t.Errorf("%s: pending sites %v, want %v", name, got, wantPending)
		}
		if cur.MicroVersionID != v.MicroVersionID {
			t.Errorf("%s: generation changed", name)
		}
	}
}

func TestBackfillIncludeFailedAndSites(t *testing.T) {
	t.Parallel()
	e := newBFEnv(t)
	e.bucket("failed", bfRule("", true, "site-a", "site-b"))
	v := e.put("failed", "k", 5, sitesWith(domain.StatusFailed, "site-a", "site-b"))
	j := e.run(domain.JobRequest{Bucket: "failed", Sites: []string{"site-b"}, IncludeFailed: true})
	wantCounts(t, "include failed, site-b", j, domain.JobCounts{Scanned: 1, Queued: 1, BytesQueued: 5,
		PerSite: map[string]domain.SiteCount{"site-b": {Versions: 1, Bytes: 5}}})
	cur := e.version(v)
	if a, _ := cur.Site("site-a"); a.Status != domain.StatusFailed {
		t.Fatalf("site-a, not in the job, became %s", a.Status)
	}
	if b, _ := cur.Site("site-b"); b.Status != domain.StatusPending {
		t.Fatalf("site-b is %s, want PENDING", b.Status)
	}
}

func TestBackfillDryRunCountsTheRealRunAndWritesNothing(t *testing.T) {
	t.Parallel()
	e := newBFEnv(t)
	_, want := e.everyReason("dry")
	for i := range 30 { // several batches, keys with several versions
		e.put("dry", fmt.Sprintf("a/more-%02d", i/3), int64(i), nil)
	}
	want.Scanned += 30
	want.Queued += 30
	var bytes int64
	for i := range 30 {
		bytes += int64(i)
	}
	want.BytesQueued += bytes
	for _, s := range bfSites {
		sc := want.PerSite[s]
		sc.Versions += 30
		sc.Bytes += bytes
		want.PerSite[s] = sc
	}
	before := e.snapshot("dry")
	dry := e.run(domain.JobRequest{Bucket: "dry", DryRun: true})
	wantCounts(t, "dry run", dry, want)
	if after := e.snapshot("dry"); !maps.Equal(before, after) {
		t.Fatal("the dry run changed the metadata")
	}
	real := e.run(domain.JobRequest{Bucket: "dry"})
	wantCounts(t, "real run", real, dry.JobCounts)

	// Run again: nothing more to queue. Every version queued is pending
	// now, but the half-replicated one, whose first site is completed; the
	// one pending from the start makes up for it.
	again := e.run(domain.JobRequest{Bucket: "dry"})
	if again.Queued != 0 || again.Scanned != want.Scanned || again.Skipped[domain.SkipPending] != want.Queued {
		t.Fatalf("second run: %+v", again.JobCounts)
	}
}

// snapshot returns every version's metadata, by key and version id.
func (e *bfEnv) snapshot(bucket string) map[domain.VersionRef]string {
	e.t.Helper()
	out := map[domain.VersionRef]string{}
	page, err := e.meta.ScanVersions(context.Background(), bucket, "", domain.VersionRef{}, 100000)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, v := range page {
		out[v.Ref()] = fmt.Sprintf("%+v", v.ObjectVersion)
	}
	return out
}

// racingStore writes to a version, as a concurrent CloudServer PUT of its
// metadata would, between the walk's read and the job's compare-and-swap.
type racingStore struct {
	*memory.Metadata
	key  string
	once sync.Once
	race func()
}

func (s *racingStore) UpdateVersion(ctx context.Context, bucket, key, versionID string, update func(*domain.ObjectVersion) error) (domain.ObjectVersion, error) {
	first := true
	return s.Metadata.UpdateVersion(ctx, bucket, key, versionID, func(v *domain.ObjectVersion) error {
		if key == s.key && first {
			first = false
			s.once.Do(s.race)
		}
		return update(v)
	})
}

func TestBackfillConcurrentWriteIsJudgedAgainNotOverwritten(t *testing.T) {
	t.Parallel()
	e := newBFEnv(t)
	e.bucket("race", bfRule("", true, "site-a", "site-b"))
	v := e.put("race", "hot", 10, nil)
	e.put("race", "cold", 10, nil)
	store := &racingStore{Metadata: e.meta, key: "hot", race: func() {
		// CloudServer rewrites the version's metadata: new tags, and
		// site-a already PENDING.
		w := v
		w.Tags = map[string]string{"new": "tags"}
		sitesWith(domain.StatusPending, "site-a")(&w)
		if err := e.meta.PutVersion(context.Background(), w); err != nil {
			t.Error(err)
		}
	}}
	stop := e.runner(store, bfConfig)
	j := e.wait(e.start(domain.JobRequest{Bucket: "race"}).ID)
	stop()
	cur := e.version(v)
	if cur.Tags["new"] != "tags" {
		t.Fatalf("the concurrent write was overwritten: tags %v", cur.Tags)
	}
	if got := cur.PendingSites(); !slices.Equal(got, bfSites) || len(cur.Replication.Backends) != 2 {
		t.Fatalf("backends %+v, want site-a and site-b PENDING once each", cur.Replication.Backends)
	}
	// Judged again: only site-b was the job's to queue.
	wantCounts(t, "job", j, domain.JobCounts{Scanned: 2, Queued: 2, BytesQueued: 20,
		PerSite: map[string]domain.SiteCount{"site-a": {Versions: 1, Bytes: 10}, "site-b": {Versions: 2, Bytes: 20}}})
}

// gatedStore blocks every UpdateVersion after the first n until opened.
type gatedStore struct {
	*memory.Metadata
	n     int64
	calls atomic.Int64
	gate  chan struct{}
}

func (s *gatedStore) UpdateVersion(ctx context.Context, bucket, key, versionID string, update func(*domain.ObjectVersion) error) (domain.ObjectVersion, error) {
	if s.calls.Add(1) > s.n {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return domain.ObjectVersion{}, ctx.Err()
		}
	}
	return s.Metadata.UpdateVersion(ctx, bucket, key, versionID, update)
}

func (e *bfEnv) countPending(bucket string) int64 {
	e.t.Helper()
	page, err := e.meta.ScanVersions(context.Background(), bucket, "", domain.VersionRef{}, 100000)
	if err != nil {
		e.t.Fatal(err)
	}
	var n int64
	for _, v := range page {
		if len(v.PendingSites()) > 0 {
			n++
		}
	}
	return n
}

func TestBackfillCancelStopsWithinABatch(t *testing.T) {
	t.Parallel()
	e := newBFEnv(t)
	e.bucket("cancel", bfRule("", true, "site-a", "site-b"))
	for i := range 100 {
		e.put("cancel", fmt.Sprintf("k%03d", i), 1, nil)
	}
	cfg := bfConfig
	cfg.BatchSize, cfg.Concurrency = 40, 4
	store := &gatedStore{Metadata: e.meta, n: 5, gate: make(chan struct{})}
	e.runner(store, cfg)
	j := e.start(domain.JobRequest{Bucket: "cancel"})
	for store.calls.Load() < 6 {
		time.Sleep(time.Millisecond)
	}
	if _, err := e.svc.Cancel(context.Background(), j.ID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // the runner polls every 10 ms
	close(store.gate)
	end := e.wait(j.ID)
	if end.State != domain.JobCancelled {
		t.Fatalf("state %s, want cancelled", end.State)
	}
	// Settled: the counts are what was written, and it stopped well
	// within its first batch of 40.
	time.Sleep(50 * time.Millisecond)
	end, _ = e.svc.Job(context.Background(), j.ID)
	pending := e.countPending("cancel")
	if pending > 5+int64(cfg.Concurrency) || end.Queued != pending || end.Batch != nil || !end.Checkpoint.IsZero() {
		t.Fatalf("after cancel: %d versions queued, job %+v (checkpoint %v)", pending, end.JobCounts, end.Checkpoint)
	}
	if _, err := e.svc.Cancel(context.Background(), j.ID); err == nil {
		t.Fatal("a cancelled job was cancelled again")
	}
}

func TestBackfillResumesAfterItsRunnerStopsMidBatch(t *testing.T) {
	t.Parallel()
	e := newBFEnv(t)
	e.bucket("resume", bfRule("a/", true, "site-a", "site-b"))
	for i := range 60 {
		prefix := "a/"
		if i%4 == 0 {
			prefix = "c/"
		}
		e.put("resume", fmt.Sprintf("%sk%03d", prefix, i/2), 1, nil) // two versions per key
	}
	cfg := bfConfig
	cfg.BatchSize = 10
	// The first runner dies in its third batch, with updates in flight.
	store := &gatedStore{Metadata: e.meta, n: 20, gate: make(chan struct{})}
	stop := e.runner(store, cfg)
	j := e.start(domain.JobRequest{Bucket: "resume"})
	for store.calls.Load() < 21 {
		time.Sleep(time.Millisecond)
	}
	stop()
	mid, _ := e.svc.Job(context.Background(), j.ID)
	if mid.State != domain.JobRunning || mid.Batch == nil || mid.Checkpoint.IsZero() {
		t.Fatalf("after the first runner stopped: %+v", mid)
	}
	e.runner(nil, cfg)
	end := e.wait(j.ID)
	wantCounts(t, "resumed job", end, domain.JobCounts{Scanned: 60, Queued: 45, BytesQueued: 45,
		Skipped: map[domain.SkipReason]int64{domain.SkipNoRule: 15},
		PerSite: map[string]domain.SiteCount{"site-a": {Versions: 45, Bytes: 45}, "site-b": {Versions: 45, Bytes: 45}}})
	if n := e.countPending("resume"); n != 45 {
		t.Fatalf("%d versions queued, want 45", n)
	}
}

func TestBackfillOneRunnerPerJob(t *testing.T) {
	t.Parallel()
	e := newBFEnv(t)
	_, want := e.everyReason("lease")
	for range 3 {
		e.runner(nil, bfConfig)
	}
	j := e.wait(e.start(domain.JobRequest{Bucket: "lease"}).ID)
	wantCounts(t, "job run among three runners", j, want)
}

func TestBackfillRate(t *testing.T) {
	t.Parallel()
	e := newBFEnv(t)
	e.bucket("rate", bfRule("", true, "site-a"))
	for i := range 12 {
		e.put("rate", fmt.Sprint("k", i), 1, nil)
	}
	start := time.Now()
	j := e.run(domain.JobRequest{Bucket: "rate", Rate: 40})
	if took := time.Since(start); took < 250*time.Millisecond || j.Queued != 12 {
		t.Fatalf("12 versions at 40/s queued in %s (queued %d), want at least 275 ms", took, j.Queued)
	}
}

func TestBackfillHoldsWhileTheBacklogIsOverTheLimit(t *testing.T) {
	t.Parallel()
	e := newBFEnv(t)
	e.bucket("hold", bfRule("", true, "site-a"))
	e.put("hold", "k", 1, nil)
	ctx := context.Background()
	for range 3 {
		if err := e.metrics.Record(ctx, "site-a", ports.MetricQueued, 1, 1, ports.Op{}); err != nil {
			t.Fatal(err)
		}
	}
	cfg := bfConfig
	cfg.MaxBacklog = 2
	e.runner(nil, cfg)
	j := e.start(domain.JobRequest{Bucket: "hold"})
	time.Sleep(200 * time.Millisecond)
	if n := e.countPending("hold"); n != 0 {
		t.Fatal("the job queued while the backlog was over the limit")
	}
	if err := e.metrics.Record(ctx, "site-a", ports.MetricCompleted, 1, 1, ports.Op{}); err != nil {
		t.Fatal(err)
	}
	if end := e.wait(j.ID); end.Queued != 1 {
		t.Fatalf("after the backlog fell: %+v", end.JobCounts)
	}
}

func TestBackfillStartRefuses(t *testing.T) {
	t.Parallel()
	e := newBFEnv(t)
	e.bucket("ok", bfRule("", true, "site-a"))
	if err := e.meta.PutBucket(context.Background(), domain.Bucket{Name: "plain", VersioningEnabled: true}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		req  domain.JobRequest
		want error
	}{
		{domain.JobRequest{Bucket: "missing"}, ports.ErrNotFound},
		{domain.JobRequest{Bucket: "plain"}, app.ErrNoReplication},
		{domain.JobRequest{Bucket: "ok", Sites: []string{"site-z"}}, app.ErrUnknownSite},
		{domain.JobRequest{Bucket: "ok", Rate: -1}, domain.ErrInvalidJob},
		{domain.JobRequest{Bucket: ""}, domain.ErrInvalidJob},
	} {
		if _, err := e.svc.Start(context.Background(), c.req); !errors.Is(err, c.want) {
			t.Errorf("Start(%+v) = %v, want %v", c.req, err, c.want)
		}
	}
	if _, err := e.svc.Job(context.Background(), "nope"); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("Job of a missing id: %v", err)
	}
}

// TestBackfillThroughThePipeline writes objects before their bucket has a
// rule, adds the rule, backfills, and finds every version at both sites.
func TestBackfillThroughThePipeline(t *testing.T) {
	t.Parallel()
	h := newHarness(t, bfSites...)
	ctx := context.Background()
	b := h.bucket("bf-pipe")
	plain := b
	plain.Replication = nil
	if err := h.meta.PutBucket(ctx, plain); err != nil {
		t.Fatal(err)
	}
	var written []domain.ObjectVersion
	data := map[string][]byte{}
	for i := range 25 {
		key := fmt.Sprintf("k%02d", i%10)
		d := []byte(fmt.Sprintf("before the rule %d", i))
		v, err := h.sim.PutObject(ctx, plain, key, d, "text/plain", map[string]string{"owner": "alice", "n": key}, map[string]string{"team": "x"})
		if err != nil {
			t.Fatal(err)
		}
		written = append(written, v)
		data[v.VersionID] = d
	}
	if err := h.meta.PutBucket(ctx, b); err != nil {
		t.Fatal(err)
	}
	jobs := memory.NewJobs()
	svc, err := app.NewBackfillService(jobs, h.meta, bfSites)
	if err != nil {
		t.Fatal(err)
	}
	r := &app.JobRunner{Jobs: jobs, Locks: h.locker, Metadata: h.meta, Scanner: h.meta, Config: bfConfig, Log: h.log}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("runner: %v", err)
		}
	})
	j, err := svc.Start(ctx, domain.JobRequest{Bucket: b.Name})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range written {
		h.waitFor(v, "COMPLETED", aggregateIs(domain.StatusCompleted))
		for _, s := range bfSites {
			h.checkReplica(s, v, data[v.VersionID])
		}
	}
	end, err := svc.Job(ctx, j.ID)
	if err != nil || end.Queued != 25 || end.State != domain.JobDone {
		t.Fatalf("job %+v (%v)", end, err)
	}
}

// A history-lost backfill (IncludePending, ModifiedSince) queues again
// the versions written since the time given that are still PENDING, with
// a new microVersionId so that the journal sees the write, and leaves the
// older ones alone.
func TestBackfillPendingSince(t *testing.T) {
	t.Parallel()
	e := newBFEnv(t)
	e.bucket("since", bfRule("", true, "site-a", "site-b"))
	old := e.put("since", "old", 5, func(v *domain.ObjectVersion) {
		sitesWith(domain.StatusPending, "site-a", "site-b")(v)
		v.LastModified = time.Now().UTC().Add(-time.Hour)
	})
	since := time.Now().UTC().Add(-time.Minute)
	lost := e.put("since", "lost", 7, sitesWith(domain.StatusPending, "site-a", "site-b"))
	half := e.put("since", "half", 3, sitesWith(domain.StatusCompleted, "site-a"))
	e.put("since", "done", 1, sitesWith(domain.StatusCompleted, "site-a", "site-b"))
	cur, err := e.meta.Open(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cur.Close(context.Background()) }()

	j := e.run(domain.JobRequest{Bucket: "since", IncludePending: true, ModifiedSince: since})
	wantCounts(t, "history-lost backfill", j, domain.JobCounts{Scanned: 4, Queued: 2, BytesQueued: 10,
		Skipped: map[domain.SkipReason]int64{domain.SkipOlder: 1, domain.SkipCompleted: 1},
		PerSite: map[string]domain.SiteCount{"site-a": {Versions: 1, Bytes: 7}, "site-b": {Versions: 2, Bytes: 10}}})
	if got := e.version(lost); got.MicroVersionID == lost.MicroVersionID || got.Replication.Status != domain.StatusPending {
		t.Fatalf("the lost version is %s with microVersionId %q (was %q): want PENDING with a new one", got.Replication.Status, got.MicroVersionID, lost.MicroVersionID)
	}
	if got := e.version(half); got.MicroVersionID != half.MicroVersionID {
		t.Fatalf("a version queued for a site without status got a new microVersionId %q", got.MicroVersionID)
	}
	if got := e.version(old); got.MicroVersionID != old.MicroVersionID {
		t.Fatalf("a version older than ModifiedSince was written: %+v", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	evs, err := cur.Next(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, ev := range evs {
		seen[ev.Key] = true
	}
	if !seen[domain.VersionedKey(lost.Key, lost.VersionID)] {
		t.Fatalf("the journal saw no write of the re-queued version %q (events: %v)", lost.Key, seen)
	}
}
