package app_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/openbackbeat/backbeat/adapters/memory"
	"github.com/openbackbeat/backbeat/app"
	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// lostEnv is a pipeline on the memory adapters whose populator can be
// stopped and started again, with a backfill job runner.
type lostEnv struct {
	t       *testing.T
	meta    *memory.Metadata
	bus     *memory.Bus
	source  *memory.Objects
	dest    *memory.Objects
	cps     *memory.Checkpoints
	jobs    *memory.Jobs
	sim     *app.Simulator
	reader  *sdkmetric.ManualReader
	tel     *app.Telemetry
	log     *slog.Logger
	stopPop func()
}

func newLostEnv(t *testing.T) *lostEnv {
	t.Helper()
	bus, err := memory.NewBus(memory.BusConfig{Partitions: 4})
	if err != nil {
		t.Fatal(err)
	}
	failures, err := memory.NewFailures(memory.FailuresConfig{})
	if err != nil {
		t.Fatal(err)
	}
	reader := sdkmetric.NewManualReader()
	tel, err := app.NewTelemetry(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))
	if err != nil {
		t.Fatal(err)
	}
	e := &lostEnv{t: t, meta: memory.NewMetadata(), bus: bus, source: memory.NewObjects(), dest: memory.NewObjects(),
		cps: memory.NewCheckpoints(), jobs: memory.NewJobs(), reader: reader, tel: tel,
		log: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	e.sim = &app.Simulator{Metadata: e.meta, Objects: e.source.Writer(), Versions: e.meta}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	run := func(name string, fn func(context.Context) error) {
		wg.Go(func() {
			if err := fn(ctx); err != nil {
				t.Errorf("%s stopped: %v", name, err)
			}
		})
	}
	r, err := app.NewReplicator("site-a", app.ReplicatorDeps{Subscriber: bus, Publisher: bus, Source: e.source, Destination: e.dest,
		Control: memory.NewSiteControl(), Topics: app.DefaultTopics, Log: e.log}, quickReplication(app.ReplicationConfig{Concurrency: 8}))
	if err != nil {
		t.Fatal(err)
	}
	run("replicator", r.Run)
	ap, err := app.NewStatusApplier(app.StatusApplierDeps{Subscriber: bus, Publisher: bus, Metadata: e.meta, Failures: failures,
		Topics: app.DefaultTopics, Log: e.log}, app.ReplicationConfig{Concurrency: 8})
	if err != nil {
		t.Fatal(err)
	}
	run("status applier", ap.Run)
	run("jobs", (&app.JobRunner{Jobs: e.jobs, Locks: memory.NewLocker(), Metadata: e.meta, Scanner: e.meta,
		Config: app.JobRunnerConfig{BatchSize: 50, Concurrency: 4, LeaseTTL: time.Second, Poll: 10 * time.Millisecond}, Log: e.log}).Run)
	t.Cleanup(func() {
		if e.stopPop != nil {
			e.stopPop()
		}
		cancel()
		wg.Wait()
	})
	return e
}

// startPopulator runs a populator (with automatic backfill when auto)
// until stopPopulator or the test's end.
func (e *lostEnv) startPopulator(auto bool) *app.Populator {
	e.t.Helper()
	deps := app.PopulatorDeps{Journal: e.meta, Checkpoints: e.cps, Metadata: e.meta, Publisher: e.bus, Telemetry: e.tel,
		Topics: app.DefaultTopics, Sites: []string{"site-a"}, Log: e.log}
	if auto {
		svc, err := app.NewBackfillService(e.jobs, e.meta, []string{"site-a"})
		if err != nil {
			e.t.Fatal(err)
		}
		deps.Backfill = svc
	}
	p, err := app.NewPopulator(deps, app.PopulatorConfig{BatchSize: 100, BucketCacheTTL: time.Nanosecond})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := p.Run(ctx); err != nil {
			e.t.Errorf("populator stopped: %v", err)
		}
	}()
	e.stopPop = func() { cancel(); <-done }
	select {
	case <-p.Ready():
	case <-time.After(10 * time.Second):
		e.t.Fatal("populator did not open the journal")
	}
	return p
}

func (e *lostEnv) stopPopulator() {
	e.stopPop()
	e.stopPop = nil
}

func (e *lostEnv) bucket(name string) domain.Bucket {
	e.t.Helper()
	b := domain.Bucket{Name: name, VersioningEnabled: true, VFormat: "v0", Replication: &domain.ReplicationConfig{
		Role:  "arn:aws:iam::123456789012:role/crr",
		Rules: []domain.ReplicationRule{{ID: "all", Enabled: true, DestinationBucket: "arn:aws:s3:::" + name + "-replica", StorageClass: "site-a"}},
	}}
	if err := e.sim.CreateBucket(context.Background(), b); err != nil {
		e.t.Fatal(err)
	}
	e.dest.CreateBucket(name + "-replica")
	return b
}

func (e *lostEnv) put(b domain.Bucket, key string) domain.ObjectVersion {
	e.t.Helper()
	v, err := e.sim.PutObject(context.Background(), b, key, []byte("data of "+key), "text/plain", nil, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

func (e *lostEnv) status(v domain.ObjectVersion) domain.Status {
	e.t.Helper()
	cur, err := e.meta.Version(context.Background(), v.Bucket, v.Key, v.VersionID)
	if err != nil {
		e.t.Fatal(err)
	}
	return cur.Replication.Status
}

func (e *lostEnv) waitCompleted(what string, vs ...domain.ObjectVersion) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for _, v := range vs {
		for e.status(v) != domain.StatusCompleted {
			if time.Now().After(deadline) {
				e.t.Fatalf("%s: %s/%s is %s after 20 s, want COMPLETED", what, v.Bucket, v.Key, e.status(v))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

func (e *lostEnv) historyLostMetric() int64 {
	e.t.Helper()
	var rm metricdata.ResourceMetrics
	if err := e.reader.Collect(context.Background(), &rm); err != nil {
		e.t.Fatal(err)
	}
	var n int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == "backbeat.journal.history.lost" {
				for _, p := range m.Data.(metricdata.Sum[int64]).DataPoints {
					n += p.Value
				}
			}
		}
	}
	return n
}

// The populator stopped, versions were written, and the journal dropped
// their events: once started again, it reports the loss, resumes, and a
// backfill it starts replicates every version the gap hid.
func TestHistoryLostIsBackfilled(t *testing.T) {
	t.Parallel()
	e := newLostEnv(t)
	b := e.bucket("lost")
	e.startPopulator(true)
	before := e.put(b, "before")
	e.waitCompleted("before the gap", before)
	e.stopPopulator()

	var gap []domain.ObjectVersion
	for i := range 25 {
		gap = append(gap, e.put(b, fmt.Sprintf("gap/%02d", i)))
	}
	e.meta.TrimJournal(0)

	p := e.startPopulator(true)
	e.waitCompleted("written in the gap", gap...)
	after := e.put(b, "after")
	e.waitCompleted("written after the populator resumed", after)

	st := p.HistoryLost()
	if st == nil || st.Count != 1 || len(st.Buckets) != 1 || st.Buckets[0] != b.Name || st.Backfills[b.Name] == "" {
		t.Fatalf("history-lost state = %+v, want one loss of bucket %s with its backfill job", st, b.Name)
	}
	if st.From.IsZero() || st.To.Before(st.From) {
		t.Fatalf("history-lost range %s .. %s, want a known start before its end", st.From, st.To)
	}
	job, err := e.jobs.Job(context.Background(), st.Backfills[b.Name])
	if err != nil {
		t.Fatal(err)
	}
	if !job.IncludePending || job.ModifiedSince.IsZero() || job.ModifiedSince.After(st.From) {
		t.Fatalf("backfill job %+v: want includePending and modifiedSince at or before %s", job, st.From)
	}
	if n := e.historyLostMetric(); n != 1 {
		t.Fatalf("backbeat.journal.history.lost = %d, want 1", n)
	}

	// The checkpoint moved past the loss: a restart reports nothing more.
	e.stopPopulator()
	p = e.startPopulator(true)
	again := e.put(b, "again")
	e.waitCompleted("after a restart", again)
	if st := p.HistoryLost(); st != nil {
		t.Fatalf("a restart after the recovery reported history lost again: %+v", st)
	}
}

// With the automatic backfill off, the loss is reported and left to the
// operator: no job, the versions of the gap stay PENDING, and the
// populator goes on with the writes it can see.
func TestHistoryLostWithoutAutomaticBackfill(t *testing.T) {
	t.Parallel()
	e := newLostEnv(t)
	b := e.bucket("manual")
	e.startPopulator(false)
	e.waitCompleted("before the gap", e.put(b, "before"))
	e.stopPopulator()
	gap := e.put(b, "gap")
	e.meta.TrimJournal(0)

	p := e.startPopulator(false)
	after := e.put(b, "after")
	e.waitCompleted("written after the populator resumed", after)
	st := p.HistoryLost()
	if st == nil || st.Count != 1 || st.NotBackfilled[b.Name] == "" || len(st.Backfills) != 0 {
		t.Fatalf("history-lost state = %+v, want the loss of %s reported, not backfilled", st, b.Name)
	}
	jobs, err := e.jobs.Jobs(context.Background(), ports.JobFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 0 {
		t.Fatalf("the automatic backfill is off, yet jobs were started: %+v", jobs)
	}
	if got := e.status(gap); got != domain.StatusPending {
		t.Fatalf("the version of the gap is %s, want still PENDING (nothing published it)", got)
	}
	if n := e.historyLostMetric(); n != 1 {
		t.Fatalf("backbeat.journal.history.lost = %d, want 1", n)
	}
}
