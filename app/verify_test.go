package app_test

// Component tests of verify jobs on the in-memory adapters: drift made
// behind the service's back is found exactly, a repair makes the pipeline
// converge, and a job survives its runner's death.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/adapters/memory"
	"github.com/openbackbeat/backbeat/app"
	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

var vfConfig = app.JobRunnerConfig{BatchSize: 9, Concurrency: 4, LeaseTTL: 600 * time.Millisecond, Poll: 10 * time.Millisecond}

// vfEnv is a pipeline (harness) with a verify service and job runners.
type vfEnv struct {
	*harness
	jobs     *memory.Jobs
	findings *memory.Findings
	svc      *app.VerifyService
	store    ports.MetadataStore // what runners write through; h.meta unless changed
}

func newVFEnv(t *testing.T) *vfEnv {
	t.Helper()
	h := newHarness(t, "site-a", "site-b")
	e := &vfEnv{harness: h, jobs: memory.NewJobs(), findings: memory.NewFindings(), store: h.meta}
	var err error
	if e.svc, err = app.NewVerifyService(e.jobs, e.findings, h.meta, h.sites); err != nil {
		t.Fatal(err)
	}
	return e
}

// runner starts a job runner; it stops when the test ends or stop is called.
func (e *vfEnv) runner(cfg app.JobRunnerConfig) (stop func()) {
	e.t.Helper()
	lists := map[string]ports.SiteListing{}
	for s, d := range e.dests {
		lists[s] = d
	}
	r := &app.JobRunner{Jobs: e.jobs, Locks: e.locker, Metadata: e.store, Scanner: e.meta, Config: cfg, Log: e.log,
		Verify: app.VerifyDeps{Sites: lists, Findings: e.findings}}
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

func (e *vfEnv) wait(id string) domain.Job {
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

// verify runs one job of req to its end and returns it with its findings.
func (e *vfEnv) verify(req domain.VerifyRequest) (domain.Job, []domain.Finding) {
	e.t.Helper()
	stop := e.runner(vfConfig)
	defer stop()
	j, err := e.svc.Start(context.Background(), req)
	if err != nil {
		e.t.Fatalf("start %+v: %v", req, err)
	}
	j = e.wait(j.ID)
	if j.State != domain.JobDone {
		e.t.Fatalf("job %s ended %s: %s", j.ID, j.State, j.Error)
	}
	return j, e.allFindings(j.ID, "")
}

func (e *vfEnv) allFindings(id string, kind domain.FindingKind) []domain.Finding {
	e.t.Helper()
	var out []domain.Finding
	after := ""
	for {
		page, more, err := e.svc.Findings(context.Background(), id, kind, after, 4)
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, page...)
		if !more {
			return out
		}
		after = page[len(page)-1].SortKey()
	}
}

// wrote is a source version and its bytes.
type wrote struct {
	v    domain.ObjectVersion
	data []byte
}

// replicated writes n versions over keys k00.. (three versions a key),
// plus a key whose latest version is a delete marker, and waits until
// every version is COMPLETED at both sites.
func (e *vfEnv) replicated(b domain.Bucket, n int) ([]wrote, domain.ObjectVersion) {
	e.t.Helper()
	var out []wrote
	for i := range n {
		data := fmt.Appendf(nil, "version %d of key %d", i, i%(n/3))
		out = append(out, wrote{e.put(b, fmt.Sprintf("k%02d", i%(n/3)), data), data})
	}
	e.put(b, "gone", []byte("deleted later"))
	rule, _ := b.RuleFor("gone")
	marker := domain.ObjectVersion{
		Bucket: b.Name, Key: "gone", VersionID: "0000000000000000001", MicroVersionID: "m-marker",
		IsDeleteMarker: true, LastModified: time.Now().UTC().Add(time.Second),
		Replication: domain.NewReplicationInfo(rule, b.Replication.Role, false),
	}
	if err := e.meta.PutVersion(context.Background(), marker); err != nil {
		e.t.Fatal(err)
	}
	for _, w := range out {
		e.waitFor(w.v, "COMPLETED", aggregateIs(domain.StatusCompleted))
	}
	e.waitFor(marker, "COMPLETED", aggregateIs(domain.StatusCompleted))
	return out, marker
}

// replicaID returns the version id of site's replica of v.
func (e *vfEnv) replicaID(site string, v domain.ObjectVersion) string {
	e.t.Helper()
	reps, err := e.dests[site].Replicas(context.Background(), v.Bucket+"-replica", v.Key)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, r := range reps {
		if r.SourceVersionID == v.VersionID {
			return r.VersionID
		}
	}
	e.t.Fatalf("site %s has no replica of %s %s", site, v.Key, v.VersionID)
	return ""
}

func countsOf(j domain.Job, site string) map[domain.FindingKind]int64 {
	out := map[domain.FindingKind]int64{}
	for k, n := range j.Verify.Findings[site] {
		if n != 0 {
			out[k] = n
		}
	}
	return out
}

func briefFindings(fs []domain.Finding) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = fmt.Sprintf("%s %s %s %s", f.Kind, f.Site, f.Key, f.VersionID)
	}
	return out
}

// TestVerifyFindsDriftExactlyAndRepairConverges replicates a bucket, in
// sync first; then changes site-a behind the service's back and the
// statuses of the source, and requires verify to find exactly that, a
// repair to re-queue what it can, and a verify after the pipeline drained
// to find only the foreign objects, which verify never deletes.
func TestVerifyFindsDriftExactlyAndRepairConverges(t *testing.T) {
	t.Parallel()
	e := newVFEnv(t)
	ctx := context.Background()
	b := e.bucket("vf")
	vs, marker := e.replicated(b, 60)
	dst := b.Name + "-replica"

	j, fs := e.verify(domain.VerifyRequest{Bucket: b.Name})
	if len(fs) != 0 || j.Verify.Drift() != 0 {
		t.Fatalf("a bucket in sync has findings: %q", briefFindings(fs))
	}
	if j.Verify.Compared != 2*62 || j.Scanned != 62 || j.Total != 62 || j.Verify.Heads != 0 {
		t.Fatalf("in sync: compared %d, scanned %d of %d, %d HEADs", j.Verify.Compared, j.Scanned, j.Total, j.Verify.Heads)
	}

	site := e.dests["site-a"]
	var want []string
	lies := func(w wrote, kind domain.FindingKind) {
		want = append(want, fmt.Sprintf("status-lies site-a %s %s", w.v.Key, w.v.VersionID), fmt.Sprintf("%s site-a %s %s", kind, w.v.Key, w.v.VersionID))
	}
	for _, w := range []wrote{vs[0], vs[21], vs[45]} { // lost
		if err := site.DeleteVersion(dst, w.v.Key, e.replicaID("site-a", w.v)); err != nil {
			t.Fatal(err)
		}
		lies(w, domain.FindingMissing)
	}
	for _, w := range []wrote{vs[3], vs[59]} { // other bytes, same markers, on top
		site.PutObject(dst, w.v.Key, []byte("forged bytes"), map[string]string{domain.ReplicaMetaKey: "REPLICA", domain.SourceVersionMetaKey: w.v.VersionID})
		lies(w, domain.FindingContent)
	}
	for _, w := range []wrote{vs[7], vs[8]} { // tags changed in place
		if err := site.SetObjectTags(dst, w.v.Key, e.replicaID("site-a", w.v), map[string]string{"team": "y"}); err != nil {
			t.Fatal(err)
		}
		want = append(want, fmt.Sprintf("tags site-a %s %s", w.v.Key, w.v.VersionID))
	}
	for _, w := range []wrote{vs[10], vs[11]} { // FAILED at the source
		if _, err := e.meta.UpdateVersion(ctx, b.Name, w.v.Key, w.v.VersionID, func(v *domain.ObjectVersion) error {
			be, _ := v.Site("site-a")
			be.Status, be.Reason = domain.StatusFailed, "set by the test"
			v.Replication.Status = domain.StatusFailed
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		want = append(want, fmt.Sprintf("failed site-a %s %s", w.v.Key, w.v.VersionID))
	}
	if err := site.DeleteVersion(dst, "gone", e.replicaID("site-a", marker)); err != nil { // the key shows again
		t.Fatal(err)
	}
	want = append(want, fmt.Sprintf("marker site-a gone %s", marker.VersionID))
	site.PutObject(dst, "foreign-1", []byte("not ours"), nil)
	site.PutObject(dst, "k05", []byte("not ours either"), map[string]string{"owner": "bob"})
	want = append(want, "extra site-a foreign-1 ", "extra site-a k05 ")
	sortByReport := func(s []string) {
		rank := func(line string) int {
			k, _ := domain.ParseFindingKind(line[:len(line)-len(line[indexSpace(line):])])
			return k.Rank()
		}
		sort.SliceStable(s, func(i, j int) bool {
			if ri, rj := rank(s[i]), rank(s[j]); ri != rj {
				return ri < rj
			}
			return s[i] < s[j]
		})
	}
	sortByReport(want)

	j, fs = e.verify(domain.VerifyRequest{Bucket: b.Name})
	got := briefFindings(fs)
	sortByReport(got)
	if !slices.Equal(got, want) {
		t.Fatalf("findings:\n got %q\nwant %q", got, want)
	}
	if fs[0].Kind != domain.FindingStatusLies {
		t.Fatalf("the report does not start with status-lies: %+v", fs[0])
	}
	wantCounts := map[domain.FindingKind]int64{
		domain.FindingStatusLies: 5, domain.FindingMissing: 3, domain.FindingContent: 2, domain.FindingTags: 2,
		domain.FindingFailed: 2, domain.FindingMarker: 1, domain.FindingExtra: 2,
	}
	if c := countsOf(j, "site-a"); !maps.Equal(c, wantCounts) {
		t.Fatalf("counts at site-a %v, want %v", c, wantCounts)
	}
	if c := countsOf(j, "site-b"); len(c) != 0 {
		t.Fatalf("site-b, untouched, has findings %v", c)
	}
	// HEADs: the two forged versions and the foreign one on k05 (the
	// foreign key needs none).
	if j.Verify.Heads != 3 {
		t.Fatalf("%d HEADs, want 3", j.Verify.Heads)
	}
	if extra := e.allFindings(j.ID, domain.FindingExtra); len(extra) != 2 {
		t.Fatalf("findings of kind extra: %q", briefFindings(extra))
	}

	j, _ = e.verify(domain.VerifyRequest{Bucket: b.Name, Sites: []string{"site-a"}, Repair: true})
	if j.Verify.Requeued != 10 || len(j.Verify.Requeue) != 0 { // 3 missing, 2 content, 2 tags, 2 failed, 1 marker
		t.Fatalf("repair re-queued %d (left %v), want 10", j.Verify.Requeued, j.Verify.Requeue)
	}
	for _, w := range vs {
		e.waitFor(w.v, "COMPLETED", aggregateIs(domain.StatusCompleted))
	}
	e.waitFor(marker, "COMPLETED", aggregateIs(domain.StatusCompleted))

	j, fs = e.verify(domain.VerifyRequest{Bucket: b.Name})
	if got := briefFindings(fs); !slices.Equal(got, []string{"extra site-a foreign-1 ", "extra site-a k05 "}) {
		t.Fatalf("after the repair: %q", got)
	}
	if j.Verify.Drift(domain.FindingExtra) != 0 || j.Verify.Drift() != 2 {
		t.Fatalf("drift after the repair %v", j.Verify.ByKind())
	}
	// The foreign objects are still there: verify deletes nothing.
	if reps, _ := site.Replicas(ctx, dst, "foreign-1"); len(reps) != 1 {
		t.Fatalf("foreign-1 has %d versions", len(reps))
	}
}

func indexSpace(s string) int {
	for i := range s {
		if s[i] == ' ' {
			return i
		}
	}
	return len(s)
}

// TestVerifyResumesAfterItsRunnerDies stops runners mid-walk again and
// again (each releases its lease as it stops; the next resumes from the
// checkpoint); the job ends with the counts of one uninterrupted walk.
func TestVerifyResumesAfterItsRunnerDies(t *testing.T) {
	t.Parallel()
	e := newVFEnv(t)
	b := e.bucket("vf-resume")
	vs, _ := e.replicated(b, 90)
	dst := b.Name + "-replica"
	for _, w := range vs[:20] {
		if err := e.dests["site-b"].DeleteVersion(dst, w.v.Key, e.replicaID("site-b", w.v)); err != nil {
			t.Fatal(err)
		}
	}
	cfg := vfConfig
	cfg.BatchSize = 3
	j, err := e.svc.Start(context.Background(), domain.VerifyRequest{Bucket: b.Name, Sites: []string{"site-b"}, Repair: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		stop := e.runner(cfg)
		deadline := time.Now().Add(10 * time.Second)
		for {
			cur, err := e.svc.Job(context.Background(), j.ID)
			if err != nil {
				t.Fatal(err)
			}
			if cur.State.Final() || cur.Scanned > int64(8*(i+1)) || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Millisecond)
		}
		stop()
		if cur, _ := e.svc.Job(context.Background(), j.ID); cur.State.Final() {
			break
		}
	}
	end := e.wait(j.ID)
	if end.State != domain.JobDone || end.Scanned != 92 || end.Verify.Compared != 92 {
		t.Fatalf("job %s: %s, scanned %d, compared %d", end.ID, end.State, end.Scanned, end.Verify.Compared)
	}
	want := map[domain.FindingKind]int64{domain.FindingMissing: 20, domain.FindingStatusLies: 20}
	if c := countsOf(end, "site-b"); !maps.Equal(c, want) {
		t.Fatalf("counts after resumptions %v, want %v", c, want)
	}
	if n := len(e.allFindings(end.ID, "")); n != 40 {
		t.Fatalf("%d findings stored, want 40", n)
	}
	if end.Verify.Requeued != 20 {
		t.Fatalf("re-queued %d, want 20", end.Verify.Requeued)
	}
	for _, w := range vs {
		e.waitFor(w.v, "COMPLETED", aggregateIs(domain.StatusCompleted))
	}
}

// failingRequeue fails the first update of each version made by a
// repair (the site already COMPLETED, now set PENDING), then lets them
// through.
type failingRequeue struct {
	ports.MetadataStore
	mu     sync.Mutex
	failed map[string]bool
}

func (f *failingRequeue) UpdateVersion(ctx context.Context, bucket, key, versionID string, update func(*domain.ObjectVersion) error) (domain.ObjectVersion, error) {
	f.mu.Lock()
	first := !f.failed[key+versionID]
	f.failed[key+versionID] = true
	f.mu.Unlock()
	if first {
		return domain.ObjectVersion{}, errors.New("metadata store unavailable")
	}
	return f.MetadataStore.UpdateVersion(ctx, bucket, key, versionID, update)
}

// TestVerifyRepairsRecordedAreDoneOnResume makes the repairs of a batch
// fail after the batch was committed; the runner resumes and does them
// before it goes on.
func TestVerifyRepairsRecordedAreDoneOnResume(t *testing.T) {
	t.Parallel()
	e := newVFEnv(t)
	b := e.bucket("vf-repair")
	vs, _ := e.replicated(b, 12)
	dst := b.Name + "-replica"
	for _, w := range vs[:4] {
		if err := e.dests["site-a"].DeleteVersion(dst, w.v.Key, e.replicaID("site-a", w.v)); err != nil {
			t.Fatal(err)
		}
	}
	e.store = &failingRequeue{MetadataStore: e.meta, failed: map[string]bool{}}
	j, _ := e.verify(domain.VerifyRequest{Bucket: b.Name, Sites: []string{"site-a"}, Repair: true})
	if j.Verify.Requeued != 4 || j.Verify.Findings["site-a"][domain.FindingMissing] != 4 {
		t.Fatalf("re-queued %d, findings %v", j.Verify.Requeued, j.Verify.Findings)
	}
	for _, w := range vs {
		e.waitFor(w.v, "COMPLETED", aggregateIs(domain.StatusCompleted))
	}
	e.store = e.meta
	if _, fs := e.verify(domain.VerifyRequest{Bucket: b.Name}); len(fs) != 0 {
		t.Fatalf("after the repair: %q", briefFindings(fs))
	}
}

func TestVerifyCancelAndRefusals(t *testing.T) {
	t.Parallel()
	e := newVFEnv(t)
	ctx := context.Background()
	b := e.bucket("vf-cancel")
	e.replicated(b, 30)
	j, err := e.svc.Start(ctx, domain.VerifyRequest{Bucket: b.Name})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Cancel(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	e.runner(vfConfig)
	if end := e.wait(j.ID); end.State != domain.JobCancelled {
		t.Fatalf("cancelled job ended %s", end.State)
	}
	if _, err := e.svc.Cancel(ctx, j.ID); !errors.Is(err, domain.ErrJobNotRunning) {
		t.Fatalf("cancel of an ended job: %v", err)
	}
	for _, c := range []struct {
		req  domain.VerifyRequest
		want error
	}{
		{domain.VerifyRequest{Bucket: "missing"}, ports.ErrNotFound},
		{domain.VerifyRequest{Bucket: b.Name, Sites: []string{"site-z"}}, app.ErrUnknownSite},
		{domain.VerifyRequest{Bucket: ""}, domain.ErrInvalidJob},
		{domain.VerifyRequest{Bucket: b.Name, Sites: []string{"site-a", "site-a"}}, domain.ErrInvalidJob},
	} {
		if _, err := e.svc.Start(ctx, c.req); !errors.Is(err, c.want) {
			t.Errorf("Start(%+v) = %v, want %v", c.req, err, c.want)
		}
	}
	if _, _, err := e.svc.Findings(ctx, j.ID, "nonsense", "", 10); !errors.Is(err, domain.ErrInvalidJob) {
		t.Errorf("findings of an unknown kind: %v", err)
	}
	if _, err := e.svc.Job(ctx, "nope"); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("Job of a missing id: %v", err)
	}
	jobs, err := e.svc.Jobs(ctx)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("jobs %v %v", jobs, err)
	}
}
