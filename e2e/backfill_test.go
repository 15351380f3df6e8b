package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/openbackbeat/backbeat/adapters/apiclient"
	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// backfillSet is what scenario 10 wrote before its bucket had a rule.
type backfillSet struct {
	mu sync.Mutex
	// data are the a/ and b/ versions of keys without a delete marker:
	// the checker verifies them.
	data []Written
	// marked are the a/ and b/ keys ending in a delete marker, with their
	// versions (data first, marker last).
	marked map[string][]Written
	// other are the c/ versions, which no rule covers.
	other []Written
}

func (s *backfillSet) queued() int {
	n := len(s.data)
	for _, ws := range s.marked {
		n += len(ws)
	}
	return n
}

// putDeleteMarker deletes key at the source S3 and records the delete
// marker's metadata as CloudServer does.
func (e *Env) putDeleteMarker(ctx context.Context, b domain.Bucket, key string) Written {
	e.t.Helper()
	out, err := e.Source.S3().DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(b.Name), Key: aws.String(key)})
	if err != nil {
		e.t.Fatalf("delete %s/%s: %v", b.Name, key, err)
	}
	vid := aws.ToString(out.VersionId)
	if vid == "" {
		e.t.Fatalf("delete %s/%s added no delete marker", b.Name, key)
	}
	v := domain.ObjectVersion{Bucket: b.Name, Key: key, VersionID: vid, MicroVersionID: randomHex(8),
		IsDeleteMarker: true, LastModified: time.Now().UTC()}
	if err := e.Meta.PutVersion(ctx, v); err != nil {
		e.t.Fatalf("record the delete marker of %s/%s: %v", b.Name, key, err)
	}
	return Written{ObjectVersion: v, DestBucket: b.Name + "-replica"}
}

// writeBeforeRule writes keys over a/, b/ and c/ into b, which has no
// replication configuration: every tenth key twice, every seventh one
// deleted after (a delete marker).
func (e *Env) writeBeforeRule(ctx context.Context, b domain.Bucket, keys int) *backfillSet {
	e.t.Helper()
	set := &backfillSet{marked: map[string][]Written{}}
	const writers = 4
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			data := make([]byte, 700)
			for i := w; i < keys; i += writers {
				prefix := []string{"a/", "b/", "c/"}[i%3]
				key := fmt.Sprintf("%sobj-%05d", prefix, i)
				var ws []Written
				for range 1 + boolInt(i%10 == 0) {
					fillRandom(data)
					ws = append(ws, e.Put(ctx, b, key, data, false))
				}
				if i%7 == 3 {
					ws = append(ws, e.putDeleteMarker(ctx, b, key))
				}
				set.mu.Lock()
				switch {
				case prefix == "c/":
					set.other = append(set.other, ws...)
				case i%7 == 3:
					set.marked[key] = ws
				default:
					set.data = append(set.data, ws...)
				}
				set.mu.Unlock()
			}
		})
	}
	wg.Wait()
	return set
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ctlCmd is `backbeat ctl --api <env's API> args...`.
func (e *Env) ctlCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(binary, append([]string{"ctl", "--api", "http://" + e.APIAddr}, args...)...)
	cmd.Env = e.env
	return cmd
}

// Scenario 10: backfill. Versions written the way CloudServer writes them
// into a bucket without a replication configuration; then rules for a/ and
// b/; a dry run counts what a real run queues; the real job runs with the
// API process SIGKILLed twice during its walk and restarted. Every a/ and
// b/ version reaches both sites exactly once, c/ is untouched, and the
// counts are the dry run's.
func TestBackfill(t *testing.T) {
	parallel(t)
	e := newEnv(t, "BACKBEAT_BACKFILL_LEASETTL=2s", "BACKBEAT_BACKFILL_POLL=200ms",
		"BACKBEAT_BACKFILL_BATCHSIZE="+pick("40", "250"))
	r := e.StartRoles()
	ctx := context.Background()
	b := e.Bucket("backfill")
	plain := b
	plain.Replication = nil
	if err := e.Meta.PutBucket(ctx, plain); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	set := e.writeBeforeRule(ctx, plain, pick(240, 4000))
	written := set.queued() + len(set.other)
	t.Logf("wrote %d versions (%d under a/ and b/, %d of them on %d keys ending deleted; %d under c/) in %s",
		written, set.queued(), set.queued()-len(set.data), len(set.marked), len(set.other), time.Since(start).Round(time.Millisecond))

	// The rules come after the objects.
	rules := b
	rules.Replication = &domain.ReplicationConfig{Role: b.Replication.Role, Rules: []domain.ReplicationRule{
		{ID: "a", Enabled: true, Prefix: "a/", DestinationBucket: b.Replication.Rules[0].DestinationBucket, StorageClass: strings.Join(siteNames, ",")},
		{ID: "b", Enabled: true, Prefix: "b/", DestinationBucket: b.Replication.Rules[0].DestinationBucket, StorageClass: strings.Join(siteNames, ",")},
	}}
	if err := e.Meta.PutBucket(ctx, rules); err != nil {
		t.Fatal(err)
	}

	// Dry run: the counts, nothing written.
	out, err := e.ctlCmd("backfill", "start", "--bucket", b.Name, "--dry-run", "--wait", "--json").Output()
	if err != nil {
		t.Fatalf("ctl backfill start --dry-run: %v\n%s", err, out)
	}
	var dry apiclient.BackfillJob
	if err := json.Unmarshal(out, &dry); err != nil {
		t.Fatalf("dry run output: %v\n%s", err, out)
	}
	wantQueued, wantSkipped := int64(set.queued()), int64(len(set.other))
	if dry.State != apiclient.JobDone || dry.Queued != wantQueued || dry.Skipped["no-rule"] != wantSkipped || dry.SkippedTotal() != wantSkipped ||
		dry.Scanned != int64(written) || dry.Total != int64(written) {
		t.Fatalf("dry run: %+v, want queued %d, skipped %d no-rule, scanned %d", dry, wantQueued, wantSkipped, written)
	}
	for _, s := range siteNames {
		if dry.PerSite[s].Versions != wantQueued {
			t.Fatalf("dry run: %s gets %d versions, want %d", s, dry.PerSite[s].Versions, wantQueued)
		}
	}
	if counts, err := e.Checker.Statuses(ctx, set.data); err != nil || counts[domain.StatusNone] != len(set.data) {
		t.Fatalf("after the dry run, statuses %v (%v): it wrote", counts, err)
	}

	// The real job, paced so that the API can be killed twice during it.
	rate := pick(60, 250)
	cmd := e.ctlCmd("backfill", "start", "--bucket", b.Name, "--rate", fmt.Sprint(rate), "--wait")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() {
		t.Fatalf("ctl backfill start printed no job id: %s", stderr.String())
	}
	id := strings.TrimSpace(lines.Text())
	var progress []string
	ctlDone := make(chan error, 1)
	go func() {
		for lines.Scan() {
			progress = append(progress, lines.Text())
		}
		ctlDone <- cmd.Wait()
	}()
	for i, at := range []float64{0.3, 0.6} {
		j := e.waitScanned(ctx, id, at)
		r.API.Kill()
		t.Logf("API killed (#%d) at scanned %d/%d, queued %d", i+1, j.Scanned, j.Total, j.Queued)
		if err := r.API.Start(); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-ctlDone:
		if err != nil {
			t.Fatalf("ctl backfill start --wait: %v\n%s\n%s", err, strings.Join(progress, "\n"), stderr.String())
		}
	case <-time.After(pick(2*time.Minute, 6*time.Minute)):
		t.Fatalf("the backfill did not end: %s", strings.Join(progress, "\n"))
	}
	for _, l := range progress {
		t.Log("ctl: " + l)
	}
	job, err := e.API.Backfill(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("SCENARIO %s: backfill queued=%d skipped=%d\n", t.Name(), job.Queued, job.SkippedTotal())
	t.Logf("backfill queued=%d skipped=%d (%+v)", job.Queued, job.SkippedTotal(), job)
	if job.Queued != dry.Queued || job.SkippedTotal() != dry.SkippedTotal() || job.Scanned != dry.Scanned {
		t.Errorf("real run queued=%d skipped=%d scanned=%d, dry run queued=%d skipped=%d scanned=%d",
			job.Queued, job.SkippedTotal(), job.Scanned, dry.Queued, dry.SkippedTotal(), dry.Scanned)
	}

	all := append([]Written(nil), set.data...)
	for _, ws := range set.marked {
		all = append(all, ws...)
	}
	e.WaitDone(all, pick(3*time.Minute, 10*time.Minute))
	for _, w := range set.data {
		e.Ledger.Add(w)
	}
	e.Verify()
	e.checkMarked(ctx, set.marked)
	e.checkUntouched(ctx, set.other)
}

// waitScanned polls the job until it scanned at least fraction of its
// total, tolerating an API that restarts.
func (e *Env) waitScanned(ctx context.Context, id string, fraction float64) apiclient.BackfillJob {
	e.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		j, err := e.API.Backfill(ctx, id)
		if err == nil && j.Total > 0 && float64(j.Scanned) >= fraction*float64(j.Total) {
			if j.Finished() {
				e.t.Fatalf("the job ended before the API could be killed at %.0f%%: %+v", fraction*100, j)
			}
			return j
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("job %s not at %.0f%% after 2 min: %+v (%v)", id, fraction*100, j, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkMarked checks the keys that end deleted: each data version once at
// every site, and the key's latest version there a delete marker.
func (e *Env) checkMarked(ctx context.Context, marked map[string][]Written) {
	e.t.Helper()
	problems := 0
	for key, ws := range marked {
		for s, site := range e.Sites {
			reps, err := site.ReplicaReader().Replicas(ctx, ws[0].DestBucket, key)
			if err != nil {
				e.t.Fatalf("read %s at %s: %v", key, s, err)
			}
			copies := map[string]int{}
			markers := 0
			for _, r := range reps {
				if r.IsDeleteMarker {
					markers++
				} else {
					copies[r.SourceVersionID]++
				}
			}
			ok := len(reps) > 0 && reps[len(reps)-1].IsDeleteMarker && markers == 1
			for _, w := range ws[:len(ws)-1] {
				ok = ok && copies[w.VersionID] == 1
			}
			if !ok && problems < 10 {
				problems++
				e.t.Errorf("%s at %s: %d versions, %d delete markers, copies %v, latest is a marker: %v", key, s, len(reps), markers, copies,
					len(reps) > 0 && reps[len(reps)-1].IsDeleteMarker)
			}
		}
	}
	e.t.Logf("%d keys ending in a delete marker checked at %d sites", len(marked), len(e.Sites))
}

// checkUntouched checks that no c/ version was queued or copied.
func (e *Env) checkUntouched(ctx context.Context, other []Written) {
	e.t.Helper()
	for _, w := range other {
		cur, err := e.Meta.Version(ctx, w.Bucket, w.Key, w.VersionID)
		if err != nil {
			e.t.Fatal(err)
		}
		if cur.Replication.Status != domain.StatusNone || len(cur.Replication.Backends) > 0 || cur.MicroVersionID != w.MicroVersionID {
			e.t.Errorf("%s %s under c/ was touched: %+v", w.Key, w.VersionID, cur.Replication)
			return
		}
		for s, site := range e.Sites {
			reps, err := site.ReplicaReader().Replicas(ctx, w.DestBucket, w.Key)
			if err != nil && !errors.Is(err, ports.ErrNotFound) {
				e.t.Fatal(err)
			}
			if len(reps) > 0 {
				e.t.Errorf("%s under c/ reached %s", w.Key, s)
				return
			}
		}
	}
	e.t.Logf("%d versions under c/ untouched", len(other))
}
