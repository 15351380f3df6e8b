// Package jobstoretest is the contract suite of ports.JobStore. Every
// adapter of the port runs it from its own tests:
//
//	jobstoretest.Run(t, func(t *testing.T) ports.JobStore { return newStore(t) })
//
// Each case uses job ids and buckets of its own (random suffix) and runs in
// parallel, so adapters sharing one server with other tests pass too.
package jobstoretest

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	shared "github.com/openbackbeat/backbeat/ports/internal/suite"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// opTimeout bounds each case: generous for a real service on a slow machine.
const opTimeout = 60 * time.Second

// Run checks the ports.JobStore contract. newStore is called once per
// case; it registers its own cleanup with t.
func Run(t *testing.T, newStore func(t *testing.T) ports.JobStore) {
	t.Helper()
	shared.Run(t, newStore, []shared.Case[ports.JobStore]{
		{Name: "CreateThenRead", Fn: testRoundTrip},
		{Name: "CreateTwiceConflicts", Fn: testCreateTwice},
		{Name: "MissingIsNotFound", Fn: testMissing},
		{Name: "ListNewestFirstAndFiltered", Fn: testList},
		{Name: "UpdateSavesStateAndCheckpoint", Fn: testUpdate},
		{Name: "UpdateErrorAbortsWithoutWrite", Fn: testUpdateAborts},
		{Name: "UpdateCannotChangeID", Fn: testUpdateID},
		{Name: "ConcurrentUpdatesLoseNothing", Fn: testConcurrent},
		{Name: "CancelRacingProgressKeepsCancel", Fn: testCancelRace},
	})
}

// job returns a job with every field set, keys holding what documents
// must carry as is (NUL, `.`, `$`, non-ASCII).
func job(bucket string, started time.Time) domain.Job {
	j, err := domain.NewJob(shared.Unique("job"), domain.JobRequest{
		Kind: domain.JobBackfill, Bucket: bucket, Prefix: "a/é.$", Sites: []string{"site-a", "site-b"},
		IncludeFailed: true, IncludePending: true, ModifiedSince: started.Add(-time.Hour).Truncate(time.Millisecond), Rate: 12.5,
	}, started)
	if err != nil {
		panic(err)
	}
	return j
}

func progressed(j domain.Job) domain.Job {
	j = j.Clone()
	j.Total = 1000
	j.Queue([]string{"site-a", "site-b"}, 4096)
	j.Skip(domain.SkipNoRule)
	j.Skip(domain.SkipCompleted)
	j.Checkpoint = domain.VersionRef{Key: "a/é.$\x01key", VersionID: "0987654321 RG001"}
	j.Batch = &domain.JobBatch{
		Last:    domain.VersionRef{Key: "b/x.y", VersionID: "v$2"},
		Planned: []domain.PlannedVersion{{VersionRef: domain.VersionRef{Key: "b/a", VersionID: "v1"}, Sites: []string{"site-b"}}},
	}
	return j
}

// normalize makes equal what stores may keep differently: times to the
// millisecond, in UTC; empty and nil maps and slices.
func normalize(j domain.Job) domain.Job {
	j = j.Clone()
	j.StartedAt = j.StartedAt.UTC().Truncate(time.Millisecond)
	j.UpdatedAt = j.UpdatedAt.UTC().Truncate(time.Millisecond)
	if len(j.Skipped) == 0 {
		j.Skipped = nil
	}
	if len(j.PerSite) == 0 {
		j.PerSite = nil
	}
	if len(j.Sites) == 0 {
		j.Sites = nil
	}
	if j.Batch != nil && len(j.Batch.Planned) == 0 {
		j.Batch.Planned = nil
	}
	return j
}

func wantJob(t *testing.T, what string, got, want domain.Job) {
	t.Helper()
	if g, w := normalize(got), normalize(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("%s:\n got  %+v\n want %+v", what, g, w)
	}
}

func create(t *testing.T, s ports.JobStore, j domain.Job) {
	t.Helper()
	if err := s.CreateJob(shared.Context(t, opTimeout), j); err != nil {
		t.Fatalf("CreateJob(%s): %v", j.ID, err)
	}
}

func read(t *testing.T, s ports.JobStore, id string) domain.Job {
	t.Helper()
	j, err := s.Job(shared.Context(t, opTimeout), id)
	if err != nil {
		t.Fatalf("Job(%s): %v", id, err)
	}
	return j
}

func testRoundTrip(t *testing.T, s ports.JobStore) {
	j := progressed(job(shared.Unique("bkt"), time.Now()))
	create(t, s, j)
	wantJob(t, "job read back", read(t, s, j.ID), j)

	bare := job(shared.Unique("bkt"), time.Now())
	bare.Sites, bare.Prefix = nil, ""
	create(t, s, bare)
	wantJob(t, "job without sites nor progress", read(t, s, bare.ID), bare)
}

func testCreateTwice(t *testing.T, s ports.JobStore) {
	j := job(shared.Unique("bkt"), time.Now())
	create(t, s, j)
	other := progressed(j)
	if err := s.CreateJob(shared.Context(t, opTimeout), other); !errors.Is(err, ports.ErrConflict) {
		t.Fatalf("CreateJob of an existing id: %v, want ErrConflict", err)
	}
	wantJob(t, "job after a refused create", read(t, s, j.ID), j)
}

func testMissing(t *testing.T, s ports.JobStore) {
	ctx := shared.Context(t, opTimeout)
	id := shared.Unique("no-such-job")
	if _, err := s.Job(ctx, id); !errors.Is(err, ports.ErrNotFound) {
		t.Fatalf("Job of a missing id: %v, want ErrNotFound", err)
	}
	called := false
	if _, err := s.UpdateJob(ctx, id, func(*domain.Job) error { called = true; return nil }); !errors.Is(err, ports.ErrNotFound) {
		t.Fatalf("UpdateJob of a missing id: %v, want ErrNotFound", err)
	}
	if called {
		t.Fatal("UpdateJob called update for a missing job")
	}
}

func testList(t *testing.T, s ports.JobStore) {
	ctx := shared.Context(t, opTimeout)
	bucket := shared.Unique("bkt")
	base := time.Now().Add(-time.Hour)
	var jobs []domain.Job
	for i := range 4 {
		j := job(bucket, base.Add(time.Duration(i)*time.Minute))
		if i == 1 {
			j.State = domain.JobDone
		}
		create(t, s, j)
		jobs = append(jobs, j)
	}
	mine := func(js []domain.Job) []string {
		var ids []string
		for _, j := range js {
			if j.Bucket == bucket {
				ids = append(ids, j.ID)
			}
		}
		return ids
	}
	all, err := s.Jobs(ctx, ports.JobFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := mine(all), []string{jobs[3].ID, jobs[2].ID, jobs[1].ID, jobs[0].ID}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Jobs = %v, want newest first %v", got, want)
	}
	running, err := s.Jobs(ctx, ports.JobFilter{Kind: domain.JobBackfill, State: domain.JobRunning})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := mine(running), []string{jobs[3].ID, jobs[2].ID, jobs[0].ID}; !reflect.DeepEqual(got, want) {
		t.Fatalf("running Jobs = %v, want %v", got, want)
	}
	for _, j := range running {
		if j.State != domain.JobRunning {
			t.Fatalf("state filter returned a %s job", j.State)
		}
	}
	none, err := s.Jobs(ctx, ports.JobFilter{Kind: "verify"})
	if err != nil {
		t.Fatal(err)
	}
	if got := mine(none); len(got) != 0 {
		t.Fatalf("kind filter returned %v", got)
	}
}

func testUpdate(t *testing.T, s ports.JobStore) {
	ctx := shared.Context(t, opTimeout)
	j := job(shared.Unique("bkt"), time.Now())
	create(t, s, j)
	want := progressed(j)
	got, err := s.UpdateJob(ctx, j.ID, func(x *domain.Job) error {
		*x = progressed(*x)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantJob(t, "UpdateJob's answer", got, want)
	wantJob(t, "job after UpdateJob", read(t, s, j.ID), want)

	var c domain.JobCounts
	c.Skip(domain.SkipPending)
	_, err = s.UpdateJob(ctx, j.ID, func(x *domain.Job) error {
		return x.CommitBatch(domain.VersionRef{Key: "z", VersionID: "9"}, c, time.Now())
	})
	if err != nil {
		t.Fatal(err)
	}
	after := read(t, s, j.ID)
	if after.Batch != nil || after.Checkpoint.Key != "z" || after.Skipped[domain.SkipPending] != 1 || after.Scanned != want.Scanned+1 {
		t.Fatalf("after CommitBatch: %+v", after)
	}
}

func testUpdateAborts(t *testing.T, s ports.JobStore) {
	j := job(shared.Unique("bkt"), time.Now())
	create(t, s, j)
	boom := errors.New("boom")
	_, err := s.UpdateJob(shared.Context(t, opTimeout), j.ID, func(x *domain.Job) error {
		x.Scanned = 99
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("UpdateJob: %v, want the update's error", err)
	}
	wantJob(t, "job after an aborted update", read(t, s, j.ID), j)
}

func testUpdateID(t *testing.T, s ports.JobStore) {
	j := job(shared.Unique("bkt"), time.Now())
	create(t, s, j)
	_, err := s.UpdateJob(shared.Context(t, opTimeout), j.ID, func(x *domain.Job) error {
		x.ID = "another"
		return nil
	})
	if err == nil {
		t.Fatal("UpdateJob changed a job's id")
	}
	wantJob(t, "job after a refused id change", read(t, s, j.ID), j)
}

func testConcurrent(t *testing.T, s ports.JobStore) {
	const n = 12
	ctx := shared.Context(t, opTimeout)
	j := job(shared.Unique("bkt"), time.Now())
	create(t, s, j)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := s.UpdateJob(ctx, j.ID, func(x *domain.Job) error {
				x.Scanned++
				if x.PerSite == nil {
					x.PerSite = map[string]domain.SiteCount{}
				}
				x.PerSite[fmt.Sprintf("site-%d", i)] = domain.SiteCount{Versions: 1}
				return nil
			})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent UpdateJob: %v", err)
		}
	}
	got := read(t, s, j.ID)
	if got.Scanned != n || len(got.PerSite) != n {
		t.Fatalf("after %d concurrent updates: scanned %d, %d sites: an update was lost", n, got.Scanned, len(got.PerSite))
	}
}

// testCancelRace checks the use the runner makes of the store: progress
// saved through the job's methods never undoes a cancel.
func testCancelRace(t *testing.T, s ports.JobStore) {
	ctx := shared.Context(t, opTimeout)
	j := job(shared.Unique("bkt"), time.Now())
	create(t, s, j)
	var wg sync.WaitGroup
	var mu sync.Mutex
	refused := 0
	for i := range 8 {
		wg.Go(func() {
			var c domain.JobCounts
			c.Skip(domain.SkipNoRule)
			_, err := s.UpdateJob(ctx, j.ID, func(x *domain.Job) error {
				return x.CommitBatch(domain.VersionRef{Key: fmt.Sprint(i)}, c, time.Now())
			})
			if errors.Is(err, domain.ErrJobNotRunning) {
				mu.Lock()
				refused++
				mu.Unlock()
			} else if err != nil {
				t.Errorf("progress: %v", err)
			}
		})
	}
	wg.Go(func() {
		if _, err := s.UpdateJob(ctx, j.ID, func(x *domain.Job) error { return x.Cancel(time.Now()) }); err != nil {
			t.Errorf("cancel: %v", err)
		}
	})
	wg.Wait()
	got := read(t, s, j.ID)
	if got.State != domain.JobCancelled {
		t.Fatalf("state %s after a cancel raced progress, want cancelled", got.State)
	}
	if got.Scanned+int64(refused) != 8 {
		t.Fatalf("scanned %d with %d saves refused, want 8 in all", got.Scanned, refused)
	}
}
