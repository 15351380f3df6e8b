package domain

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func backfillBucket() Bucket {
	return Bucket{Name: "b", VersioningEnabled: true, Replication: &ReplicationConfig{
		Role: "arn:aws:iam::1:role/r",
		Rules: []ReplicationRule{
			{ID: "off", Enabled: false, Prefix: "off/", DestinationBucket: "arn:aws:s3:::dst", StorageClass: "site-a"},
			{ID: "ab", Enabled: true, Prefix: "a/", DestinationBucket: "arn:aws:s3:::dst", StorageClass: "site-a,site-b"},
			{ID: "c", Enabled: true, Prefix: "c/", DestinationBucket: "arn:aws:s3:::dst", StorageClass: "site-c"},
		},
	}}
}

func withSites(key string, st map[string]Status) ObjectVersion {
	v := ObjectVersion{Bucket: "b", Key: key, VersionID: "v1", Size: 10}
	for _, s := range []string{"site-a", "site-b", "site-c"} {
		if x, ok := st[s]; ok {
			v.Replication.Backends = append(v.Replication.Backends, Backend{Site: s, Status: x, DataStoreVersionID: "d-" + s})
		}
	}
	v.Replication.Status = Aggregate(v.Replication.Backends)
	return v
}

var since0 = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

func modifiedAt(v ObjectVersion, at time.Time) ObjectVersion {
	v.LastModified = at
	return v
}

func TestDecideBackfill(t *testing.T) {
	t.Parallel()
	replica := withSites("a/x", nil)
	replica.Replication.Status = StatusReplica
	noVersioning := backfillBucket()
	noVersioning.VersioningEnabled = false
	noConfig := backfillBucket()
	noConfig.Replication = nil
	for _, c := range []struct {
		name   string
		bucket Bucket
		v      ObjectVersion
		scope  BackfillScope
		queue  []string
		reason SkipReason
	}{
		{"never replicated", backfillBucket(), withSites("a/x", nil), BackfillScope{}, []string{"site-a", "site-b"}, ""},
		{"empty status is never replicated", backfillBucket(), withSites("a/x", map[string]Status{"site-a": StatusNone}), BackfillScope{}, []string{"site-a", "site-b"}, ""},
		{"a site added to the rule", backfillBucket(), withSites("a/x", map[string]Status{"site-a": StatusCompleted}), BackfillScope{}, []string{"site-b"}, ""},
		{"completed", backfillBucket(), withSites("a/x", map[string]Status{"site-a": StatusCompleted, "site-b": StatusCompleted}), BackfillScope{}, nil, SkipCompleted},
		{"pending", backfillBucket(), withSites("a/x", map[string]Status{"site-a": StatusPending, "site-b": StatusPending}), BackfillScope{}, nil, SkipPending},
		{"processing is pending", backfillBucket(), withSites("a/x", map[string]Status{"site-a": StatusProcessing, "site-b": StatusCompleted}), BackfillScope{}, nil, SkipPending},
		{"failed without include", backfillBucket(), withSites("a/x", map[string]Status{"site-a": StatusFailed, "site-b": StatusCompleted}), BackfillScope{}, nil, SkipFailed},
		{"failed with include", backfillBucket(), withSites("a/x", map[string]Status{"site-a": StatusFailed, "site-b": StatusCompleted}), BackfillScope{IncludeFailed: true}, []string{"site-a"}, ""},
		{"reason of the first site", backfillBucket(), withSites("a/x", map[string]Status{"site-a": StatusCompleted, "site-b": StatusFailed}), BackfillScope{}, nil, SkipCompleted},
		{"replica", backfillBucket(), replica, BackfillScope{}, nil, SkipReplica},
		{"no rule", backfillBucket(), withSites("z/x", nil), BackfillScope{}, nil, SkipNoRule},
		{"disabled rule", backfillBucket(), withSites("off/x", nil), BackfillScope{}, nil, SkipDisabledRule},
		{"no versioning", noVersioning, withSites("a/x", nil), BackfillScope{}, nil, SkipNoRule},
		{"no configuration", noConfig, withSites("a/x", nil), BackfillScope{}, nil, SkipNoRule},
		{"job sites restrict", backfillBucket(), withSites("a/x", nil), BackfillScope{Sites: []string{"site-b"}}, []string{"site-b"}, ""},
		{"job sites outside the rule", backfillBucket(), withSites("a/x", nil), BackfillScope{Sites: []string{"site-c"}}, nil, SkipNoRule},
		{"pending with include", backfillBucket(), withSites("a/x", map[string]Status{"site-a": StatusPending, "site-b": StatusCompleted}), BackfillScope{IncludePending: true}, []string{"site-a"}, ""},
		{"processing with include", backfillBucket(), withSites("a/x", map[string]Status{"site-a": StatusProcessing, "site-b": StatusPending}), BackfillScope{IncludePending: true}, []string{"site-a", "site-b"}, ""},
		{"modified before since", backfillBucket(), modifiedAt(withSites("a/x", nil), since0), BackfillScope{ModifiedSince: since0.Add(time.Second)}, nil, SkipOlder},
		{"modified at since", backfillBucket(), modifiedAt(withSites("a/x", nil), since0), BackfillScope{ModifiedSince: since0}, []string{"site-a", "site-b"}, ""},
		{"job site done, other site ignored", backfillBucket(), withSites("a/x", map[string]Status{"site-b": StatusCompleted}), BackfillScope{Sites: []string{"site-b"}}, nil, SkipCompleted},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			d := c.bucket.DecideBackfill(c.v, c.scope)
			if !reflect.DeepEqual(d.Queue, c.queue) || d.Reason != c.reason {
				t.Fatalf("DecideBackfill = queue %v reason %q, want queue %v reason %q", d.Queue, d.Reason, c.queue, c.reason)
			}
			if d.Queued() != (len(c.queue) > 0) {
				t.Fatalf("Queued() = %v", d.Queued())
			}
			requeue := false
			for _, s := range c.queue {
				be, ok := c.v.Site(s)
				requeue = requeue || ok && (be.Status == StatusPending || be.Status == StatusProcessing)
			}
			if d.Requeue != requeue {
				t.Fatalf("Requeue = %v, want %v (a queued site is pending already: %v)", d.Requeue, requeue, requeue)
			}
		})
	}
}

func TestQueueBackfill(t *testing.T) {
	t.Parallel()
	b := backfillBucket()
	for _, c := range []struct {
		name    string
		v       ObjectVersion
		content []string
		sites   map[string]Backend
	}{
		{"data", withSites("a/x", nil), []string{ContentData, ContentMetadata}, map[string]Backend{
			"site-a": {Site: "site-a", Status: StatusPending}, "site-b": {Site: "site-b", Status: StatusPending}}},
		{"empty object", func() ObjectVersion { v := withSites("a/x", nil); v.Size = 0; return v }(), []string{ContentMetadata}, nil},
		{"delete marker", func() ObjectVersion { v := withSites("a/x", nil); v.IsDeleteMarker = true; v.Size = 0; return v }(), []string{ContentMetadata}, nil},
		{"keeps the other sites", withSites("a/x", map[string]Status{"site-a": StatusCompleted}), []string{ContentData, ContentMetadata}, map[string]Backend{
			"site-a": {Site: "site-a", Status: StatusCompleted, DataStoreVersionID: "d-site-a"}, "site-b": {Site: "site-b", Status: StatusPending}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			v := c.v
			v.Replication.StorageType = "aws_s3"
			d := b.DecideBackfill(v, BackfillScope{})
			v.QueueBackfill(d)
			r := v.Replication
			if r.Status != StatusPending || !reflect.DeepEqual(r.Content, c.content) {
				t.Fatalf("status %s content %v, want PENDING %v", r.Status, r.Content, c.content)
			}
			if r.Destination != "arn:aws:s3:::dst" || r.StorageClass != "site-a,site-b" || r.Role != "arn:aws:iam::1:role/r" || r.StorageType != "aws_s3" {
				t.Fatalf("replicationInfo %+v", r)
			}
			for site, want := range c.sites {
				got, ok := v.Site(site)
				if !ok || *got != want {
					t.Fatalf("site %s: %+v, want %+v", site, got, want)
				}
			}
			if pending := v.PendingSites(); !reflect.DeepEqual(pending, d.Queue) {
				t.Fatalf("PendingSites %v, want %v", pending, d.Queue)
			}
			// Judged again, the version is skipped as pending.
			if again := b.DecideBackfill(v, BackfillScope{}); again.Queued() || again.Reason != SkipPending && again.Reason != SkipCompleted {
				t.Fatalf("after queueing: %+v", again)
			}
		})
	}
}

func TestQueueBackfillRequeuesFailed(t *testing.T) {
	t.Parallel()
	v := withSites("a/x", map[string]Status{"site-a": StatusFailed, "site-b": StatusCompleted})
	v.Replication.Backends[0].Reason = "boom"
	d := backfillBucket().DecideBackfill(v, BackfillScope{IncludeFailed: true})
	v.QueueBackfill(d)
	a, _ := v.Site("site-a")
	if a.Status != StatusPending || a.Reason != "" || a.DataStoreVersionID != "d-site-a" {
		t.Fatalf("site-a %+v", a)
	}
}

func TestJobCounts(t *testing.T) {
	t.Parallel()
	var c JobCounts
	c.Queue([]string{"site-a", "site-b"}, 10)
	c.Queue([]string{"site-b"}, 5)
	c.Skip(SkipNoRule)
	c.Skip(SkipNoRule)
	c.Skip(SkipReplica)
	var total JobCounts
	total.Add(c)
	total.Add(c)
	want := JobCounts{Scanned: 10, Queued: 4, BytesQueued: 30,
		Skipped: map[SkipReason]int64{SkipNoRule: 4, SkipReplica: 2},
		PerSite: map[string]SiteCount{"site-a": {2, 20}, "site-b": {4, 30}}}
	if !reflect.DeepEqual(total, want) {
		t.Fatalf("counts %+v, want %+v", total, want)
	}
	if total.SkippedTotal() != 6 {
		t.Fatalf("SkippedTotal %d", total.SkippedTotal())
	}
}

func TestNewJob(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	j, err := NewJob("id1", JobRequest{Kind: JobBackfill, Bucket: "b", Sites: []string{"site-a"}, Rate: 5}, now)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != JobRunning || !j.StartedAt.Equal(now) || j.Rate != 5 || j.Skipped == nil {
		t.Fatalf("job %+v", j)
	}
	for _, c := range []JobRequest{
		{Kind: JobBackfill},
		{Kind: "other", Bucket: "b"},
		{Kind: JobBackfill, Bucket: "b", Rate: -1},
		{Kind: JobBackfill, Bucket: "b", Sites: []string{"a", "a"}},
		{Kind: JobBackfill, Bucket: "b", Sites: []string{""}},
	} {
		if _, err := NewJob("id", c, now); !errors.Is(err, ErrInvalidJob) {
			t.Errorf("NewJob(%+v) = %v, want ErrInvalidJob", c, err)
		}
	}
}

func TestJobLifecycle(t *testing.T) {
	t.Parallel()
	now := time.Now()
	j, _ := NewJob("id", JobRequest{Kind: JobBackfill, Bucket: "b"}, now)
	j.Total = 4
	last := VersionRef{Key: "k", VersionID: "v"}
	if err := j.BeginBatch(JobBatch{Last: last, Planned: []PlannedVersion{{VersionRef: last, Sites: []string{"s"}}}}, now); err != nil {
		t.Fatal(err)
	}
	if got := j.Batch.PlannedSites(last); !reflect.DeepEqual(got, []string{"s"}) {
		t.Fatalf("PlannedSites = %v", got)
	}
	clone := j.Clone()
	clone.Batch.Planned[0].Sites[0] = "changed"
	if j.Batch.Planned[0].Sites[0] != "s" {
		t.Fatal("Clone shares the batch")
	}
	var c JobCounts
	c.Queue([]string{"s"}, 1)
	c.Skip(SkipPending)
	if err := j.CommitBatch(last, c, now); err != nil {
		t.Fatal(err)
	}
	if j.Checkpoint != last || j.Batch != nil || j.Scanned != 2 || j.Progress() != 0.5 {
		t.Fatalf("after commit: %+v", j)
	}
	if err := j.Cancel(now); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{j.Cancel(now), j.Finish(nil, now), j.CommitBatch(last, c, now), j.BeginBatch(JobBatch{}, now)} {
		if !errors.Is(err, ErrJobNotRunning) {
			t.Fatalf("on a cancelled job: %v, want ErrJobNotRunning", err)
		}
	}
	if err := j.SettleCancelled(c, now); err != nil || j.Scanned != 2 {
		t.Fatalf("settle without a batch: %v, scanned %d", err, j.Scanned)
	}

	k, _ := NewJob("id2", JobRequest{Kind: JobBackfill, Bucket: "b"}, now)
	_ = k.BeginBatch(JobBatch{Last: last}, now)
	_ = k.Cancel(now)
	if err := k.SettleCancelled(c, now); err != nil || k.Scanned != 2 || k.Batch != nil {
		t.Fatalf("settle: %v %+v", err, k)
	}
	f, _ := NewJob("id3", JobRequest{Kind: JobBackfill, Bucket: "b"}, now)
	if err := f.Finish(errors.New("boom"), now); err != nil || f.State != JobFailed || f.Error != "boom" {
		t.Fatalf("finish with error: %v %+v", err, f)
	}
	if !f.State.Final() || JobRunning.Final() {
		t.Fatal("Final")
	}
}

func TestVersionRefOrderIsDocumentIDOrder(t *testing.T) {
	t.Parallel()
	refs := []VersionRef{{"a", "2"}, {"a", "10"}, {"a/b", "1"}, {"a b", "1"}, {"ab", "0"}, {"a", "1"}}
	for _, f := range []string{"v0", "v1"} {
		for _, x := range refs {
			for _, y := range refs {
				if x.Less(y) != (DocumentID(x.Key, x.VersionID, f) < DocumentID(y.Key, y.VersionID, f)) {
					t.Errorf("%s: %v < %v disagrees with their document ids", f, x, y)
				}
			}
		}
	}
}
