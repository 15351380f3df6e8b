package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/openbackbeat/backbeat/adapters/apiwire"
	"github.com/openbackbeat/backbeat/adapters/internal/stacktest"
	"github.com/openbackbeat/backbeat/adapters/memory"
	"github.com/openbackbeat/backbeat/adapters/mongometa"
	"github.com/openbackbeat/backbeat/adapters/redisstore"
	"github.com/openbackbeat/backbeat/app"
	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// Addresses of the local stack (e2e/stack/stack.sh); the environment
// overrides them.
func stackAddr(env, def string) string {
	if v := os.Getenv(env); v != "" {
		return v
	}
	return def
}

// TestRealServices runs the API over the Redis failure store, metrics and
// site control and the MongoDB metadata store: the failed listing walks
// Redis hour keys with markers, retry updates MongoDB, site state is
// stored in Redis.
func TestRealServices(t *testing.T) {
	t.Parallel()
	redisAddr := stackAddr("BACKBEAT_TEST_REDIS_ADDR", "127.0.0.1:16379")
	mongoURI := stackAddr("BACKBEAT_TEST_MONGO_URI", "mongodb://127.0.0.1:27117")
	stacktest.Require(t, stacktest.Redis, redisAddr)
	stacktest.Require(t, stacktest.Mongo, stacktest.MongoAddrs(mongoURI)...)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id := fmt.Sprintf("%x", time.Now().UnixNano())
	log := slog.New(slog.DiscardHandler)
	rs, err := redisstore.New(redisstore.Config{Addr: redisAddr, KeyPrefix: "test-httpapi-" + id + ":", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	meta, err := mongometa.New(ctx, mongometa.Config{URI: mongoURI, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = meta.Close(context.Background()) })
	bus, err := memory.NewBus(memory.BusConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()

	siteA, siteB := "a-"+id, "b-"+id
	bucket := "httpapi-" + id
	operator, err := app.NewOperator(app.OperatorDeps{Failures: rs.Failures(), Metrics: rs.Metrics(), Metadata: meta})
	if err != nil {
		t.Fatal(err)
	}
	deps := Deps{
		Sites: &app.SiteService{Control: rs.SiteControl(), Sites: []string{siteA, siteB}},
		Retrier: &app.FailedRetrier{Metadata: meta, Failures: rs.Failures(), Locker: rs.Locker(), Publisher: bus,
			Topics: app.DefaultTopics, Log: log},
		Operator: operator, Log: log,
		Health: map[string]func(context.Context) error{
			"redis": rs.Healthy,
			"mongo": func(ctx context.Context) error { return meta.Client().Ping(ctx, nil) },
		},
	}
	f := &fixture{t: t, h: New(deps, Config{})}

	// 230 failures over the last three hours, so across Redis hour keys;
	// a few versions are gone from the metadata and are left out.
	rule := domain.ReplicationRule{ID: "r", Enabled: true, DestinationBucket: "arn:aws:s3:::dst", StorageClass: siteA + "," + siteB}
	t.Cleanup(func() { // the bucket's documents are this test's only
		ctx := context.Background()
		if err := meta.Database().Collection(bucket).Drop(ctx); err != nil {
			t.Logf("drop test bucket %s: %v", bucket, err)
		}
		if _, err := meta.Database().Collection("__metastore").DeleteOne(ctx, bson.M{"_id": bucket}); err != nil {
			t.Logf("delete test bucket %s: %v", bucket, err)
		}
	})
	if err := meta.PutBucket(ctx, domain.Bucket{Name: bucket, VersioningEnabled: true, Replication: &domain.ReplicationConfig{Role: "r", Rules: []domain.ReplicationRule{rule}}}); err != nil {
		t.Fatal(err)
	}
	const n = 230
	now := time.Now()
	gone := 0
	for i := range n {
		key := fmt.Sprintf("dir/k-%03d", i)
		if i%40 == 3 {
			gone++
		} else {
			v := domain.ObjectVersion{Bucket: bucket, Key: key, VersionID: "v1", Size: int64(i), LastModified: now.Add(-4 * time.Hour),
				Replication: domain.NewReplicationInfo(rule, "r", true)}
			b, _ := v.Site(siteA)
			b.Status = domain.StatusFailed
			v.Replication.Status = domain.Aggregate(v.Replication.Backends)
			if err := meta.PutVersion(ctx, v); err != nil {
				t.Fatal(err)
			}
		}
		at := now.Add(-time.Duration(n-i) * 45 * time.Second).Truncate(time.Millisecond)
		if err := rs.Failures().Add(ctx, ports.FailedEntry{Site: siteA, Bucket: bucket, Key: key, VersionID: "v1", FailedAt: at}); err != nil {
			t.Fatal(err)
		}
	}

	seen := map[string]bool{}
	marker := int64(0)
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("listing does not end")
		}
		target := "/_/crr/failed?sitename=" + siteA
		if marker != 0 {
			target += fmt.Sprint("&marker=", marker)
		}
		page := decode[apiwire.FailedPage](t, f.do(http.MethodGet, target, nil), http.StatusOK)
		last := ""
		for _, v := range page.Versions {
			if seen[v.Key] {
				t.Fatalf("%s listed twice", v.Key)
			}
			if last != "" && v.Key > last {
				t.Fatalf("not newest first: %s after %s", v.Key, last)
			}
			seen[v.Key], last = true, v.Key
			if v.StorageClass != siteA || v.VersionID != "v1" || !strings.HasSuffix(v.LastModified, "Z") {
				t.Fatalf("entry %+v", v)
			}
		}
		if !page.IsTruncated {
			break
		}
		marker = *page.NextMarker
	}
	if len(seen) != n-gone {
		t.Fatalf("listed %d entries, want %d", len(seen), n-gone)
	}

	key := "dir/k-229"
	page := decode[apiwire.FailedPage](t, f.do(http.MethodGet, "/_/crr/failed/"+bucket+"/"+key+"/v1", nil), http.StatusOK)
	if len(page.Versions) != 1 || page.Versions[0].Size != 229 {
		t.Fatalf("failed version: %+v", page)
	}
	body := fmt.Sprintf(`[{"Bucket":%q,"Key":%q,"VersionId":"v1","StorageClass":%q}]`, bucket, key, siteA)
	retried := decode[[]apiwire.RetriedVersion](t, f.do(http.MethodPost, "/_/crr/failed", body), http.StatusOK)
	if len(retried) != 1 || retried[0].ReplicationStatus != "PENDING" {
		t.Fatalf("retry: %+v", retried)
	}
	v, err := meta.Version(ctx, bucket, key, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := v.Site(siteA); b.Status != domain.StatusPending {
		t.Fatalf("site status after retry: %s", b.Status)
	}
	if found, _ := rs.Failures().Find(ctx, bucket, key, "v1"); len(found) != 0 {
		t.Fatalf("still failed after retry: %+v", found)
	}

	for range 4 {
		_ = rs.Metrics().Record(ctx, siteB, ports.MetricQueued, 1, 250, ports.Op{})
	}
	_ = rs.Metrics().Record(ctx, siteB, ports.MetricCompleted, 1, 250, ports.Op{})
	m := decode[siteMetricsBody](t, f.do(http.MethodGet, "/_/metrics/crr/"+siteB, nil), http.StatusOK)
	if m.Pending.Results != (countResult{Count: 3, Size: 750}) || m.Completions.Results != (countResult{Count: 1, Size: 250}) || m.Throughput.Results.Size != "0.28" {
		t.Fatalf("metrics: %+v %+v %+v", m.Pending, m.Completions, m.Throughput)
	}

	if rec := f.do(http.MethodPost, "/_/crr/pause/"+siteB, nil); rec.Code != http.StatusOK {
		t.Fatalf("pause: %d %s", rec.Code, rec.Body)
	}
	if rec := f.do(http.MethodPost, "/_/crr/resume/"+siteB+"/schedule", `{"hours":2}`); rec.Code != http.StatusOK {
		t.Fatalf("schedule: %d %s", rec.Code, rec.Body)
	}
	st := decode[map[string]string](t, f.do(http.MethodGet, "/_/crr/status", nil), http.StatusOK)
	sched := decode[map[string]string](t, f.do(http.MethodGet, "/_/crr/resume/"+siteB, nil), http.StatusOK)
	if st[siteA] != "enabled" || st[siteB] != "disabled" || sched[siteB] == "none" {
		t.Fatalf("status %v, schedule %v", st, sched)
	}
	if rec := f.do(http.MethodPost, "/_/crr/resume", nil); rec.Code != http.StatusOK {
		t.Fatalf("resume: %d %s", rec.Code, rec.Body)
	}
	if h := decode[healthBody](t, f.do(http.MethodGet, "/_/healthcheck", nil), http.StatusOK); h.Status != "ok" || len(h.InternalConnections) != 3 {
		t.Fatalf("health: %+v", h)
	}
}
