package app_test

// Component tests: the whole pipeline in one process on the in-memory
// adapters, asserting what reaches the destinations and the statuses
// written back to the source metadata.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/adapters/memory"
	"github.com/openbackbeat/backbeat/app"
	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

type harness struct {
	t        *testing.T
	sites    []string
	meta     *memory.Metadata
	bus      *memory.Bus
	source   *memory.Objects
	dests    map[string]*memory.Objects
	failures *memory.Failures
	locker   *memory.Locker
	control  ports.SiteControl
	sim      *app.Simulator
	retrier  *app.FailedRetrier
	sitesSvc *app.SiteService
	repls    map[string]*app.Replicator
	log      *slog.Logger
}

var quickRetry = domain.RetryPolicy{MaxAttempts: 5, MaxElapsed: 10 * time.Second, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}

// quickReplication is c with quickRetry as its retry policy.
func quickReplication(c app.ReplicationConfig) app.ReplicationConfig {
	c.MaxAttempts, c.MaxElapsed, c.BaseDelay, c.MaxDelay = quickRetry.MaxAttempts, quickRetry.MaxElapsed, quickRetry.BaseDelay, quickRetry.MaxDelay
	return c
}

// newHarness starts a populator, one replicator per site and a status
// applier; they stop when the test ends.
func newHarness(t *testing.T, sites ...string) *harness {
	t.Helper()
	return newHarnessWith(t, nil, sites...)
}

// newHarnessWith is newHarness with before run on the stores before any
// role starts.
func newHarnessWith(t *testing.T, before func(*harness), sites ...string) *harness {
	t.Helper()
	bus, err := memory.NewBus(memory.BusConfig{Partitions: 8})
	if err != nil {
		t.Fatal(err)
	}
	failures, err := memory.NewFailures(memory.FailuresConfig{})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{
		t: t, sites: sites,
		meta: memory.NewMetadata(), bus: bus, source: memory.NewObjects(),
		dests: map[string]*memory.Objects{}, repls: map[string]*app.Replicator{}, failures: failures, locker: memory.NewLocker(),
		control: memory.NewSiteControl(),
		log:     slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	for _, s := range sites {
		h.dests[s] = memory.NewObjects()
	}
	h.sim = &app.Simulator{Metadata: h.meta, Objects: h.source.Writer(), Versions: h.meta}
	h.retrier = &app.FailedRetrier{Metadata: h.meta, Failures: h.failures, Locker: h.locker, Publisher: h.bus, Topics: app.DefaultTopics, Log: h.log}
	h.sitesSvc = &app.SiteService{Control: h.control, Sites: sites}
	if before != nil {
		before(h)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	run := func(name string, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(ctx); err != nil {
				t.Errorf("%s stopped: %v", name, err)
			}
		}()
	}
	pop, err := app.NewPopulator(app.PopulatorDeps{Journal: h.meta, Checkpoints: memory.NewCheckpoints(), Metadata: h.meta, Publisher: h.bus,
		Topics: app.DefaultTopics, Sites: sites, Log: h.log}, app.PopulatorConfig{BatchSize: 100, BucketCacheTTL: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	run("populator", pop.Run)
	select {
	case <-pop.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("populator did not open the journal")
	}
	for _, s := range sites {
		r, err := app.NewReplicator(s, app.ReplicatorDeps{Subscriber: h.bus, Publisher: h.bus, Source: h.source, Destination: h.dests[s],
			Control: h.control, Topics: app.DefaultTopics, Log: h.log},
			quickReplication(app.ReplicationConfig{Concurrency: 8, MaxReplays: 2, ReplayDelay: 10 * time.Millisecond}))
		if err != nil {
			t.Fatal(err)
		}
		h.repls[s] = r
		run("replicator "+s, r.Run)
	}
	ap, err := app.NewStatusApplier(app.StatusApplierDeps{Subscriber: h.bus, Publisher: h.bus, Metadata: h.meta, Failures: h.failures,
		Topics: app.DefaultTopics, Log: h.log}, app.ReplicationConfig{Concurrency: 8})
	if err != nil {
		t.Fatal(err)
	}
	run("status applier", ap.Run)
	t.Cleanup(func() { cancel(); wg.Wait() })
	return h
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func (h *harness) bucket(name string, rules ...domain.ReplicationRule) domain.Bucket {
	h.t.Helper()
	if len(rules) == 0 {
		rules = []domain.ReplicationRule{{ID: "all", Enabled: true, DestinationBucket: "arn:aws:s3:::" + name + "-replica", StorageClass: strings.Join(h.sites, ",")}}
	}
	b := domain.Bucket{Name: name, VersioningEnabled: true, VFormat: "v0", Replication: &domain.ReplicationConfig{Role: "arn:aws:iam::123456789012:role/crr", Rules: rules}}
	if err := h.sim.CreateBucket(context.Background(), b); err != nil {
		h.t.Fatal(err)
	}
	for _, d := range h.dests {
		d.CreateBucket(name + "-replica")
	}
	return b
}

func (h *harness) put(b domain.Bucket, key string, data []byte) domain.ObjectVersion {
	h.t.Helper()
	v, err := h.sim.PutObject(context.Background(), b, key, data, "text/plain", map[string]string{"owner": "alice", "n": key}, map[string]string{"team": "x"})
	if err != nil {
		h.t.Fatal(err)
	}
	return v
}

// waitFor polls the version until cond holds or the deadline passes.
func (h *harness) waitFor(v domain.ObjectVersion, what string, cond func(domain.ObjectVersion) bool) domain.ObjectVersion {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		cur, err := h.meta.Version(context.Background(), v.Bucket, v.Key, v.VersionID)
		if err == nil && cond(cur) {
			return cur
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%s/%s %s: never became %s; last: %+v (err %v)", v.Bucket, v.Key, v.VersionID, what, cur.Replication, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitPaused waits, up to a second, for site's replicator to be paused.
func (h *harness) waitPaused(site string) {
	h.t.Helper()
	for deadline := time.Now().Add(time.Second); !h.repls[site].Paused(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			h.t.Fatalf("%s's replicator not paused 1 s after the pause was stored", site)
		}
	}
}

func aggregateIs(st domain.Status) func(domain.ObjectVersion) bool {
	return func(v domain.ObjectVersion) bool { return v.Replication.Status == st }
}

// checkReplica asserts that site holds exactly one replica of v with its
// bytes and metadata.
func (h *harness) checkReplica(site string, v domain.ObjectVersion, data []byte) {
	h.t.Helper()
	r := h.replicaOf(site, v)
	if !bytes.Equal(r.Data, data) {
		h.t.Fatalf("site %s: replica of %s/%s has different bytes", site, v.Bucket, v.Key)
	}
	if r.UserMeta["owner"] != "alice" || r.UserMeta["n"] != v.Key || r.UserMeta[domain.ReplicaMetaKey] != "REPLICA" || r.UserMeta[domain.SourceVersionMetaKey] != v.VersionID {
		h.t.Fatalf("site %s: replica of %s/%s has user metadata %v", site, v.Bucket, v.Key, r.UserMeta)
	}
	if r.ContentType != "text/plain" || r.Tags["team"] != "x" {
		h.t.Fatalf("site %s: replica of %s/%s has content type %q, tags %v", site, v.Bucket, v.Key, r.ContentType, r.Tags)
	}
}

func TestReplicatesEveryVersionToEverySite(t *testing.T) {
	h := newHarness(t, "site-a", "site-b")
	buckets := []domain.Bucket{h.bucket("photos"), h.bucket("docs")}
	type written struct {
		v    domain.ObjectVersion
		data []byte
	}
	var all []written
	for i := range 1000 {
		data := []byte(strings.Repeat(fmt.Sprintf("object %d;", i), 1+i%17))
		b := buckets[i%2]
		all = append(all, written{h.put(b, fmt.Sprintf("dir%d/key-%d", i%7, i), data), data})
	}
	for _, w := range all {
		cur := h.waitFor(w.v, "COMPLETED", aggregateIs(domain.StatusCompleted))
		for _, s := range h.sites {
			b, _ := cur.Site(s)
			if b.Status != domain.StatusCompleted || b.DataStoreVersionID == "" {
				t.Fatalf("%s/%s site %s: %+v", w.v.Bucket, w.v.Key, s, b)
			}
			h.checkReplica(s, w.v, w.data)
		}
	}
}

func TestVersionsOfOneKeyArriveInOrderWhileOtherKeysProceed(t *testing.T) {
	h := newHarness(t, "site-a")
	b := h.bucket("ordered")
	release := make(chan struct{})
	h.dests["site-a"].SetFault(func(r ports.Replica) error {
		if r.Key == "hot" {
			<-release // hold the first version of the hot key
		}
		return nil
	})
	var hot []domain.ObjectVersion
	for i := range 3 {
		hot = append(hot, h.put(b, "hot", []byte(fmt.Sprintf("version %d", i))))
	}
	var others []domain.ObjectVersion
	for i := range 20 {
		others = append(others, h.put(b, fmt.Sprintf("cold-%d", i), []byte("x")))
	}
	for _, v := range others { // other keys complete while "hot" is held
		h.waitFor(v, "COMPLETED", aggregateIs(domain.StatusCompleted))
	}
	for _, v := range hot {
		cur, _ := h.meta.Version(context.Background(), v.Bucket, v.Key, v.VersionID)
		if cur.Replication.Status == domain.StatusCompleted {
			t.Fatalf("version %s of the held key completed early", v.VersionID)
		}
	}
	close(release)
	for _, v := range hot {
		h.waitFor(v, "COMPLETED", aggregateIs(domain.StatusCompleted))
	}
	reps, err := h.dests["site-a"].Replicas(context.Background(), "ordered-replica", "hot")
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != 3 {
		t.Fatalf("destination holds %d versions of hot, want 3", len(reps))
	}
	for i, r := range reps {
		if r.SourceVersionID != hot[i].VersionID {
			t.Fatalf("destination version %d is a replica of %s, want %s (FIFO per key)", i, r.SourceVersionID, hot[i].VersionID)
		}
	}
}

func TestTransientFailuresAreRetriedUntilCompleted(t *testing.T) {
	h := newHarness(t, "site-a")
	b := h.bucket("flaky")
	var mu sync.Mutex
	failures := 0
	h.dests["site-a"].SetFault(func(ports.Replica) error {
		mu.Lock()
		defer mu.Unlock()
		if failures < 3 {
			failures++
			return errors.New("503 slow down")
		}
		return nil
	})
	data := []byte("flaky data")
	v := h.put(b, "k", data)
	h.waitFor(v, "COMPLETED", aggregateIs(domain.StatusCompleted))
	h.checkReplica("site-a", v, data)
	if failures != 3 {
		t.Fatalf("destination failed %d times, want 3", failures)
	}
}

func TestPermanentFailureIsListedAndRetriedAfterTheFix(t *testing.T) {
	h := newHarness(t, "site-a", "site-b")
	b := h.bucket("denied")
	var broken sync.Map
	broken.Store("site-a", true)
	h.dests["site-a"].SetFault(func(ports.Replica) error {
		if _, ok := broken.Load("site-a"); ok {
			return fmt.Errorf("%w: AccessDenied", domain.ErrPermanent)
		}
		return nil
	})
	data := []byte("important")
	v := h.put(b, "k", data)
	cur := h.waitFor(v, "FAILED", aggregateIs(domain.StatusFailed))
	a, _ := cur.Site("site-a")
	if a.Status != domain.StatusFailed || !strings.Contains(a.Reason, "AccessDenied") {
		t.Fatalf("site-a: %+v, want FAILED with the reason", a)
	}
	h.waitFor(v, "COMPLETED at site-b", func(o domain.ObjectVersion) bool { s, _ := o.Site("site-b"); return s.Status == domain.StatusCompleted })
	listed := h.waitFailed("site-a", 1)
	if listed[0].Bucket != "denied" || listed[0].Key != "k" || listed[0].VersionID != v.VersionID {
		t.Fatalf("failure store lists %+v", listed[0])
	}
	broken.Delete("site-a")
	// A retry of the same entry in progress elsewhere (upstream's lock name)
	// makes this one step aside, leaving the entry FAILED and listed.
	release, ok, err := h.locker.TryLock(context.Background(), "denied:k:"+v.VersionID+":site-a:processingFailures", time.Minute)
	if err != nil || !ok {
		t.Fatalf("take the retry lock: %v, %v", ok, err)
	}
	res := h.retrier.Retry(context.Background(), []app.RetryRequest{{Bucket: "denied", Key: "k", VersionID: v.VersionID, Site: "site-a"}})
	if len(res) != 1 || !errors.Is(res[0].Err, app.ErrRetryInProgress) {
		t.Fatalf("retry while another holds the lock: %+v, want ErrRetryInProgress", res)
	}
	if cur, _ := h.meta.Version(context.Background(), v.Bucket, v.Key, v.VersionID); cur.Replication.Status != domain.StatusFailed {
		t.Fatalf("a retry that stepped aside changed the status to %s", cur.Replication.Status)
	}
	h.waitFailed("site-a", 1)
	release()
	res = h.retrier.Retry(context.Background(), []app.RetryRequest{{Bucket: "denied", Key: "k", VersionID: v.VersionID, Site: "site-a"}})
	if len(res) != 1 || res[0].Err != nil || res[0].Status != domain.StatusPending {
		t.Fatalf("retry: %+v", res)
	}
	h.waitFor(v, "COMPLETED", aggregateIs(domain.StatusCompleted))
	h.checkReplica("site-a", v, data)
	h.waitFailed("site-a", 0)
}

func (h *harness) waitFailed(site string, n int) []ports.FailedEntry {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		page, err := h.failures.List(context.Background(), site, 0, 100)
		if err != nil {
			h.t.Fatal(err)
		}
		if len(page.Entries) == n {
			return page.Entries
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("failure store lists %d entries for %s, want %d", len(page.Entries), site, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestNothingIsReplicatedWhenRulesSayNot(t *testing.T) {
	h := newHarness(t, "site-a")
	ctx := context.Background()
	disabled := h.bucket("disabled", domain.ReplicationRule{ID: "off", Enabled: false, DestinationBucket: "arn:aws:s3:::disabled-replica", StorageClass: "site-a"})
	prefixed := h.bucket("prefixed", domain.ReplicationRule{ID: "logs", Enabled: true, Prefix: "logs/", DestinationBucket: "arn:aws:s3:::prefixed-replica", StorageClass: "site-a"})
	unversioned := h.bucket("unversioned")
	unversioned.VersioningEnabled = false
	if err := h.meta.PutBucket(ctx, unversioned); err != nil {
		t.Fatal(err)
	}
	skipped := []domain.ObjectVersion{h.put(disabled, "a", []byte("1")), h.put(prefixed, "data/b", []byte("2")), h.put(unversioned, "c", []byte("3"))}
	// A replica written by another site's replication carries REPLICA.
	h.bucket("replicas")
	vid := h.source.PutObject("replicas", "from-elsewhere", []byte("4"), nil)
	replica := domain.ObjectVersion{Bucket: "replicas", Key: "from-elsewhere", VersionID: vid, MicroVersionID: "r1", Size: 1,
		Replication: domain.ReplicationInfo{Status: domain.StatusReplica, Backends: []domain.Backend{{Site: "site-a", Status: domain.StatusReplica}}}}
	if err := h.meta.PutVersion(ctx, replica); err != nil {
		t.Fatal(err)
	}
	// A control object that must replicate proves the pipeline runs.
	control := h.put(prefixed, "logs/ok", []byte("5"))
	h.waitFor(control, "COMPLETED", aggregateIs(domain.StatusCompleted))
	h.waitFor(replica, "REPLICA", aggregateIs(domain.StatusReplica))
	for _, v := range skipped {
		cur, _ := h.meta.Version(ctx, v.Bucket, v.Key, v.VersionID)
		if len(cur.Replication.Backends) != 0 {
			t.Fatalf("%s/%s got replication info %+v", v.Bucket, v.Key, cur.Replication)
		}
	}
	for _, b := range []string{"disabled", "prefixed", "unversioned"} {
		for _, k := range []string{"a", "data/b", "c"} {
			if reps, _ := h.dests["site-a"].Replicas(ctx, b+"-replica", k); len(reps) != 0 {
				t.Fatalf("%s/%s was replicated", b, k)
			}
		}
	}
	if reps, _ := h.dests["site-a"].Replicas(ctx, "replicas-replica", "from-elsewhere"); len(reps) != 0 {
		t.Fatalf("a REPLICA version was replicated: %d copies", len(reps))
	}
}

func TestDisablingReplicationAfterTheWriteFailsTheVersionWithAReason(t *testing.T) {
	h := newHarness(t, "site-a")
	ctx := context.Background()
	if err := h.control.SetState(ctx, "site-a", ports.SiteState{Paused: true}); err != nil {
		t.Fatal(err)
	}
	b := h.bucket("later-disabled")
	b.Replication.Rules[0].Enabled = false
	// The write carries PENDING from the enabled rule; the bucket is
	// disabled before the populator sees it.
	v := domain.ObjectVersion{Bucket: b.Name, Key: "k", VersionID: "v1", MicroVersionID: "g1", Size: 1,
		Replication: domain.NewReplicationInfo(domain.ReplicationRule{ID: "all", Enabled: true, DestinationBucket: "arn:aws:s3:::x", StorageClass: "site-a"}, "", true)}
	if err := h.meta.PutBucket(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := h.meta.PutVersion(ctx, v); err != nil {
		t.Fatal(err)
	}
	cur := h.waitFor(v, "FAILED", aggregateIs(domain.StatusFailed))
	site, _ := cur.Site("site-a")
	if !strings.Contains(site.Reason, "replication disabled") {
		t.Fatalf("reason %q does not say replication is disabled", site.Reason)
	}
}

func TestAnOutcomeOlderThanTheMetadataNeverOverwritesIt(t *testing.T) {
	h := newHarness(t, "site-a")
	ctx := context.Background()
	if err := h.control.SetState(ctx, "site-a", ports.SiteState{Paused: true}); err != nil {
		t.Fatal(err)
	}
	b := h.bucket("racy")
	v := h.put(b, "k", []byte("first write"))
	// A newer write of the same version (say, new tags) resets the site.
	newer := v
	newer.MicroVersionID = "newer-generation"
	newer.Tags = map[string]string{"team": "y"}
	if err := h.meta.PutVersion(ctx, newer); err != nil {
		t.Fatal(err)
	}
	// The outcome of the first write's replication arrives late.
	stale := domain.NewOutcome(v, "site-a", domain.StatusCompleted)
	stale.DataStoreVersionID = "dst-1"
	if err := h.bus.Publish(ctx, app.DefaultTopics.Status, ports.Message{Key: stale.OrderingKey(), Payload: stale.Encode()}); err != nil {
		t.Fatal(err)
	}
	// A fresh outcome behind it proves the applier processed the stale one.
	marker := h.put(b, "marker", []byte("m"))
	fresh := domain.NewOutcome(marker, "site-a", domain.StatusCompleted)
	if err := h.bus.Publish(ctx, app.DefaultTopics.Status, ports.Message{Key: stale.OrderingKey(), Payload: fresh.Encode()}); err != nil {
		t.Fatal(err)
	}
	h.waitFor(marker, "COMPLETED", aggregateIs(domain.StatusCompleted))
	cur, err := h.meta.Version(ctx, v.Bucket, v.Key, v.VersionID)
	if err != nil {
		t.Fatal(err)
	}
	site, _ := cur.Site("site-a")
	if cur.MicroVersionID != "newer-generation" || cur.Tags["team"] != "y" || site.Status != domain.StatusPending {
		t.Fatalf("stale outcome overwrote the newer write: generation %q tags %v site %+v", cur.MicroVersionID, cur.Tags, site)
	}
}

func TestAMalformedEntryIsDeadLetteredAndTheNextOnesReplicate(t *testing.T) {
	h := newHarness(t, "site-a")
	ctx := context.Background()
	b := h.bucket("poison")
	bad := []ports.Message{
		{Key: "poison%2Fk", Payload: []byte("{not json")},
		{Key: "poison%2Fk", Payload: []byte(`{"schemaVersion":1,"bucket":"poison","key":"k\u0000v1","value":"{\"content-length\":\"big\"}"}`)},
	}
	if err := h.bus.Publish(ctx, app.DefaultTopics.Entries, bad...); err != nil {
		t.Fatal(err)
	}
	data := []byte("after the poison")
	v := h.put(b, "k", data)
	h.waitFor(v, "COMPLETED", aggregateIs(domain.StatusCompleted))
	h.checkReplica("site-a", v, data)
	deadline := time.Now().Add(10 * time.Second)
	for {
		dl := h.bus.Messages(app.DefaultTopics.DeadLetter)
		if len(dl) >= 2 {
			if !strings.Contains(string(dl[0].Payload), "not valid JSON") || !strings.Contains(string(dl[1].Payload), "content-length") {
				t.Fatalf("dead letters do not carry their reasons: %s / %s", dl[0].Payload, dl[1].Payload)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d dead letters, want 2", len(dl))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestPausedSiteStopsAndResumeCatchesUp(t *testing.T) {
	h := newHarness(t, "site-a", "site-b")
	ctx := context.Background()
	if err := h.sitesSvc.Pause(ctx, "site-a"); err != nil {
		t.Fatal(err)
	}
	h.waitPaused("site-a") // the stored pause reaches it through its watch
	b := h.bucket("paused")
	var vs []domain.ObjectVersion
	for i := range 10 {
		vs = append(vs, h.put(b, fmt.Sprintf("k%d", i), []byte("x")))
	}
	for _, v := range vs {
		h.waitFor(v, "COMPLETED at site-b", func(o domain.ObjectVersion) bool { s, _ := o.Site("site-b"); return s.Status == domain.StatusCompleted })
	}
	for _, v := range vs {
		cur, _ := h.meta.Version(ctx, v.Bucket, v.Key, v.VersionID)
		if s, _ := cur.Site("site-a"); s.Status != domain.StatusPending {
			t.Fatalf("paused site-a moved to %s", s.Status)
		}
	}
	if err := h.sitesSvc.ScheduleResume(ctx, "site-a", time.Now().Add(50*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		h.waitFor(v, "COMPLETED", aggregateIs(domain.StatusCompleted))
	}
	st, err := h.control.State(ctx, "site-a")
	if err != nil || st.Paused {
		t.Fatalf("after the scheduled resume site-a is %+v (%v)", st, err)
	}
}

// A bucket whose stored replication configuration is invalid, and a rule
// naming a site this service does not know, fail the versions they touch
// with the reason: FAILED in the metadata, listed in the failure store, and
// kept as dead letters. Sites that can be served still are, and other
// buckets go on.
func TestBadConfigurationAndUnknownSiteFailWithTheReason(t *testing.T) {
	h := newHarness(t, "site-a", "site-b")
	ctx := context.Background()
	invalid := domain.Bucket{Name: "invalid", VersioningEnabled: true, Replication: &domain.ReplicationConfig{Role: "admin",
		Rules: []domain.ReplicationRule{{ID: "all", Enabled: true, DestinationBucket: "arn:aws:s3:::invalid-replica", StorageClass: "site-a"}}}}
	if err := h.sim.CreateBucket(ctx, invalid); err != nil {
		t.Fatal(err)
	}
	mixed := h.bucket("mixed", domain.ReplicationRule{ID: "two", Enabled: true, DestinationBucket: "arn:aws:s3:::mixed-replica", StorageClass: "site-a,site-z"})
	good := h.bucket("good")

	v1 := h.put(invalid, "k", []byte("invalid configuration"))
	v2 := h.put(mixed, "k", []byte("one unknown site"))
	v3 := h.put(good, "k", []byte("fine"))

	cur := h.waitFor(v1, "FAILED", aggregateIs(domain.StatusFailed))
	if s, _ := cur.Site("site-a"); !strings.Contains(s.Reason, "invalid replication configuration") || !strings.Contains(s.Reason, "Role") {
		t.Errorf("invalid configuration: site-a %+v; want FAILED naming the configuration's wrong field", s)
	}
	cur = h.waitFor(v2, "site-a COMPLETED, site-z FAILED", func(o domain.ObjectVersion) bool {
		a, _ := o.Site("site-a")
		z, _ := o.Site("site-z")
		return a.Status == domain.StatusCompleted && z.Status == domain.StatusFailed
	})
	if z, _ := cur.Site("site-z"); !strings.Contains(z.Reason, `unknown site "site-z"`) {
		t.Errorf("unknown site: reason %q", z.Reason)
	}
	h.checkReplica("site-a", v2, []byte("one unknown site"))
	h.waitFor(v3, "COMPLETED", aggregateIs(domain.StatusCompleted))

	if fs := h.waitFailed("site-a", 1); fs[0].Bucket != "invalid" || fs[0].VersionID != v1.VersionID {
		t.Errorf("site-a failure store lists %+v, want %s/%s", fs[0], v1.Bucket, v1.VersionID)
	}
	if fs := h.waitFailed("site-z", 1); fs[0].Bucket != "mixed" || fs[0].VersionID != v2.VersionID {
		t.Errorf("site-z failure store lists %+v, want %s/%s", fs[0], v2.Bucket, v2.VersionID)
	}
	var reasons []string
	for _, m := range h.bus.Messages(app.DefaultTopics.DeadLetter) {
		var dl app.DeadLetter
		if err := json.Unmarshal(m.Payload, &dl); err != nil {
			t.Fatal(err)
		}
		reasons = append(reasons, dl.Reason)
	}
	if len(reasons) != 2 || !strings.Contains(strings.Join(reasons, "\n"), "invalid replication configuration") ||
		!strings.Contains(strings.Join(reasons, "\n"), "unknown site(s) site-z") {
		t.Errorf("dead letters %q; want one for the configuration and one for the unknown site", reasons)
	}
}

// A destination that keeps failing transiently: each delivery retries in
// place up to the policy's attempts, then the entry is replayed MaxReplays
// times (2 in the harness) through the replay topic, and only then is the
// site FAILED, with the reason, and listed in the failure store.
func TestTransientFailureIsReplayedThenFailed(t *testing.T) {
	h := newHarness(t, "site-a")
	b := h.bucket("down")
	var mu sync.Mutex
	attempts := 0
	h.dests["site-a"].SetFault(func(ports.Replica) error {
		mu.Lock()
		defer mu.Unlock()
		attempts++
		return errors.New("503 slow down")
	})
	v := h.put(b, "k", []byte("never lands"))
	cur := h.waitFor(v, "FAILED", aggregateIs(domain.StatusFailed))
	if s, _ := cur.Site("site-a"); !strings.Contains(s.Reason, "transient error after 5 attempts") || !strings.Contains(s.Reason, "503 slow down") {
		t.Errorf("site-a reason %q; want the transient error and its attempts", s.Reason)
	}
	mu.Lock()
	got := attempts
	mu.Unlock()
	if want := quickRetry.MaxAttempts * 3; got != want {
		t.Errorf("destination tried %d times, want %d (5 attempts, first delivery and 2 replays)", got, want)
	}
	var counts []int
	for _, m := range h.bus.Messages(app.DefaultTopics.Replay) {
		e, _, err := domain.DecodeEntry(m.Payload)
		if err != nil {
			t.Fatal(err)
		}
		counts = append(counts, e.ReplayCount)
	}
	if !slices.Equal(counts, []int{1, 2}) {
		t.Errorf("replays with counts %v, want [1 2]", counts)
	}
	h.waitFailed("site-a", 1)
}

// A pause stored while no replicator ran (it was down, or not deployed
// yet) holds the replicators that start later: they read the stored state
// before consuming anything.
func TestReplicatorStartsPausedFromTheStoredState(t *testing.T) {
	h := newHarnessWith(t, func(h *harness) {
		if err := h.sitesSvc.Pause(context.Background(), "site-a"); err != nil {
			t.Fatal(err)
		}
	}, "site-a", "site-b")
	h.waitPaused("site-a") // Run applies the stored state before it subscribes
	b := h.bucket("stored-pause")
	v := h.put(b, "k", []byte("held"))
	h.waitFor(v, "COMPLETED at site-b", func(o domain.ObjectVersion) bool { s, _ := o.Site("site-b"); return s.Status == domain.StatusCompleted })
	if n := h.dests["site-a"].Writes(); n != 0 {
		t.Fatalf("paused site-a was written %d times", n)
	}
	if err := h.sitesSvc.Resume(context.Background(), "site-a"); err != nil {
		t.Fatal(err)
	}
	h.waitFor(v, "COMPLETED", aggregateIs(domain.StatusCompleted))
	h.checkReplica("site-a", v, []byte("held"))
}
