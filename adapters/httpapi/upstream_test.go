package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/adapters/apiwire"
	"github.com/openbackbeat/backbeat/adapters/memory"
	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// Tests of the answers upstream Backbeat gives where a stricter API would
// answer otherwise (issue 15): tools written against upstream rely on them.

// Upstream's server takes GET, POST and DELETE (lib/api/BackbeatServer.js
// _isValidRequest) and then looks for a route matching method and path
// together (lib/api/BackbeatAPI.js findValidRoute): a known path asked with
// another of those methods answers 404 RouteNotFound. Only the healthcheck
// and Prometheus routes check the method first and answer 405
// (tests/functional/api/routes.js: "405 method not allowed from invalid
// http verb", DELETE /_/healthcheck).
func TestWrongMethodIsRouteNotFound(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, r := range []struct{ method, path string }{
		{"GET", "/_/crr/pause"},
		{"GET", "/_/crr/pause/site-a"},
		{"DELETE", "/_/crr/pause"},
		{"POST", "/_/crr/status"},
		{"POST", "/_/crr/status/site-a"},
		{"POST", "/_/metrics/crr/all/failures"},
		{"POST", "/_/metrics/crr/site-a"},
		{"DELETE", "/_/crr/failed"},
		{"POST", "/_/crr/failed/bucket/key/vid"},
		{"GET", "/_/crr/resume/site-a/schedule/"},
		{"DELETE", "/_/crr/status"},
	} {
		rec := f.do(r.method, r.path, nil)
		if rec.Code != http.StatusNotFound {
			t.Errorf("%s %s: %d, want 404 as upstream: %s", r.method, r.path, rec.Code, rec.Body)
			continue
		}
		wantError(t, rec, http.StatusNotFound, ErrNameRouteNotFound, "does not exist")
		if rec.Header().Get("Allow") != "" {
			t.Errorf("%s %s: Allow header on a 404", r.method, r.path)
		}
	}
	// The description says which methods the path answers.
	wantError(t, f.do(http.MethodGet, "/_/crr/pause", nil), http.StatusNotFound, ErrNameRouteNotFound, "for GET (it answers POST)")
	for _, r := range []struct{ method, path string }{
		{"DELETE", "/_/healthcheck"},
		{"POST", "/_/healthcheck"},
		{"POST", "/_/monitoring/metrics"},
		{"DELETE", "/metrics"},
		{"PUT", "/_/crr/pause"},
		{"PATCH", "/_/crr/status"},
	} {
		wantError(t, f.do(r.method, r.path, nil), http.StatusMethodNotAllowed, ErrNameMethodNotAllowed)
	}
}

// Upstream does not check the sitename of the failed listing against the
// configured sites (lib/api/BackbeatAPI.js validateQuery and
// getSiteFailedCRR): an unknown one has no sorted sets, so it lists
// nothing.
func TestFailedListingOfUnknownSiteIsEmpty(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.putVersion("bkt-us", "k", "v1", 10, map[string]domain.Status{"site-a": domain.StatusFailed})
	f.fail("site-a", "bkt-us", "k", "v1", time.Minute)
	for _, q := range []string{"?sitename=wrong-site", "?site=wrong-site", "?sitename=all", "?sitename=wrong-site&marker=5"} {
		rec := f.do(http.MethodGet, "/_/crr/failed"+q, nil)
		if want := `{"IsTruncated":false,"Versions":[]}`; rec.Code != http.StatusOK || rec.Body.String() != want {
			t.Errorf("GET /_/crr/failed%s: %d %s, want 200 %s", q, rec.Code, rec.Body, want)
		}
	}
	// The query is still checked, as upstream's validateQuery does.
	wantError(t, f.do(http.MethodGet, "/_/crr/failed?sitename=wrong-site&marker=x", nil), http.StatusBadRequest, ErrNameInvalidQueryParameter)
}

// Upstream parses /_/crr/failed/<bucket>/<key> and reads the version from
// the query (lib/api/BackbeatRequest.js _parseCRRRoutes); without all three
// the route is the listing (lib/api/BackbeatAPI.js findValidRoute: type
// 'all', getSiteFailedCRR), which ignores bucket and key.
func TestFailedRouteWithoutVersionIsTheListing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.putVersion("bkt-nk", "dir/k", "v1", 10, map[string]domain.Status{"site-a": domain.StatusFailed})
	f.fail("site-a", "bkt-nk", "dir/k", "v1", time.Minute)
	empty := `{"IsTruncated":false,"Versions":[]}`
	for _, p := range []string{
		"/_/crr/failed/bkt-nk", "/_/crr/failed/other-bucket", "/_/crr/failed/bkt-nk/dir/k",
		"/_/crr/failed/bkt-nk/dir/k?versionId=", "/_/crr/failed/bkt-nk/dir/k/v1?versionId=",
	} {
		rec := f.do(http.MethodGet, p, nil)
		if rec.Code != http.StatusOK || rec.Body.String() != empty {
			t.Errorf("GET %s: %d %s, want 200 %s", p, rec.Code, rec.Body, empty)
		}
	}
	want := `{"IsTruncated":false,"Versions":[{"Bucket":"bkt-nk","Key":"dir/k","VersionId":"v1","StorageClass":"site-a","Size":10,"LastModified":"2030-03-04T09:00:00.123Z","FailedAt":"2030-03-04T10:06:30.000Z","Reason":"AccessDenied at the site"}]}`
	for _, p := range []string{"/_/crr/failed/bkt-nk?sitename=site-a", "/_/crr/failed/other/x?sitename=site-a"} {
		if rec := f.do(http.MethodGet, p, nil); rec.Code != http.StatusOK || rec.Body.String() != want {
			t.Errorf("GET %s: %d %s, want 200 %s", p, rec.Code, rec.Body, want)
		}
	}
	// With a version, in the query or (ours) the path, it is the version's.
	for _, p := range []string{"/_/crr/failed/bkt-nk/dir/k?versionId=v1", "/_/crr/failed/bkt-nk/dir/k/v1"} {
		if rec := f.do(http.MethodGet, p, nil); rec.Code != http.StatusOK || rec.Body.String() != want {
			t.Errorf("GET %s: %d %s, want 200 %s", p, rec.Code, rec.Body, want)
		}
	}
}

// Upstream requires only Bucket, Key and StorageClass of each retry entry
// (lib/api/BackbeatAPI.js _parseRetryFailedCRR) and then judges each entry
// on its own (retryFailedCRR): one it cannot find in the site's failures,
// an unknown site's included, is left out while the others are retried.
func TestRetryEntriesAreJudgedOneByOne(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.putVersion("bkt-ob", "k", "v1", 10, map[string]domain.Status{"site-a": domain.StatusFailed})
	f.fail("site-a", "bkt-ob", "k", "v1", time.Minute)

	for _, body := range []string{
		`[{"Bucket":"bkt-ob","Key":"k","StorageClass":"site-a"}]`,
		`[{"Bucket":"bkt-ob","Key":"k","VersionId":null,"StorageClass":"site-a","ForceRetry":true}]`,
		`[{"Bucket":"bkt-ob","Key":"k","VersionId":"","StorageClass":"site-a"}]`,
		`[{"Bucket":"bkt-ob","Key":"k","VersionId":"v1","StorageClass":"nowhere"}]`,
		`[{"Bucket":"bkt-ob","Key":"k","VersionId":"v1","StorageClass":"nowhere","ForceRetry":true}]`,
	} {
		if rec := f.do(http.MethodPost, "/_/crr/failed", body); rec.Code != http.StatusOK || rec.Body.String() != "[]" {
			t.Errorf("body %s: %d %s, want 200 []", body, rec.Code, rec.Body)
		}
	}
	if v := f.version("bkt-ob", "k", "v1"); siteStatus(v, "site-a") != domain.StatusFailed {
		t.Fatalf("site-a is %s before the real retry", siteStatus(v, "site-a"))
	}

	body := `[{"Bucket":"bkt-ob","Key":"k","StorageClass":"site-a"},` +
		`{"Bucket":"bkt-ob","Key":"k","VersionId":"v1","StorageClass":"nowhere"},` +
		`{"Bucket":"bkt-ob","Key":"k","VersionId":"v1","StorageClass":"site-a"},` +
		`{"Bucket":"bkt-ob","Key":"gone","VersionId":"v9","StorageClass":"site-b","ForceRetry":true}]`
	rec := f.do(http.MethodPost, "/_/crr/failed", body)
	want := `[{"Bucket":"bkt-ob","Key":"k","VersionId":"v1","StorageClass":"site-a","Size":10,"LastModified":"2030-03-04T09:00:00.123Z","ReplicationStatus":"PENDING"}]`
	if rec.Code != http.StatusOK || rec.Body.String() != want {
		t.Fatalf("mixed body: %d %s, want 200 %s", rec.Code, rec.Body, want)
	}
	if v := f.version("bkt-ob", "k", "v1"); siteStatus(v, "site-a") != domain.StatusPending {
		t.Errorf("site-a is %s after the retry, want PENDING", siteStatus(v, "site-a"))
	}
	if e := f.entries(1)[0]; e.Site != "site-a" || e.Bucket != "bkt-ob" {
		t.Errorf("queued entry %+v", e)
	}
	// The body's shape is still checked as a whole: one bad entry refuses it.
	wantError(t, f.do(http.MethodPost, "/_/crr/failed", `[{"Bucket":"bkt-ob","Key":"k","StorageClass":"site-a"},{"Bucket":"b","Key":1,"StorageClass":"site-a"}]`),
		http.StatusBadRequest, ErrNameMalformedPOSTRequest, "entry 1: Key must be a non-empty string")
}

func (f *fixture) version(bucket, key, vid string) domain.ObjectVersion {
	f.t.Helper()
	v, err := f.meta.Version(context.Background(), bucket, key, vid)
	if err != nil {
		f.t.Fatal(err)
	}
	return v
}

func siteStatus(v domain.ObjectVersion, site string) domain.Status {
	b, _ := v.Site(site)
	return b.Status
}

const noZookeeperJSON = `"zookeeper":{"status":"ok","details":{"name":"NOT_USED","description":"this service uses no ZooKeeper: checkpoints and leases live in MongoDB, site state in Redis (see the mongo and redis entries)"}}`

// The healthcheck answers upstream's keys (lib/api/Healthcheck.js,
// docs/healthcheck.md, tests/functional/api/routes.js "should have valid
// keys"): topics.<topic>.{name, partitions[{id, leader, replicas, isrs}]},
// internalConnections.{isrHealth, zookeeper.{status, details},
// kafkaProducer.status}; ours stay beside them.
func TestHealthcheckHasUpstreamKeys(t *testing.T) {
	t.Parallel()
	part := func(id, leader int32, replicas, isrs []int32) BusPartition {
		return BusPartition{ID: id, Leader: leader, Replicas: replicas, ISRs: isrs}
	}
	healthy := []BusTopic{
		{Name: "backbeat-replication", Partitions: []BusPartition{part(0, 2, []int32{0, 1, 2}, []int32{2, 0, 1}), part(1, 0, []int32{1, 2, 0}, []int32{0, 1, 2})}},
		{Name: "backbeat-replication-status", Partitions: []BusPartition{part(0, 1, []int32{1}, []int32{1})}},
	}
	withBus := func(topics []BusTopic, err error) fixtureOption {
		return withDeps(func(d *Deps) {
			d.Bus = func(context.Context) ([]BusTopic, error) { return topics, err }
		})
	}
	get := func(t *testing.T, f *fixture, status int) map[string]any {
		t.Helper()
		return decode[map[string]any](t, f.do(http.MethodGet, "/_/healthcheck", nil), status)
	}
	conn := func(body map[string]any) map[string]any { return body["internalConnections"].(map[string]any) }

	t.Run("healthy", func(t *testing.T) {
		t.Parallel()
		rec := newFixture(t, withBus(healthy, nil)).do(http.MethodGet, "/_/healthcheck", nil)
		want := `{"topics":{"backbeat-replication":{"name":"backbeat-replication","partitions":[` +
			`{"id":0,"leader":2,"replicas":[0,1,2],"isrs":[2,0,1]},{"id":1,"leader":0,"replicas":[1,2,0],"isrs":[0,1,2]}]},` +
			`"backbeat-replication-status":{"name":"backbeat-replication-status","partitions":[{"id":0,"leader":1,"replicas":[1],"isrs":[1]}]}},` +
			`"internalConnections":{"isrHealth":"ok","kafka":{"status":"ok"},"kafkaProducer":{"status":"ok"},"redis":{"status":"ok"},` + noZookeeperJSON + `},"status":"ok"}`
		if rec.Code != http.StatusOK || rec.Body.String() != want {
			t.Fatalf("got %d %s\nwant 200 %s", rec.Code, rec.Body, want)
		}
	})
	t.Run("under-replicated", func(t *testing.T) {
		t.Parallel()
		// A replica out of sync: isrHealth says so, the service still works
		// (upstream answers 200 too).
		topics := []BusTopic{{Name: "backbeat-replication", Partitions: []BusPartition{part(0, 2, []int32{0, 1, 2}, []int32{2})}}}
		body := get(t, newFixture(t, withBus(topics, nil)), http.StatusOK)
		if conn(body)["isrHealth"] != "error" || body["status"] != "ok" {
			t.Errorf("body %v", body)
		}
	})
	t.Run("partition without in-sync replica", func(t *testing.T) {
		t.Parallel()
		// Upstream answers 500 when a partition has no in-sync replica.
		topics := []BusTopic{{Name: "backbeat-replication", Partitions: []BusPartition{
			part(0, 2, []int32{2}, []int32{2}), {ID: 1, Leader: -1, Replicas: []int32{1}, Err: errors.New("leader not available")},
		}}}
		body := get(t, newFixture(t, withBus(topics, nil)), http.StatusInternalServerError)
		if conn(body)["isrHealth"] != "error" || body["status"] != "error" {
			t.Errorf("body %v", body)
		}
		p := body["topics"].(map[string]any)["backbeat-replication"].(map[string]any)["partitions"].([]any)[1].(map[string]any)
		if p["leader"] != float64(-1) || len(p["isrs"].([]any)) != 0 || p["error"] != "leader not available" {
			t.Errorf("partition %v", p)
		}
	})
	t.Run("unknown topic", func(t *testing.T) {
		t.Parallel()
		topics := []BusTopic{{Name: "backbeat-replication", Err: errors.New("unknown topic")}}
		body := get(t, newFixture(t, withBus(topics, nil)), http.StatusInternalServerError)
		if _, ok := conn(body)["isrHealth"]; ok || body["status"] != "error" {
			t.Errorf("body %v", body)
		}
		if tp := body["topics"].(map[string]any)["backbeat-replication"].(map[string]any); tp["error"] != "unknown topic" {
			t.Errorf("topic %v", tp)
		}
	})
	t.Run("producer cannot reach the bus", func(t *testing.T) {
		t.Parallel()
		body := get(t, newFixture(t, withBus(nil, errors.New("kafka: client has run out of available brokers"))), http.StatusInternalServerError)
		kp := conn(body)["kafkaProducer"].(map[string]any)
		if kp["status"] != "error" || !strings.Contains(kp["error"].(string), "out of available brokers") || body["status"] != "error" {
			t.Errorf("body %v", body)
		}
		if len(body["topics"].(map[string]any)) != 0 {
			t.Errorf("topics %v", body["topics"])
		}
	})
	t.Run("bus description panics or hangs", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, withDeps(func(d *Deps) {
			d.Bus = func(ctx context.Context) ([]BusTopic, error) { <-ctx.Done(); return nil, ctx.Err() }
		}), func(_ *Deps, c *Config) { c.HealthTimeout = 20 * time.Millisecond })
		if kp := conn(get(t, f, http.StatusInternalServerError))["kafkaProducer"].(map[string]any); kp["status"] != "error" {
			t.Errorf("hanging: %v", kp)
		}
		f = newFixture(t, withDeps(func(d *Deps) {
			d.Bus = func(context.Context) ([]BusTopic, error) { panic("boom") }
		}))
		if kp := conn(get(t, f, http.StatusInternalServerError))["kafkaProducer"].(map[string]any); !strings.Contains(kp["error"].(string), "panicked") {
			t.Errorf("panicking: %v", kp)
		}
	})
}

// Upstream reports an object's progress and throughput from the bytes of
// each part as it is written (lib/api/Metrics.js getObjectProgress and
// getObjectThroughput over extensions/replication/tasks/ReplicateObject.js'
// per-part reports; tests/functional/api/routes.js expects 50 of 100 bytes
// as "50%"): so do these routes, from the replicator's report.
func TestObjectProgressFromTheReplicator(t *testing.T) {
	t.Parallel()
	store, err := memory.NewProgress(memory.ProgressConfig{})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, withDeps(func(d *Deps) { d.Operator.Progress = store }))
	ctx := context.Background()
	f.putVersion("bkt-op", "dir/big", "v1", 1000, nil)
	ref := ports.CopyRef{Site: "site-a", Bucket: "bkt-op", Key: "dir/big", VersionID: "v1"}
	started := f.clock().Add(-10 * time.Second)
	progress := func(site string) apiwire.ObjectProgress {
		t.Helper()
		return decode[apiwire.ObjectProgress](t, f.do(http.MethodGet, "/_/metrics/crr/"+site+"/progress/bkt-op/dir/big?versionId=v1", nil), http.StatusOK)
	}
	throughput := func() string {
		t.Helper()
		return decode[apiwire.ObjectThroughput](t, f.do(http.MethodGet, "/_/metrics/crr/site-a/throughput/bkt-op/dir/big?versionId=v1", nil), http.StatusOK).Throughput
	}
	if got := progress("site-a"); got != (apiwire.ObjectProgress{Description: descObjectProgress, Pending: 1000, Completed: 0, Progress: "0%"}) || throughput() != "0.00" {
		t.Fatalf("before the copy: %+v %s", got, throughput())
	}

	if err := store.Begin(ctx, ref, 1000, started); err != nil {
		t.Fatal(err)
	}
	if err := store.Advance(ctx, ref, started, 250, started.Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	// In flight: 250 bytes in the 10 s since the attempt began.
	if got := progress("site-a"); got != (apiwire.ObjectProgress{Description: descObjectProgress, Pending: 750, Completed: 250, Progress: "25%"}) {
		t.Errorf("in flight: %+v", got)
	}
	if got := throughput(); got != "25.00" {
		t.Errorf("in flight throughput %s, want 25.00", got)
	}
	// The other site has no report: its status says.
	if got := progress("site-b"); got != (apiwire.ObjectProgress{Description: descObjectProgress, Pending: 1000, Completed: 0, Progress: "0%"}) {
		t.Errorf("site-b: %+v", got)
	}
	// Done: the attempt's rate over its 8 s, kept for upstream's 15-minute
	// window.
	if err := store.Advance(ctx, ref, started, 750, started.Add(8*time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := progress("site-a"); got != (apiwire.ObjectProgress{Description: descObjectProgress, Pending: 0, Completed: 1000, Progress: "100%"}) {
		t.Errorf("done: %+v", got)
	}
	if got := throughput(); got != "125.00" {
		t.Errorf("done throughput %s, want 125.00", got)
	}
	f.advance(16 * time.Minute)
	if got := throughput(); got != "0.00" {
		t.Errorf("16 minutes later throughput %s, want 0.00", got)
	}

	// A site COMPLETED is 100% whatever an older report says; rounding is
	// JavaScript's toFixed (12.5 -> 13).
	f.putVersion("bkt-op", "k2", "v1", 8, map[string]domain.Status{"site-a": domain.StatusCompleted})
	for site, done := range map[string]int64{"site-a": 4, "site-b": 1} {
		r := ports.CopyRef{Site: site, Bucket: "bkt-op", Key: "k2", VersionID: "v1"}
		if err := store.Begin(ctx, r, 8, started); err != nil {
			t.Fatal(err)
		}
		if err := store.Advance(ctx, r, started, done, started); err != nil {
			t.Fatal(err)
		}
	}
	get := func(site string) apiwire.ObjectProgress {
		return decode[apiwire.ObjectProgress](t, f.do(http.MethodGet, "/_/metrics/crr/"+site+"/progress/bkt-op/k2?versionId=v1", nil), http.StatusOK)
	}
	if got := get("site-a"); got != (apiwire.ObjectProgress{Description: descObjectProgress, Pending: 0, Completed: 8, Progress: "100%"}) {
		t.Errorf("completed: %+v", got)
	}
	if got := get("site-b"); got != (apiwire.ObjectProgress{Description: descObjectProgress, Pending: 7, Completed: 1, Progress: "13%"}) {
		t.Errorf("1 of 8: %+v", got)
	}
}
