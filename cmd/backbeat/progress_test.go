package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/adapters/httpapi"
	"github.com/openbackbeat/backbeat/app"
	"github.com/openbackbeat/backbeat/ports"
)

// The replicator and the API are often different processes: the
// progress of a multipart copy reaches the API through Redis, as
// upstream's per-part counters do (scality/backbeat
// extensions/replication/tasks/ReplicateObject.js, lib/api/Metrics.js
// getObjectProgress and getObjectThroughput). Here the service runs with
// its own clients and the API is served on a second wiring.
func TestObjectProgressAcrossProcessesOnTheRealStack(t *testing.T) {
	cfg := realStack(t)
	cfg.Sites = cfg.Sites[:1]
	cfg.Sites[0].S3.MultipartThreshold, cfg.Sites[0].S3.PartSize = 5<<20, 5<<20
	w := startService(t, cfg)
	var out strings.Builder
	const size = 12 << 20 // three parts
	written, err := simulateInto(context.Background(), w, cfg, &out, cfg.Mongo.Journal.BucketPrefix+"-prog", simulateOptions{objects: 1, size: size, buckets: 1, wait: 2 * time.Minute})
	if err != nil || len(written) != 1 {
		t.Fatalf("%v\n%s", err, out.String())
	}
	v := written[0]
	site := cfg.SiteNames()[0]
	cp, err := w.progress.Progress(context.Background(), ports.CopyRef{Site: site, Bucket: v.Bucket, Key: v.Key, VersionID: v.VersionID})
	if err != nil || cp.Total != size || cp.Done != size || cp.Updated.Before(cp.Started) {
		t.Fatalf("progress read from the other process: %+v %v", cp, err)
	}

	h := httpapi.New(httpapi.Deps{
		Sites:    &app.SiteService{Control: w.control, Sites: cfg.SiteNames()},
		Retrier:  &app.FailedRetrier{Metadata: w.metadata, Failures: w.failures, Locker: w.locker, Publisher: w.pub, Topics: cfg.Topics},
		Operator: must(w.operator()),
	}, httpapi.Config{})
	get := func(route string) map[string]any {
		t.Helper()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/_/metrics/crr/"+site+"/"+route+"/"+v.Bucket+"/"+v.Key+"?versionId="+v.VersionID, nil))
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", route, rec.Code, rec.Body)
		}
		return body
	}
	if p := get("progress"); p["completed"] != float64(size) || p["pending"] != float64(0) || p["progress"] != "100%" {
		t.Errorf("progress %v", p)
	}
	if tp := get("throughput"); tp["throughput"] == "0.00" {
		t.Errorf("throughput %v: the copy's rate was not shared", tp)
	}
}
