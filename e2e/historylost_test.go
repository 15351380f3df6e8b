package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/openbackbeat/backbeat/domain"
)

// Scenario 17: history lost. The service runs as one `backbeat all`
// process (so that its healthcheck shows its populator); once a warm-up
// version replicated, it is stopped, versions are written, and the oplog
// entries of their bucket are trimmed away, as a capped oplog rolling
// past the populator's checkpoint would. Started again, the populator
// finds its resume point gone: the metric and the healthcheck say so, it
// resumes, and the backfill job it starts re-queues every version of the
// gap, which all end COMPLETED at both sites.
func TestHistoryLost(t *testing.T) {
	parallel(t)
	e := newEnv(t)
	all := e.Start("all", "all")
	e.WaitAPI(30 * time.Second)
	e.Canary(90 * time.Second)
	ctx := context.Background()
	b := e.Bucket("histlost")
	warm := e.Put(ctx, b, "warm-up", []byte("warm-up"), true)
	e.WaitDone([]Written{warm}, 2*time.Minute)
	if err := all.Stop(30 * time.Second); err != nil {
		t.Fatalf("stop the service: %v", err)
	}

	n := pick(300, 1000)
	gap := e.writeGap(ctx, b, n)
	trimmed := e.trimOplog(ctx, b.Name)
	t.Logf("wrote %d versions with the service stopped, trimmed %d oplog entries of %s", n, trimmed, b.Name)
	if trimmed < int64(n) {
		t.Fatalf("trimmed %d oplog entries, want at least one per version written (%d)", trimmed, n)
	}

	if err := all.Start(); err != nil {
		t.Fatal(err)
	}
	e.WaitAPI(30 * time.Second)
	e.WaitDone(e.Ledger.All(), pick(5*time.Minute, 10*time.Minute))

	lost := e.healthHistoryLost(ctx)
	if lost.Count < 1 || !slices.Contains(lost.Buckets, b.Name) || lost.Backfills[b.Name] == "" {
		t.Fatalf("healthcheck roles.populator.historyLost = %+v, want the loss of %s with its backfill job", lost, b.Name)
	}
	if v := e.metricValue("backbeat_journal_history_lost_total"); v < 1 {
		t.Fatalf("backbeat_journal_history_lost_total = %v, want at least 1", v)
	}
	job, err := e.API.Backfill(ctx, lost.Backfills[b.Name])
	if err != nil {
		t.Fatal(err)
	}
	if job.State != "done" || !job.IncludePending || job.ModifiedSince == "" || job.Queued != int64(n) {
		t.Fatalf("backfill job %+v: want done, includePending, modifiedSince, %d queued", job, n)
	}

	// The backfill re-queued each version of the gap with a new
	// microVersionId (a metadata write the journal sees): that is the
	// generation the checker must find now.
	recovered := 0
	for _, w := range gap {
		cur, err := e.Meta.Version(ctx, w.Bucket, w.Key, w.VersionID)
		if err != nil {
			t.Fatal(err)
		}
		if cur.MicroVersionID != w.MicroVersionID && cur.Replication.Status == domain.StatusCompleted {
			recovered++
		}
		w.MicroVersionID = cur.MicroVersionID
		e.Ledger.Update(w)
	}
	rep := e.Verify()
	if recovered != n {
		t.Errorf("%d of the %d versions of the gap were recovered by the backfill, want all", recovered, n)
	}
	if rep.OK() {
		fmt.Printf("history-lost recovered=%d\n", recovered)
	}
	t.Logf("history-lost recovered=%d", recovered)
}

// writeGap writes n versions of distinct keys to b, four writers at once.
func (e *Env) writeGap(ctx context.Context, b domain.Bucket, n int) []Written {
	e.t.Helper()
	out := make([]Written, n)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			data := make([]byte, 512)
			for i := w; i < n; i += 4 {
				fillRandom(data)
				out[i] = e.Put(ctx, b, fmt.Sprintf("gap-%04d", i), data, true)
			}
		})
	}
	wg.Wait()
	return out
}

// trimOplog deletes the stand-in's oplog entries of bucket, as
// e2e/stack/oplogtrim deletes old entries: only this scenario's
// collection, since the oplog is shared with every other user of the
// stack.
func (e *Env) trimOplog(ctx context.Context, bucket string) int64 {
	e.t.Helper()
	oplog := e.Meta.Client().Database("local").Collection("oplog.rs")
	res, err := oplog.DeleteMany(ctx, bson.D{{Key: "ns", Value: e.Meta.Database().Name() + "." + bucket}})
	if err != nil {
		e.t.Fatalf("trim the oplog of %s: %v", bucket, err)
	}
	return res.DeletedCount
}

// historyLost is the healthcheck's roles.populator.historyLost.
type historyLost struct {
	Count     int64             `json:"count"`
	Buckets   []string          `json:"buckets"`
	From      time.Time         `json:"from"`
	To        time.Time         `json:"to"`
	Backfills map[string]string `json:"backfills"`
}

func (e *Env) healthHistoryLost(ctx context.Context) historyLost {
	e.t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+e.APIAddr+"/_/healthcheck", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Roles struct {
			Populator struct {
				HistoryLost *historyLost `json:"historyLost"`
			} `json:"populator"`
		} `json:"roles"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		e.t.Fatalf("healthcheck: %v", err)
	}
	if body.Roles.Populator.HistoryLost == nil {
		e.t.Fatalf("the healthcheck shows no roles.populator.historyLost")
	}
	return *body.Roles.Populator.HistoryLost
}

// metricValue sums the samples of a Prometheus metric the API serves.
func (e *Env) metricValue(name string) float64 {
	e.t.Helper()
	resp, err := http.Get("http://" + e.APIAddr + "/metrics")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, name); ok && (strings.HasPrefix(rest, "{") || strings.HasPrefix(rest, " ")) {
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err == nil {
				sum += v
			}
		}
	}
	return sum
}
