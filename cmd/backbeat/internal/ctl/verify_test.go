package ctl

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// verifyBucket writes n versions of bucket, COMPLETED at both sites, and
// their replicas at site-a but for the first missing ones, plus a
// foreign object at site-a.
func (e *ctlEnv) verifyBucket(bucket string, n, missing int) {
	e.t.Helper()
	ctx := context.Background()
	rule := domain.ReplicationRule{ID: "r", Enabled: true, DestinationBucket: "arn:aws:s3:::dst", StorageClass: "site-a,site-b"}
	if err := e.Meta.PutBucket(ctx, domain.Bucket{Name: bucket, VersioningEnabled: true, Replication: &domain.ReplicationConfig{Rules: []domain.ReplicationRule{rule}}}); err != nil {
		e.t.Fatal(err)
	}
	site := e.Dests["site-a"]
	site.CreateBucket("dst")
	for i := range n {
		data := fmt.Appendf(nil, "data %d", i)
		sum := md5.Sum(data)
		v := domain.ObjectVersion{Bucket: bucket, Key: fmt.Sprintf("k%03d", i), VersionID: "v1", Size: int64(len(data)),
			ContentMD5: hex.EncodeToString(sum[:]), Replication: domain.NewReplicationInfo(rule, "r", true)}
		for j := range v.Replication.Backends {
			v.Replication.Backends[j].Status = domain.StatusCompleted
		}
		v.Replication.Status = domain.StatusCompleted
		if i >= missing {
			vid, err := site.Put(ctx, ports.Replica{Bucket: "dst", Key: v.Key, SourceVersionID: "v1", Size: v.Size, ContentMD5: v.ContentMD5}, bytes.NewReader(data))
			if err != nil {
				e.t.Fatal(err)
			}
			be, _ := v.Site("site-a")
			be.DataStoreVersionID = vid
		}
		if err := e.Meta.PutVersion(ctx, v); err != nil {
			e.t.Fatal(err)
		}
	}
	site.PutObject("dst", "zz-foreign", []byte("not ours"), nil)
}

func TestCtlVerify(t *testing.T) {
	t.Parallel()
	e := newCtlEnv(t, "")
	e.verifyBucket("vf", 10, 2)
	e.RunJobs(t, 4, 0)

	out, err := e.ctlPoll("verify", "start", "--bucket", "vf", "--site", "site-a", "--wait")
	if ExitCode(err) != ExitDrift {
		t.Fatalf("exit code %d (%v), want %d\n%s", ExitCode(err), err, ExitDrift, out)
	}
	id := strings.SplitN(out, "\n", 2)[0]
	if !strings.HasPrefix(id, "vf-") {
		t.Fatalf("output:\n%s", out)
	}
	wantLines(t, out,
		"verify "+id+" done: scanned 10/10 (100%), compared 10, findings 5",
		"verify "+id+" done: compared=10 findings=5 heads=0 (status-lies 2, missing 2, extra 1)")
	if !strings.Contains(err.Error(), "found drift: 5 findings") {
		t.Fatalf("error %v", err)
	}
	// --ignore extra still fails on the missing ones.
	if _, err := e.ctlPoll("verify", "start", "--bucket", "vf", "--site", "site-a", "--wait", "--ignore", "extra"); ExitCode(err) != ExitDrift {
		t.Fatalf("--ignore extra with versions missing: exit %d (%v)", ExitCode(err), err)
	}

	report := squash(e.mustCtl("verify", "report", id))
	wantLines(t, report, "KIND SITE KEY VERSION SITE VERSION DETAIL",
		"status-lies site-a k000 v1 - the source says COMPLETED", "missing site-a k001 v1 -", "extra site-a zz-foreign -")
	if strings.Index(report, "status-lies") > strings.Index(report, "missing") {
		t.Fatalf("status-lies are not listed first:\n%s", report)
	}
	var fs []map[string]any
	if err := json.Unmarshal([]byte(e.mustCtl("verify", "report", id, "--kind", "missing", "--json")), &fs); err != nil || len(fs) != 2 || fs[0]["kind"] != "missing" {
		t.Fatalf("report --kind missing --json: %v %v", fs, err)
	}
	wantLines(t, squash(e.mustCtl("verify", "status")), "ID STATE BUCKET PREFIX SITES SCANNED TOTAL COMPARED FINDINGS REQUEUED STARTED", id+" done vf - site-a 10 10 10 5 -")
	wantLines(t, squash(e.mustCtl("verify", "status", id)), "state done", "site-a (dst)", "compared 10 (9 site versions listed, 0 HEADs, 8 tag reads)",
		"findings 5", "site-a status-lies 2, missing 2, extra 1")
	if _, err := e.ctl("verify", "cancel", id); err == nil || !strings.Contains(err.Error(), "JobNotRunning") {
		t.Fatalf("cancel of a done job: %v", err)
	}

	// Repair, then the copies arrive (written here, as the pipeline
	// would): only the foreign object is left, which --ignore extra
	// accepts.
	out, err = e.ctlPoll("verify", "start", "--bucket", "vf", "--site", "site-a", "--repair", "--wait", "--json")
	if ExitCode(err) != ExitDrift {
		t.Fatalf("repair: exit %d (%v)\n%s", ExitCode(err), err, out)
	}
	var j map[string]any
	if err := json.Unmarshal([]byte(out), &j); err != nil || j["requeued"] != 2.0 || j["repair"] != true {
		t.Fatalf("--wait --json output: %v\n%s", err, out)
	}
	ctx := context.Background()
	for i := range 2 {
		key := fmt.Sprintf("k%03d", i)
		data := fmt.Appendf(nil, "data %d", i)
		sum := md5.Sum(data)
		vid, err := e.Dests["site-a"].Put(ctx, ports.Replica{Bucket: "dst", Key: key, SourceVersionID: "v1", Size: int64(len(data)), ContentMD5: hex.EncodeToString(sum[:])}, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Meta.UpdateVersion(ctx, "vf", key, "v1", func(v *domain.ObjectVersion) error {
			be, _ := v.Site("site-a")
			be.Status, be.DataStoreVersionID = domain.StatusCompleted, vid
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := e.ctlPoll("verify", "start", "--bucket", "vf", "--site", "site-a", "--wait"); ExitCode(err) != ExitDrift || !strings.Contains(out, "findings=1 ") {
		t.Fatalf("after the repair: exit %d (%v)\n%s", ExitCode(err), err, out)
	}
	if out, err := e.ctlPoll("verify", "start", "--bucket", "vf", "--site", "site-a", "--wait", "--ignore", "extra"); err != nil {
		t.Fatalf("--ignore extra with only extras: %v\n%s", err, out)
	}
}

func TestCtlVerifyRefusals(t *testing.T) {
	t.Parallel()
	e := newCtlEnv(t, "")
	e.verifyBucket("vf", 2, 0)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"verify"}, "verify needs a subcommand"},
		{[]string{"verify", "start"}, "needs --bucket"},
		{[]string{"verify", "start", "--bucket", "vf", "--wait", "--ignore", "nope"}, `--ignore "nope" is not a finding kind`},
		{[]string{"verify", "start", "--bucket", "vf", "--ignore", "extra"}, "--ignore only changes the exit code of --wait"},
		{[]string{"verify", "start", "--bucket", "vf", "--kind", "extra"}, "does not take --kind"},
		{[]string{"verify", "start", "--bucket", "nope"}, "NoSuchBucket"},
		{[]string{"verify", "start", "--bucket", "vf", "--site", "site-z"}, "site-z"},
		{[]string{"verify", "report"}, "usage: backbeat ctl verify report <id>"},
		{[]string{"verify", "report", "x", "--kind", "lies"}, `--kind "lies" is not a finding kind`},
		{[]string{"verify", "report", "nope"}, "NoSuchJob"},
		{[]string{"verify", "cancel"}, "usage: backbeat ctl verify cancel <id>"},
		{[]string{"verify", "frob"}, `unknown command "verify frob"`},
	} {
		out, err := e.ctl(c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ctl %v: %v, want an error with %q\n%s", c.args, err, c.want, out)
		}
		if ExitCode(err) == ExitDrift {
			t.Errorf("ctl %v exits %d", c.args, ExitDrift)
		}
	}
	if ExitCode(errors.New("x")) != 1 || ExitCode(fmt.Errorf("w: %w", &exitError{code: 3, err: errors.New("d")})) != 3 {
		t.Fatal("exitCode")
	}
}
