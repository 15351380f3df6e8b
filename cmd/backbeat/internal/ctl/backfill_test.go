package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/domain"
)

// backfillBucket writes n versions under a/ and n under c/ of bucket, with
// a rule for a/ only.
func (e *ctlEnv) backfillBucket(bucket string, n int) {
	e.t.Helper()
	ctx := context.Background()
	rule := domain.ReplicationRule{ID: "r", Enabled: true, Prefix: "a/", DestinationBucket: "arn:aws:s3:::dst", StorageClass: "site-a,site-b"}
	if err := e.Meta.PutBucket(ctx, domain.Bucket{Name: bucket, VersioningEnabled: true, Replication: &domain.ReplicationConfig{Rules: []domain.ReplicationRule{rule}}}); err != nil {
		e.t.Fatal(err)
	}
	for i := range 2 * n {
		prefix := "a/"
		if i >= n {
			prefix = "c/"
		}
		if err := e.Meta.PutVersion(ctx, domain.ObjectVersion{Bucket: bucket, Key: fmt.Sprintf("%sk%03d", prefix, i), VersionID: "v1", Size: 100}); err != nil {
			e.t.Fatal(err)
		}
	}
}

// ctlPoll runs ctl with --wait polling fast.
func (e *ctlEnv) ctlPoll(args ...string) (string, error) {
	e.t.Helper()
	var out, errOut bytes.Buffer
	err := runPolling(context.Background(), append([]string{"--api", e.URL}, args...), &out, &errOut, 10*time.Millisecond)
	return out.String(), err
}

func TestCtlBackfillStartWait(t *testing.T) {
	t.Parallel()
	e := newCtlEnv(t, "")
	e.backfillBucket("bf", 20)
	e.RunJobs(t, 5, 5*time.Millisecond)
	out, err := e.ctlPoll("backfill", "start", "--bucket", "bf", "--wait")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !strings.HasPrefix(lines[0], "bf-") || len(lines) < 3 {
		t.Fatalf("output:\n%s", out)
	}
	id := lines[0]
	wantLines(t, out,
		"backfill "+id+" done: scanned 40/40 (100%), queued 20, skipped 20, 2.0 KiB queued",
		"backfill "+id+" done: queued=20 skipped=20 bytes=2000 (no-rule 20)")

	// --json: the finished job as the API gives it; a second run queues nothing.
	out, err = e.ctlPoll("backfill", "start", "--bucket", "bf", "--site", "site-b", "--wait", "--json")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var j map[string]any
	if err := json.Unmarshal([]byte(out), &j); err != nil {
		t.Fatalf("--wait --json output is not one JSON object: %v\n%s", err, out)
	}
	if j["state"] != "done" || j["queued"] != 0.0 || j["scanned"] != 40.0 {
		t.Fatalf("job %v", j)
	}
	status := e.mustCtl("backfill", "status")
	wantLines(t, squash(status), "ID STATE BUCKET PREFIX SCANNED TOTAL QUEUED SKIPPED BYTES QUEUED STARTED", id+" done bf - 40 40 20 20 2.0 KiB")
	one := e.mustCtl("backfill", "status", id)
	wantLines(t, squash(one), "state done", "queued 20 versions, 2.0 KiB", "site-a 20 versions", "no-rule 20", "scanned 40 of 40 (100%)")
}

func TestCtlBackfillStartPrintsTheID(t *testing.T) {
	t.Parallel()
	e := newCtlEnv(t, "")
	e.backfillBucket("bf", 2)
	out := strings.TrimSpace(e.mustCtl("backfill", "start", "--bucket", "bf", "--prefix", "a/", "--site", "site-a", "--site", "site-b", "--dry-run", "--rate", "10"))
	j, err := e.Jobs.Job(context.Background(), out)
	if err != nil {
		t.Fatalf("printed %q: %v", out, err)
	}
	if j.Prefix != "a/" || len(j.Sites) != 2 || !j.DryRun || j.Rate != 10 || j.State != domain.JobRunning {
		t.Fatalf("job %+v", j)
	}
	cancelled := e.mustCtl("backfill", "cancel", out)
	wantLines(t, cancelled, "cancelled backfill job "+out)
	if _, err := e.ctl("backfill", "cancel", out); err == nil || !strings.Contains(err.Error(), "JobNotRunning") {
		t.Fatalf("second cancel: %v", err)
	}
}

func TestCtlBackfillWaitFailsWhenTheJobFails(t *testing.T) {
	t.Parallel()
	e := newCtlEnv(t, "")
	e.backfillBucket("bf", 1)
	done := make(chan error, 1)
	var out string
	go func() {
		var err error
		out, err = e.ctlPoll("backfill", "start", "--bucket", "bf", "--wait")
		done <- err
	}()
	var id string
	for deadline := time.Now().Add(10 * time.Second); id == ""; time.Sleep(5 * time.Millisecond) {
		js, _ := e.Jobs.Jobs(context.Background(), struct {
			Kind  domain.JobKind
			State domain.JobState
		}{})
		if len(js) == 1 {
			id = js[0].ID
		}
		if time.Now().After(deadline) {
			t.Fatal("no job started")
		}
	}
	if _, err := e.Jobs.UpdateJob(context.Background(), id, func(j *domain.Job) error { return j.Finish(errors.New("boom"), time.Now()) }); err != nil {
		t.Fatal(err)
	}
	err := <-done
	if err == nil || !strings.Contains(err.Error(), "failed: boom") {
		t.Fatalf("ctl --wait of a failed job: %v\n%s", err, out)
	}
}

func TestCtlBackfillUsage(t *testing.T) {
	t.Parallel()
	e := newCtlEnv(t, "")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"backfill"}, "start, status or cancel"},
		{[]string{"backfill", "start"}, "needs --bucket"},
		{[]string{"backfill", "start", "--bucket", "b", "--rate", "-1"}, "--rate"},
		{[]string{"backfill", "start", "--bucket", "nope"}, "NoSuchBucket"},
		{[]string{"backfill", "status", "--wait"}, "does not take --wait"},
		{[]string{"backfill", "cancel"}, "usage"},
		{[]string{"backfill", "status", "nope"}, "NoSuchJob"},
		{[]string{"failed", "list", "--site", "site-a", "--site", "site-b"}, "one --site"},
	} {
		if _, err := e.ctl(c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ctl %v: %v, want %q", c.args, err, c.want)
		}
	}
	if out := e.mustCtl("backfill", "status"); !strings.Contains(out, "no backfill jobs") {
		t.Errorf("status without jobs: %s", out)
	}
}
