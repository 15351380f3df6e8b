package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/openbackbeat/backbeat/adapters/apiclient"
	"github.com/openbackbeat/backbeat/domain"
)

// runCtl runs `backbeat ctl` with args and returns its output and exit
// code (-1 when it could not run).
func (e *Env) runCtl(args ...string) (string, int) {
	e.t.Helper()
	out, err := e.ctlCmd(args...).CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	}
	e.t.Fatalf("ctl %s: %v", strings.Join(args, " "), err)
	return "", -1
}

// verifyJob runs `ctl verify start --wait` with args and returns the job,
// and the exit code.
func (e *Env) verifyJob(ctx context.Context, bucket string, args ...string) (apiclient.VerifyJob, int, string) {
	e.t.Helper()
	out, code := e.runCtl(append([]string{"verify", "start", "--bucket", bucket, "--wait"}, args...)...)
	id := strings.TrimSpace(strings.SplitN(out, "\n", 2)[0])
	if !strings.HasPrefix(id, "vf-") {
		e.t.Fatalf("ctl verify start printed no job id (exit %d):\n%s", code, out)
	}
	j, err := e.API.Verify(ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return j, code, out
}

// report returns every finding of a verify job, as `ctl verify report
// --json` prints them.
func (e *Env) report(id string) []apiclient.Finding {
	e.t.Helper()
	out, code := e.runCtl("verify", "report", id, "--json")
	var fs []apiclient.Finding
	if code != 0 || json.Unmarshal([]byte(out), &fs) != nil {
		e.t.Fatalf("ctl verify report %s (exit %d):\n%s", id, code, out)
	}
	return fs
}

func nonZero(m map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

// Scenario 11: verify and repair. A bucket replicated to both sites; then,
// behind the service's back, site-a loses replicas, gets other bytes under
// the replicas' markers, changed tags and foreign objects, and the source
// says FAILED for versions that are there. Verify finds exactly that; a
// repair re-queues what it can, the pipeline drains, and a verify after
// finds only the foreign objects (verify never deletes): exit 3 for them,
// 0 with --ignore extra.
func TestVerifyAndRepair(t *testing.T) {
	parallel(t)
	e := newEnv(t, "BACKBEAT_BACKFILL_POLL=200ms")
	e.StartRoles()
	ctx := context.Background()
	b := e.Bucket("verify")
	start := time.Now()
	e.load(ctx, []domain.Bucket{b}, pick(182, 1818), 512, 0) // every tenth key twice: 201 or 2,000 versions
	all := e.Ledger.All()
	e.WaitDone(all, pick(2*time.Minute, 6*time.Minute))
	t.Logf("replicated %d versions in %s", len(all), time.Since(start).Round(time.Millisecond))

	// In sync: exit 0, no HEAD for plain-MD5 replicas.
	j, code, out := e.verifyJob(ctx, b.Name)
	if code != 0 || j.Drift != 0 || j.Compared != int64(2*len(all)) {
		t.Fatalf("verify of a bucket in sync: exit %d, %+v\n%s", code, j, out)
	}
	t.Logf("in sync: compared %d in %s, %d HEADs, %d tag reads", j.Compared, j.UpdatedAt.Sub(j.StartedAt).Round(time.Millisecond), j.Heads, j.TagReads)

	// Tamper with site-a, one version per key, on keys of one version.
	site := e.Sites["site-a"].S3()
	var single []Written
	versions := map[string]int{}
	for _, w := range all {
		versions[w.Key]++
	}
	for _, w := range all {
		if versions[w.Key] == 1 {
			single = append(single, w)
		}
	}
	replicaID := func(w Written) string {
		v, err := e.Meta.Version(ctx, w.Bucket, w.Key, w.VersionID)
		if err != nil {
			t.Fatal(err)
		}
		be, _ := v.Site("site-a")
		return be.DataStoreVersionID
	}
	want := map[string]string{} // key -> kind of its finding (the first)
	for _, w := range single[0:5] {
		if _, err := site.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(w.DestBucket), Key: aws.String(w.Key), VersionId: aws.String(replicaID(w))}); err != nil {
			t.Fatal(err)
		}
		want[w.Key] = "missing"
	}
	for i, w := range single[5:8] {
		body := fmt.Sprintf("forged bytes %d", i)
		if _, err := site.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(w.DestBucket), Key: aws.String(w.Key), Body: strings.NewReader(body),
			ContentLength: aws.Int64(int64(len(body))),
			Metadata:      map[string]string{domain.ReplicaMetaKey: "REPLICA", domain.SourceVersionMetaKey: w.VersionID}}); err != nil {
			t.Fatal(err)
		}
		want[w.Key] = "content"
	}
	for _, w := range single[8:12] {
		if _, err := site.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: aws.String(w.DestBucket), Key: aws.String(w.Key), VersionId: aws.String(replicaID(w)),
			Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("origin"), Value: aws.String("tampered")}}}}); err != nil {
			t.Fatal(err)
		}
		want[w.Key] = "tags"
	}
	for i := range 2 {
		key := fmt.Sprintf("foreign-%d", i)
		if _, err := site.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(b.Name + "-replica"), Key: aws.String(key), Body: strings.NewReader("not replicated")}); err != nil {
			t.Fatal(err)
		}
		want[key] = "extra"
	}
	for _, w := range single[12:14] {
		if _, err := e.Meta.UpdateVersion(ctx, w.Bucket, w.Key, w.VersionID, func(v *domain.ObjectVersion) error {
			be, _ := v.Site("site-a")
			be.Status, be.Reason = domain.StatusFailed, "set FAILED by the e2e test"
			v.Replication.Status = domain.StatusFailed
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		want[w.Key] = "failed"
	}

	before, code, out := e.verifyJob(ctx, b.Name, "--site", "site-a")
	wantCounts := map[string]int64{"missing": 5, "content": 3, "tags": 4, "extra": 2, "failed": 2, "status-lies": 8}
	if code != 3 || !maps.Equal(nonZero(before.ByKind), wantCounts) {
		t.Fatalf("verify after the tampering: exit %d, findings %v, want exit 3 and %v\n%s", code, before.ByKind, wantCounts, out)
	}
	t.Logf("ctl verify start --site site-a --wait (exit %d):\n%s", code, out)
	got := map[string]string{}
	fs := e.report(before.ID)
	for _, f := range fs {
		if f.Kind != "status-lies" {
			got[f.Key] = f.Kind
		}
	}
	if !maps.Equal(got, want) {
		t.Fatalf("findings by key %v, want %v", got, want)
	}
	if fs[0].Kind != "status-lies" {
		t.Fatalf("the report does not start with status-lies: %+v", fs[0])
	}
	if table, code := e.runCtl("verify", "report", before.ID); code == 0 {
		t.Logf("ctl verify report %s:\n%s", before.ID, table)
	}
	t.Logf("after tampering: %d findings (%v), %d HEADs for %d site versions", before.Drift, before.ByKind, before.Heads, before.SiteVersions)

	repair, code, out := e.verifyJob(ctx, b.Name, "--site", "site-a", "--repair")
	if code != 3 || repair.Requeued != 5+3+4+2 {
		t.Fatalf("verify --repair: exit %d, re-queued %d, want 14\n%s", code, repair.Requeued, out)
	}
	e.WaitStatus(all, pick(2*time.Minute, 6*time.Minute), domain.StatusCompleted)

	after, code, out := e.verifyJob(ctx, b.Name, "--site", "site-a")
	if code != 3 || !maps.Equal(nonZero(after.ByKind), map[string]int64{"extra": 2}) {
		t.Fatalf("verify after the repair: exit %d, findings %v, want exit 3 for 2 extras only\n%s", code, after.ByKind, out)
	}
	if _, code, out := e.verifyJob(ctx, b.Name, "--site", "site-a", "--ignore", "extra"); code != 0 {
		t.Fatalf("verify --ignore extra after the repair: exit %d\n%s", code, out)
	}
	// Site-b was never touched; the whole bucket is in sync but for the
	// extras.
	if j, code, out := e.verifyJob(ctx, b.Name, "--ignore", "extra"); code != 0 || j.ByKind["extra"] != 2 {
		t.Fatalf("verify of every site: exit %d, %v\n%s", code, j.ByKind, out)
	}

	// The checker agrees, but for the forged versions, which site-a now
	// holds twice (the forgery stays below the new copy: verify deletes
	// nothing).
	var check []Written
	for _, w := range all {
		if want[w.Key] != "content" {
			check = append(check, w)
		}
	}
	rep, err := e.Checker.Check(ctx, check)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("CHECK %s: %s", t.Name(), rep)
	if !rep.OK() {
		t.Errorf("invariants broken: %s\n  %s", rep, strings.Join(rep.Problems, "\n  "))
	}
	driftBefore, driftAfter := before.DriftIgnoring("extra"), after.DriftIgnoring("extra")
	fmt.Printf("SCENARIO %s: verify drift-before=%d drift-after=%d\n", t.Name(), driftBefore, driftAfter)
	t.Logf("verify drift-before=%d drift-after=%d (extras %d, left at the site)", driftBefore, driftAfter, after.ByKind["extra"])
	if driftAfter != 0 {
		t.Errorf("drift-after=%d", driftAfter)
	}
	if kinds := slices.Sorted(maps.Keys(nonZero(after.ByKind))); !slices.Equal(kinds, []string{"extra"}) {
		t.Errorf("kinds after the repair: %v", kinds)
	}
}
