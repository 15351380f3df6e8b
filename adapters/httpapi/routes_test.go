package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/adapters/apiwire"
	"github.com/openbackbeat/backbeat/app"
	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

func TestErrorBodyMatchesUpstreamShape(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rec := f.do(http.MethodGet, "/_/nope", nil)
	want := `{"code":404,"message":"RouteNotFound","description":"path /_/nope does not exist","RouteNotFound":true}`
	if rec.Code != 404 || rec.Body.String() != want {
		t.Fatalf("got %d %s, want 404 %s", rec.Code, rec.Body, want)
	}
}

func TestUnknownRoutes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	paths := []string{
		"/_/invalidpath", "/metrics/crr/all", "/_/metrics", "/_/metrics/backlog", "/_/m/crr/all",
		"/_/metric/crr/all", "/_/metrics/c/all", "/_/metrics/crrr/all", "/_/metrics/ingestion/all",
		"/_/metrics/crr/all/backlo", "/_/metrics/crr/all/backlogs", "/_/metrics/crr/all/completion",
		"/_/metrics/crr/all/throughputs", "/_/metrics/crr/all/pendin", "/_/metrics/crr/site-a/progression",
		"/_/metrics/crr/site-a/progress/bucket", "/_/metrics/crr/site-a/progress/bucket/",
		"/_/metrics/crr/site-a/throughput/bucket", "/_/metrics/crr/site-a/throughput/bucket/",
		"/_/metrics/crr/site-a/progress/bucket/object", "/_/metrics/crr/site-a/progress/bucket/object?versionId=",
		"/_/metrics/crr/site-a/backlog/extra", "/_/crr", "/_/crr/statuss", "/_/crr/status/site-a/extra",
		"/_/healthcheck/", "/_/crr/status/", "/_/backbeat/api/healthcheck", "/_/openapi.json",
		"/_/console/", "/_/console/nope.js", "/_/console/static/console.js", "/_/consoles",
	}
	for _, p := range paths {
		rec := f.do(http.MethodGet, p, nil)
		if rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404: %s", p, rec.Code, rec.Body)
			continue
		}
		wantError(t, rec, http.StatusNotFound, ErrNameRouteNotFound)
	}
	for _, p := range []string{"/_/crr/pause/site-a/schedule", "/_/crr/resume/site-a/other", "/_/crr/failed/x", "/_/nope"} {
		wantError(t, f.do(http.MethodPost, p, nil), http.StatusNotFound, ErrNameRouteNotFound)
	}
}

func TestUnknownSite(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, r := range []struct{ method, path string }{
		{"GET", "/_/metrics/crr/wrong-site"},
		{"GET", "/_/metrics/crr/wrong-site/completions"},
		{"GET", "/_/metrics/crr/wrong-site/progress/b/k?versionId=v"},
		{"GET", "/_/metrics/crr/wrong-site/throughput/b/k?versionId=v"},
		{"POST", "/_/crr/pause/wrong-site"},
		{"POST", "/_/crr/resume/wrong-site"},
		{"POST", "/_/crr/resume/wrong-site/schedule"},
		{"DELETE", "/_/crr/resume/wrong-site/schedule"},
		{"GET", "/_/crr/resume/wrong-site"},
		{"GET", "/_/crr/status/wrong-site"},
	} {
		rec := f.do(r.method, r.path, nil)
		if rec.Code != http.StatusNotFound {
			t.Errorf("%s %s: %d, want 404: %s", r.method, r.path, rec.Code, rec.Body)
			continue
		}
		wantError(t, rec, http.StatusNotFound, ErrNameRouteNotFound, `"wrong-site" does not exist`, "site-a, site-b")
	}
	// Object metrics are per site: "all" is not a site there.
	wantError(t, f.do(http.MethodGet, "/_/metrics/crr/all/progress/b/k?versionId=v", nil), http.StatusNotFound, ErrNameRouteNotFound, `"all" does not exist`)
	for _, s := range f.sites {
		if f.state(s).Paused {
			t.Errorf("site %s paused by a request naming an unknown site", s)
		}
	}
}

func TestMethodNotAllowed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, r := range []struct{ method, path, allow string }{
		{"DELETE", "/_/healthcheck", "GET, HEAD"},
		{"POST", "/_/healthcheck", "GET, HEAD"},
		{"POST", "/_/monitoring/metrics", "GET, HEAD"},
		{"PUT", "/_/crr/pause", "POST"},
		{"HEAD", "/_/crr/pause/site-a", "POST"},
		{"PATCH", "/_/crr/failed", "GET, POST, HEAD"},
		{"PUT", "/_/crr/resume/site-a/schedule", "DELETE, GET, POST, HEAD"},
		{"PUT", "/_/metrics/crr/all", "GET, HEAD"},
	} {
		rec := f.do(r.method, r.path, nil)
		if rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: %d, want 405: %s", r.method, r.path, rec.Code, rec.Body)
			continue
		}
		wantError(t, rec, http.StatusMethodNotAllowed, ErrNameMethodNotAllowed)
		if got := rec.Header().Get("Allow"); got != r.allow {
			t.Errorf("%s %s: Allow %q, want %q", r.method, r.path, got, r.allow)
		}
	}
	if rec := f.do(http.MethodHead, "/_/healthcheck", nil); rec.Code != http.StatusOK {
		t.Errorf("HEAD /_/healthcheck: %d", rec.Code)
	}
}

func TestHealthcheck(t *testing.T) {
	t.Parallel()
	t.Run("healthy", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		rec := f.do(http.MethodGet, "/_/healthcheck", nil)
		want := `{"topics":{},"internalConnections":{"kafka":{"status":"ok"},"redis":{"status":"ok"},` + noZookeeperJSON + `},"status":"ok"}`
		if rec.Code != 200 || rec.Body.String() != want {
			t.Fatalf("got %d %s, want 200 %s", rec.Code, rec.Body, want)
		}
	})
	t.Run("no checks", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, withDeps(func(d *Deps) { d.Health = nil }))
		rec := f.do(http.MethodGet, "/_/healthcheck", nil)
		if want := `{"topics":{},"internalConnections":{` + noZookeeperJSON + `},"status":"ok"}`; rec.Code != 200 || rec.Body.String() != want {
			t.Fatalf("got %d %s, want 200 %s", rec.Code, rec.Body, want)
		}
	})
	t.Run("unhealthy", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, withDeps(func(d *Deps) {
			d.Health = map[string]func(context.Context) error{
				"kafka": func(context.Context) error { return nil },
				"redis": func(context.Context) error { return errors.New("dial tcp 127.0.0.1:16379: connection refused") },
				"mongo": func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() },
				"s3":    func(context.Context) error { panic("boom") },
			}
		}), func(_ *Deps, c *Config) { c.HealthTimeout = 20 * time.Millisecond })
		rec := f.do(http.MethodGet, "/_/healthcheck", nil)
		body := decode[struct {
			Status              string                           `json:"status"`
			InternalConnections map[string]apiwire.ServiceHealth `json:"internalConnections"`
		}](t, rec, http.StatusInternalServerError)
		want := map[string]string{"kafka": "", "redis": "connection refused", "mongo": "deadline exceeded", "s3": "panicked", "zookeeper": ""}
		if body.Status != "error" || len(body.InternalConnections) != len(want) {
			t.Fatalf("body %s", rec.Body)
		}
		for name, errPart := range want {
			st := body.InternalConnections[name]
			if errPart == "" && st.Status != "ok" || errPart != "" && (st.Status != "error" || !strings.Contains(st.Error, errPart)) {
				t.Errorf("%s: %+v, want error containing %q", name, st, errPart)
			}
		}
	})
}

func TestPrometheusRoutes(t *testing.T) {
	t.Parallel()
	t.Run("without registry", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		for _, p := range []string{"/metrics", "/_/monitoring/metrics"} {
			rec := f.do(http.MethodGet, p, nil)
			if rec.Code != 200 || rec.Header().Get("Content-Type") != prometheusContentType || rec.Body.Len() != 0 {
				t.Errorf("GET %s: %d %q %q", p, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
			}
		}
	})
	t.Run("with registry", func(t *testing.T) {
		t.Parallel()
		const exposition = "# TYPE backbeat_test_total counter\nbackbeat_test_total 3\n"
		f := newFixture(t, withDeps(func(d *Deps) {
			d.Prometheus = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", prometheusContentType)
				_, _ = io.WriteString(w, exposition)
			})
		}))
		for _, p := range []string{"/metrics", "/_/monitoring/metrics"} {
			if rec := f.do(http.MethodGet, p, nil); rec.Code != 200 || rec.Body.String() != exposition {
				t.Errorf("GET %s: %d %q", p, rec.Code, rec.Body)
			}
		}
	})
}

func TestOpenAPIRoute(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rec := f.do(http.MethodGet, "/_/openapi.yaml", nil)
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/yaml" || rec.Body.String() != string(OpenAPI()) {
		t.Fatalf("GET /_/openapi.yaml: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	if _, err := parseOpenAPI(rec.Body.Bytes()); err != nil {
		t.Fatal(err)
	}
}

// seedMetrics records, for site-a, 15 queued and 3 completed 30 minutes
// ago, then 9 completed and 1 failed now; for site-b, 2 queued and 1
// failed now. All of 100 bytes for site-a, 50 for site-b.
func seedMetrics(f *fixture) {
	f.record("site-a", ports.MetricQueued, 15, 100)
	f.record("site-a", ports.MetricCompleted, 3, 100)
	f.advance(30 * time.Minute)
	f.record("site-a", ports.MetricCompleted, 9, 100)
	f.record("site-a", ports.MetricFailed, 1, 100)
	f.record("site-b", ports.MetricQueued, 2, 50)
	f.record("site-b", ports.MetricFailed, 1, 50)
}

func TestSiteMetrics(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	seedMetrics(f)
	const (
		backlog   = `"backlog":{"description":"Number of incomplete replication operations (count) and number of incomplete bytes transferred (size)","results":{"count":%d,"size":%d}}`
		completed = `"completions":{"description":"Number of completed replication operations (count) and number of bytes transferred (size) in the last 86400 seconds","results":{"count":%d,"size":%d},"windowSeconds":86400}`
		failures  = `"failures":{"description":"Number of failed replication operations (count) and bytes (size) in the last 86400 seconds","results":{"count":%d,"size":%d},"windowSeconds":86400}`
		tput      = `"throughput":{"description":"Current throughput for replication operations in ops/sec (count) and bytes/sec (size) in the last 900 seconds","results":{"count":%q,"size":%q},"windowSeconds":900}`
		pending   = `"pending":{"description":"Number of pending replication operations (count) and bytes (size)","results":{"count":%d,"size":%d}}`
	)
	type want struct {
		backlog, completions, failures [2]int64
		throughput                     [2]string
	}
	for site, w := range map[string]want{
		"site-a": {backlog: [2]int64{2, 200}, completions: [2]int64{12, 1200}, failures: [2]int64{1, 100}, throughput: [2]string{"0.01", "1.00"}},
		"site-b": {backlog: [2]int64{1, 50}, completions: [2]int64{0, 0}, failures: [2]int64{1, 50}, throughput: [2]string{"0.00", "0.00"}},
		"all":    {backlog: [2]int64{3, 250}, completions: [2]int64{12, 1200}, failures: [2]int64{2, 150}, throughput: [2]string{"0.01", "1.00"}},
	} {
		parts := map[string]string{
			"backlog":     fmt.Sprintf(backlog, w.backlog[0], w.backlog[1]),
			"completions": fmt.Sprintf(completed, w.completions[0], w.completions[1]),
			"failures":    fmt.Sprintf(failures, w.failures[0], w.failures[1]),
			"throughput":  fmt.Sprintf(tput, w.throughput[0], w.throughput[1]),
			"pending":     fmt.Sprintf(pending, w.backlog[0], w.backlog[1]),
		}
		all := "{" + strings.Join([]string{parts["backlog"], parts["completions"], parts["failures"], parts["throughput"], parts["pending"]}, ",") + "}"
		for _, p := range []string{"/_/metrics/crr/" + site, "/_/metrics/crr/" + site + "/all"} {
			if rec := f.do(http.MethodGet, p, nil); rec.Code != 200 || rec.Body.String() != all {
				t.Errorf("GET %s:\n got %d %s\nwant %s", p, rec.Code, rec.Body, all)
			}
		}
		for typ, part := range parts {
			p := "/_/metrics/crr/" + site + "/" + typ
			if rec := f.do(http.MethodGet, p, nil); rec.Code != 200 || rec.Body.String() != "{"+part+"}" {
				t.Errorf("GET %s:\n got %d %s\nwant {%s}", p, rec.Code, rec.Body, part)
			}
		}
	}
}

// TestSiteMetricsWindows checks windowSeconds: the configured window for
// completions and failures, throughput's own, none for what is pending now.
func TestSiteMetricsWindows(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(_ *Deps, c *Config) { c.MetricsWindow = 90 * time.Minute })
	m := decode[siteMetricsBody](t, f.do(http.MethodGet, "/_/metrics/crr/all", nil), 200)
	got := [5]int64{m.Backlog.WindowSeconds, m.Completions.WindowSeconds, m.Failures.WindowSeconds, m.Throughput.WindowSeconds, m.Pending.WindowSeconds}
	if want := [5]int64{0, 5400, 5400, 900, 0}; got != want {
		t.Fatalf("windowSeconds of backlog, completions, failures, throughput, pending: %v, want %v", got, want)
	}
	rec := f.do(http.MethodGet, "/_/metrics/crr/site-a/completions", nil)
	if want := `"windowSeconds":5400}`; !strings.Contains(rec.Body.String(), want) || !strings.Contains(rec.Body.String(), "in the last 5400 seconds") {
		t.Fatalf("completions: %s, want %s and the same window in the description", rec.Body, want)
	}
	if rec := f.do(http.MethodGet, "/_/metrics/crr/site-a/pending", nil); strings.Contains(rec.Body.String(), "windowSeconds") {
		t.Fatalf("pending has a window: %s", rec.Body)
	}
}

func TestSiteMetricsWithoutData(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := decode[siteMetricsBody](t, f.do(http.MethodGet, "/_/metrics/crr/all", nil), 200)
	if m.Backlog.Results != (countResult{}) || m.Completions.Results != (countResult{}) || m.Failures.Results != (countResult{}) ||
		m.Pending.Results != (countResult{}) || m.Throughput.Results != (rateResult{Count: "0.00", Size: "0.00"}) {
		t.Fatalf("metrics without data: %+v", m)
	}
}

type failingMetrics struct{ ports.MetricsRecorder }

func (failingMetrics) Site(context.Context, string, time.Duration) (ports.SiteMetrics, error) {
	return ports.SiteMetrics{}, errors.New("redis: connection refused")
}

func TestSiteMetricsBackendError(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withDeps(func(d *Deps) { d.Operator.Metrics = failingMetrics{d.Operator.Metrics} }))
	for _, p := range []string{"/_/metrics/crr/all", "/_/metrics/crr/site-a/throughput", "/_/metrics/crr/site-b/pending"} {
		wantError(t, f.do(http.MethodGet, p, nil), http.StatusInternalServerError, ErrNameInternalError, "redis: connection refused")
	}
}

func TestObjectMetrics(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.putVersion("bkt-om", "dir/sub/obj", "v1", 1000, map[string]domain.Status{"site-a": domain.StatusCompleted})
	for _, c := range []struct {
		path string
		want apiwire.ObjectProgress
	}{
		{"/_/metrics/crr/site-a/progress/bkt-om/dir/sub/obj?versionId=v1", apiwire.ObjectProgress{Description: descObjectProgress, Pending: 0, Completed: 1000, Progress: "100%"}},
		{"/_/metrics/crr/site-b/progress/bkt-om/dir/sub/obj?versionId=v1", apiwire.ObjectProgress{Description: descObjectProgress, Pending: 1000, Completed: 0, Progress: "0%"}},
		{"/_/metrics/crr/site-a/progress/bkt-om/dir%2Fsub/obj?versionId=v1", apiwire.ObjectProgress{Description: descObjectProgress, Pending: 0, Completed: 1000, Progress: "100%"}},
		{"/_/metrics/crr/site-a/progress/bucket/object?versionId=version", apiwire.ObjectProgress{Description: descObjectProgress, Pending: 0, Completed: 0, Progress: "0%"}},
	} {
		if got := decode[apiwire.ObjectProgress](t, f.do(http.MethodGet, c.path, nil), 200); got != c.want {
			t.Errorf("GET %s: %+v, want %+v", c.path, got, c.want)
		}
	}
	// Upstream's exact answer without data (tests/functional/api/routes.js).
	rec := f.do(http.MethodGet, "/_/metrics/crr/site-a/throughput/bucket/object?versionId=version", nil)
	want := `{"description":"Current throughput for object replication in bytes/sec (throughput)","throughput":"0.00"}`
	if rec.Code != 200 || rec.Body.String() != want {
		t.Errorf("object throughput: %d %s, want %s", rec.Code, rec.Body, want)
	}
	rec = f.do(http.MethodGet, "/_/metrics/crr/site-a/progress/bucket/object?versionId=version", nil)
	want = `{"description":"Number of bytes to be replicated (pending), number of bytes transferred to the destination (completed), and percentage of the object that has completed replication (progress)","pending":0,"completed":0,"progress":"0%"}`
	if rec.Code != 200 || rec.Body.String() != want {
		t.Errorf("object progress: %d %s, want %s", rec.Code, rec.Body, want)
	}
}

func TestListFailed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.putVersion("bkt-lf", "dir/a", "v1", 1000, map[string]domain.Status{"site-a": domain.StatusFailed})
	f.fail("site-a", "bkt-lf", "dir/a", "v1", time.Minute)

	rec := f.do(http.MethodGet, "/_/crr/failed", nil)
	if want := `{"IsTruncated":false,"Versions":[]}`; rec.Code != 200 || rec.Body.String() != want {
		t.Fatalf("without a site: %d %s, want %s", rec.Code, rec.Body, want)
	}
	want := `{"IsTruncated":false,"Versions":[{"Bucket":"bkt-lf","Key":"dir/a","VersionId":"v1","StorageClass":"site-a","Size":1000,"LastModified":"2030-03-04T09:00:00.123Z","FailedAt":"2030-03-04T10:06:30.000Z","Reason":"AccessDenied at the site"}]}`
	for _, q := range []string{"?sitename=site-a", "?site=site-a", "?marker=0&sitename=site-a", "?sitename=site-a&site=site-a"} {
		if rec := f.do(http.MethodGet, "/_/crr/failed"+q, nil); rec.Code != 200 || rec.Body.String() != want {
			t.Errorf("GET /_/crr/failed%s: %d %s, want %s", q, rec.Code, rec.Body, want)
		}
	}
	if rec := f.do(http.MethodGet, "/_/crr/failed?sitename=site-b", nil); rec.Body.String() != `{"IsTruncated":false,"Versions":[]}` {
		t.Errorf("site-b: %s", rec.Body)
	}
	// A marker before every failure lists nothing, as upstream's unknown marker.
	if rec := f.do(http.MethodGet, "/_/crr/failed?marker=9999999999&sitename=site-a", nil); rec.Body.String() != `{"IsTruncated":false,"Versions":[]}` {
		t.Errorf("old marker: %s", rec.Body)
	}
}

func TestListFailedBadQuery(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for q, desc := range map[string]string{
		"?marker=foo":                   "marker must be a number",
		"?marker=":                      "marker must be a number",
		"?marker=1.5&sitename=site-a":   "marker must be a number",
		"?marker=12abc&sitename=site-a": "marker must be a number",
		"?marker=-1&sitename=site-a":    "must not be negative",
		"?sitename=":                    "sitename must be a non-empty string",
		"?site=":                        "site must be a non-empty string",
		"?sitename=site-a&site=site-b":  "differ",
	} {
		wantError(t, f.do(http.MethodGet, "/_/crr/failed"+q, nil), http.StatusBadRequest, ErrNameInvalidQueryParameter, desc)
	}
}

func TestListFailedPagination(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const n = 250
	for i := range n {
		key := fmt.Sprintf("k-%03d", i)
		if i%50 != 7 { // some versions are gone: they are left out
			f.putVersion("bkt-pg", key, "v", 10, map[string]domain.Status{"site-b": domain.StatusFailed})
		}
		f.fail("site-b", "bkt-pg", key, "v", time.Duration(n-i)*time.Second)
	}
	seen := map[string]bool{}
	var marker int64
	pages := 0
	for {
		q := "/_/crr/failed?sitename=site-b"
		if marker != 0 {
			q += fmt.Sprint("&marker=", marker)
		}
		page := decode[apiwire.FailedPage](t, f.do(http.MethodGet, q, nil), 200)
		pages++
		if len(page.Versions) > FailedPageSize {
			t.Fatalf("page of %d entries", len(page.Versions))
		}
		var last string
		for _, v := range page.Versions {
			if seen[v.Key] {
				t.Fatalf("%s listed twice", v.Key)
			}
			if last != "" && v.Key > last {
				t.Fatalf("not newest first: %s after %s", v.Key, last)
			}
			seen[v.Key], last = true, v.Key
		}
		if !page.IsTruncated {
			if page.NextMarker != nil {
				t.Fatalf("NextMarker %d on the last page", *page.NextMarker)
			}
			break
		}
		if page.NextMarker == nil || *page.NextMarker <= 0 {
			t.Fatalf("truncated page without a NextMarker")
		}
		marker = *page.NextMarker
		if pages > 10 {
			t.Fatal("listing does not end")
		}
	}
	if pages != 3 || len(seen) != n-n/50 {
		t.Fatalf("%d pages, %d entries; want 3 pages, %d entries", pages, len(seen), n-n/50)
	}
}

type failingMetadata struct{ ports.MetadataStore }

func (failingMetadata) Version(context.Context, string, string, string) (domain.ObjectVersion, error) {
	return domain.ObjectVersion{}, errors.New("mongo: server selection timeout")
}

func TestListFailedMetadataError(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withDeps(func(d *Deps) { d.Operator.Metadata = failingMetadata{d.Operator.Metadata} }))
	f.fail("site-a", "bkt", "k", "v", time.Second)
	wantError(t, f.do(http.MethodGet, "/_/crr/failed?sitename=site-a", nil), http.StatusInternalServerError, ErrNameInternalError, "server selection timeout")
	wantError(t, f.do(http.MethodGet, "/_/crr/failed/bkt/k/v", nil), http.StatusInternalServerError, ErrNameInternalError, "server selection timeout")
	wantError(t, f.do(http.MethodGet, "/_/metrics/crr/site-a/progress/bkt/k?versionId=v", nil), http.StatusInternalServerError, ErrNameInternalError)
}

func TestFailedVersion(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const key = "dir/a b%c"
	f.putVersion("bkt-fv", key, "v1", 7, map[string]domain.Status{"site-a": domain.StatusFailed, "site-b": domain.StatusFailed})
	f.putVersion("bkt-fv", "dir/other", "v1", 7, map[string]domain.Status{"site-a": domain.StatusFailed})
	f.fail("site-a", "bkt-fv", key, "v1", time.Minute)
	f.fail("site-b", "bkt-fv", key, "v1", 2*time.Minute)
	f.fail("site-a", "bkt-fv", "dir/other", "v1", time.Minute)
	for _, p := range []string{
		"/_/crr/failed/bkt-fv/dir/a%20b%25c?versionId=v1",
		"/_/crr/failed/bkt-fv/dir%2Fa%20b%25c?versionId=v1",
		"/_/crr/failed/bkt-fv/dir/a%20b%25c/v1",
	} {
		page := decode[apiwire.FailedPage](t, f.do(http.MethodGet, p, nil), 200)
		var sites []string
		for _, v := range page.Versions {
			if v.Bucket != "bkt-fv" || v.Key != key || v.VersionID != "v1" || v.Size != 7 {
				t.Errorf("GET %s: entry %+v", p, v)
			}
			sites = append(sites, v.StorageClass)
		}
		slices.Sort(sites)
		if page.IsTruncated || !slices.Equal(sites, []string{"site-a", "site-b"}) {
			t.Errorf("GET %s: %+v", p, page)
		}
	}
	rec := f.do(http.MethodGet, "/_/crr/failed/test-bucket/test-key/test-versionId", nil)
	if want := `{"IsTruncated":false,"Versions":[]}`; rec.Code != 200 || rec.Body.String() != want {
		t.Errorf("unknown version: %d %s", rec.Code, rec.Body)
	}
}

// entries reads the entries published to the entry topic, waiting for n.
func (f *fixture) entries(n int) []domain.Entry {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ch, err := f.bus.Subscribe(ctx, app.DefaultTopics.Entries, "test-reader")
	if err != nil {
		f.t.Fatal(err)
	}
	var out []domain.Entry
	for len(out) < n {
		select {
		case d, ok := <-ch:
			if !ok {
				f.t.Fatalf("subscription ended after %d of %d entries", len(out), n)
			}
			e, _, err := domain.DecodeEntry(d.Payload)
			if err != nil {
				f.t.Fatal(err)
			}
			d.Ack()
			out = append(out, e)
		case <-ctx.Done():
			f.t.Fatalf("got %d of %d entries", len(out), n)
		}
	}
	return out
}

func TestRetryFailed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.putVersion("bkt-rt", "dir/k", "v1", 1000, map[string]domain.Status{"site-a": domain.StatusFailed})
	f.fail("site-a", "bkt-rt", "dir/k", "v1", time.Minute)
	body := `[{"Bucket":"bkt-rt","Key":"dir/k","VersionId":"v1","StorageClass":"site-a","Role":"ignored"},` +
		`{"Bucket":"bkt-rt","Key":"dir/k","VersionId":"v1","StorageClass":"site-a"}]`
	rec := f.do(http.MethodPost, "/_/crr/failed", body)
	want := `[{"Bucket":"bkt-rt","Key":"dir/k","VersionId":"v1","StorageClass":"site-a","Size":1000,"LastModified":"2030-03-04T09:00:00.123Z","ReplicationStatus":"PENDING"}]`
	if rec.Code != 200 || rec.Body.String() != want {
		t.Fatalf("retry: %d %s, want %s", rec.Code, rec.Body, want)
	}
	v, err := f.meta.Version(context.Background(), "bkt-rt", "dir/k", "v1")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := v.Site("site-a"); b.Status != domain.StatusPending {
		t.Errorf("site-a is %s after retry, want PENDING", b.Status)
	}
	if found, _ := f.failures.Find(context.Background(), "bkt-rt", "dir/k", "v1"); len(found) != 0 {
		t.Errorf("still listed as failed: %+v", found)
	}
	if e := f.entries(1)[0]; e.Site != "site-a" || e.Bucket != "bkt-rt" {
		t.Errorf("queued entry %+v", e)
	}
	// Retrying again: it is no longer failed, so nothing is retried.
	if rec := f.do(http.MethodPost, "/_/crr/failed", body); rec.Code != 200 || rec.Body.String() != "[]" {
		t.Errorf("second retry: %d %s, want []", rec.Code, rec.Body)
	}
}

func TestRetryFailedSkipsWhatUpstreamSkips(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.putVersion("bkt-sk", "failed-unlisted", "v1", 5, map[string]domain.Status{"site-b": domain.StatusFailed})
	f.putVersion("bkt-sk", "completed", "v1", 5, map[string]domain.Status{"site-b": domain.StatusCompleted})
	f.fail("site-b", "bkt-sk", "gone", "v1", time.Minute)
	entry := func(key string, force bool) map[string]any {
		return map[string]any{"Bucket": "bkt-sk", "Key": key, "VersionId": "v1", "StorageClass": "site-b", "ForceRetry": force}
	}
	for name, c := range map[string]struct {
		body any
		want []string
	}{
		"not listed":             {[]any{entry("failed-unlisted", false)}, nil},
		"not listed, forced":     {[]any{entry("failed-unlisted", true)}, []string{"failed-unlisted"}},
		"completed, forced":      {[]any{entry("completed", true)}, nil},
		"version gone":           {[]any{entry("gone", false)}, nil},
		"version unknown forced": {[]any{entry("unknown", true)}, nil},
	} {
		got := decode[[]apiwire.RetriedVersion](t, f.do(http.MethodPost, "/_/crr/failed", c.body), 200)
		var keys []string
		for _, v := range got {
			keys = append(keys, v.Key)
		}
		if !slices.Equal(keys, c.want) {
			t.Errorf("%s: retried %v, want %v", name, keys, c.want)
		}
	}
}

func TestRetryFailedBadBodies(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	many := make([]map[string]string, MaxRetryEntries+1)
	for i := range many {
		many[i] = map[string]string{"Bucket": "b", "Key": fmt.Sprint(i), "VersionId": "v", "StorageClass": "site-a"}
	}
	for body, desc := range map[string]string{
		`a`:            "invalid JSON",
		`{}`:           "body must be a non-empty array",
		`"x"`:          "body must be a non-empty array",
		`null`:         "body must be a non-empty array",
		`[]`:           "body must be a non-empty array",
		`["a"]`:        "body must be an array of objects",
		`[null]`:       "body must be an array of objects",
		`[[]]`:         "body must be an array of objects",
		``:             "invalid JSON",
		`[{}] trailer`: "invalid JSON",
		`[{"Key":"b","VersionId":"c","StorageClass":"site-a"}]`:                                 "entry 0: Bucket must be a non-empty string",
		`[{"Bucket":"a","VersionId":"c","StorageClass":"site-a"}]`:                              "entry 0: Key must be a non-empty string",
		`[{"Bucket":"a","Key":"b","VersionId":"c"}]`:                                            "entry 0: StorageClass must be a non-empty string",
		`[{"Bucket":"a","Key":"b","VersionId":3,"StorageClass":"site-a"}]`:                      "entry 0: VersionId must be a string",
		`[{"bucket":"a","Key":"b","VersionId":"c","StorageClass":"site-a"}]`:                    "Bucket must be a non-empty string",
		`[{"Bucket":1,"Key":"b","VersionId":"c","StorageClass":"site-a"}]`:                      "Bucket must be a non-empty string",
		`[{"Bucket":"","Key":"b","VersionId":"c","StorageClass":"site-a"}]`:                     "Bucket must be a non-empty string",
		`[{"Bucket":"a","Key":"b","VersionId":"c","StorageClass":5}]`:                           "StorageClass must be a non-empty string",
		`[{"Bucket":"a","Key":"b","VersionId":"c","StorageClass":"site-a","ForceRetry":"yes"}]`: "ForceRetry must be a boolean",
		`[{"Bucket":"a","Key":"b","VersionId":"c","StorageClass":"site-a"},{"Bucket":"a"}]`:     "entry 1: Key must be a non-empty string; entry 1: StorageClass",
		mustJSON(many): fmt.Sprintf("more than the %d allowed", MaxRetryEntries),
	} {
		rec := f.do(http.MethodPost, "/_/crr/failed", body)
		if rec.Code != http.StatusBadRequest {
			t.Errorf("body %.80s: %d %s, want 400", body, rec.Code, rec.Body)
			continue
		}
		wantError(t, rec, http.StatusBadRequest, ErrNameMalformedPOSTRequest, malformedPrefix, desc)
	}
}

type failingPublisher struct{ ports.Publisher }

func (failingPublisher) Publish(context.Context, string, ...ports.Message) error {
	return errors.New("kafka: leader not available")
}

func TestRetryFailedBackendError(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.deps.Retrier.Publisher = failingPublisher{}
	f.putVersion("bkt-be", "k", "v1", 5, map[string]domain.Status{"site-a": domain.StatusFailed})
	f.fail("site-a", "bkt-be", "k", "v1", time.Minute)
	body := `[{"Bucket":"bkt-be","Key":"k","VersionId":"v1","StorageClass":"site-a"}]`
	wantError(t, f.do(http.MethodPost, "/_/crr/failed", body), http.StatusInternalServerError, ErrNameInternalError,
		"re-queued 0 of 1 entries", "bkt-be/k v1 for site-a", "leader not available")
}

func TestBodyTooLarge(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withMaxBody(64))
	big := `[{"Bucket":"b","Key":"` + strings.Repeat("k", 100) + `","VersionId":"v","StorageClass":"site-a"}]`
	wantError(t, f.do(http.MethodPost, "/_/crr/failed", big), http.StatusRequestEntityTooLarge, ErrNameMaxMessageLength, "64 bytes")
	// Without a Content-Length (chunked), the limit holds while reading.
	for _, p := range []string{"/_/crr/failed", "/_/crr/resume/site-a/schedule"} {
		req := httptest.NewRequest(http.MethodPost, p, io.MultiReader(strings.NewReader(big)))
		if req.ContentLength != -1 {
			req.ContentLength = -1
		}
		rec := httptest.NewRecorder()
		f.h.ServeHTTP(rec, req)
		wantError(t, rec, http.StatusRequestEntityTooLarge, ErrNameMaxMessageLength)
	}
	// Even routes that ignore their body refuse one that is too large.
	wantError(t, f.do(http.MethodPost, "/_/crr/pause", big), http.StatusRequestEntityTooLarge, ErrNameMaxMessageLength)
	if f.state("site-a").Paused {
		t.Error("paused by a refused request")
	}
}

func TestPauseResume(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	status := func(p string) string { return f.do(http.MethodGet, p, nil).Body.String() }
	ok := func(method, p string, body any) {
		t.Helper()
		if rec := f.do(method, p, body); rec.Code != 200 || rec.Body.String() != "{}" {
			t.Fatalf("%s %s: %d %s, want 200 {}", method, p, rec.Code, rec.Body)
		}
	}
	if got := status("/_/crr/status"); got != `{"site-a":"enabled","site-b":"enabled"}` {
		t.Fatalf("initial status %s", got)
	}
	ok(http.MethodPost, "/_/crr/pause/site-a", nil)
	if got := status("/_/crr/status"); got != `{"site-a":"disabled","site-b":"enabled"}` {
		t.Fatalf("status after pausing site-a: %s", got)
	}
	if got := status("/_/crr/status/site-b"); got != `{"site-b":"enabled"}` {
		t.Fatalf("status of site-b: %s", got)
	}
	ok(http.MethodPost, "/_/crr/pause", "ignored body")
	if got := status("/_/crr/status/all"); got != `{"site-a":"disabled","site-b":"disabled"}` {
		t.Fatalf("status after pausing all: %s", got)
	}
	ok(http.MethodPost, "/_/crr/resume/site-b", nil)
	if got := status("/_/crr/status"); got != `{"site-a":"disabled","site-b":"enabled"}` {
		t.Fatalf("status after resuming site-b: %s", got)
	}
	ok(http.MethodPost, "/_/crr/resume", nil)
	ok(http.MethodPost, "/_/crr/pause/all", nil)
	ok(http.MethodPost, "/_/crr/resume/all", nil)
	if got := status("/_/crr/status"); got != `{"site-a":"enabled","site-b":"enabled"}` {
		t.Fatalf("status after resuming all: %s", got)
	}
}

func TestScheduledResume(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	now := f.clock()
	schedule := func(p string) string { return f.do(http.MethodGet, p, nil).Body.String() }
	ok := func(method, p string, body any) {
		t.Helper()
		if rec := f.do(method, p, body); rec.Code != 200 || rec.Body.String() != "{}" {
			t.Fatalf("%s %s: %d %s, want 200 {}", method, p, rec.Code, rec.Body)
		}
	}
	// A running site gets no schedule, as upstream.
	ok(http.MethodPost, "/_/crr/resume/site-a/schedule", `{"hours": 1}`)
	if got := schedule("/_/crr/resume/site-a"); got != `{"site-a":"none"}` {
		t.Fatalf("schedule of a running site: %s", got)
	}
	ok(http.MethodPost, "/_/crr/pause", nil)
	for body, in := range map[string]time.Duration{
		`{"hours": 1}`:   time.Hour,
		`{"hours": "3"}`: 3 * time.Hour,
		``:               6 * time.Hour,
		`{}`:             6 * time.Hour,
		`{"hours":null}`: 6 * time.Hour,
		`{"at": "` + now.Add(90*time.Minute).Format(time.RFC3339) + `"}`: 90 * time.Minute,
	} {
		ok(http.MethodPost, "/_/crr/resume/site-a/schedule", body)
		if got := f.state("site-a"); !got.Paused || !got.ScheduledResume.Equal(now.Add(in)) {
			t.Errorf("body %q: state %+v, want paused until %s", body, got, now.Add(in))
		}
	}
	ok(http.MethodPost, "/_/crr/resume/all/schedule", `{"hours": 2}`)
	want := `{"site-a":"2030-03-04T12:07:30.000Z","site-b":"2030-03-04T12:07:30.000Z"}`
	for _, p := range []string{"/_/crr/resume", "/_/crr/resume/all", "/_/crr/resume/all/schedule"} {
		if got := schedule(p); got != want {
			t.Errorf("GET %s: %s, want %s", p, got, want)
		}
	}
	ok(http.MethodDelete, "/_/crr/resume/site-a/schedule", nil)
	ok(http.MethodDelete, "/_/crr/resume/site-b", nil)
	if got := schedule("/_/crr/resume"); got != `{"site-a":"none","site-b":"none"}` {
		t.Errorf("after cancel: %s", got)
	}
	if !f.state("site-a").Paused || !f.state("site-b").Paused {
		t.Error("cancelling a scheduled resume resumed a site")
	}
	// A manual pause cancels a scheduled resume.
	ok(http.MethodPost, "/_/crr/resume/site-a/schedule", nil)
	ok(http.MethodPost, "/_/crr/pause/site-a", nil)
	if got := f.state("site-a"); !got.Paused || !got.ScheduledResume.IsZero() {
		t.Errorf("after pause: %+v", got)
	}
}

func TestScheduledResumeBadBodies(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.setState("site-a", ports.SiteState{Paused: true})
	now := f.clock()
	for body, desc := range map[string]string{
		`not json`:           "must be a JSON object",
		`[1]`:                "must be a JSON object",
		`"6"`:                "must be a JSON object",
		`{"hours": 0}`:       "hours must be an integer greater than 0",
		`{"hours": -1}`:      "hours must be an integer greater than 0",
		`{"hours": 1.5}`:     "hours must be an integer greater than 0",
		`{"hours": "abc"}`:   "hours must be an integer greater than 0",
		`{"hours": true}`:    "hours must be an integer greater than 0",
		`{"hours": 8761}`:    "hours must be at most 8760",
		`{"at": 5}`:          "at must be a string",
		`{"at": "tomorrow"}`: "at must be an RFC 3339 time",
		`{"at": "` + now.Add(-time.Minute).Format(time.RFC3339) + `"}`:          "must be in the future",
		`{"at": "` + now.Add(9000*time.Hour).Format(time.RFC3339) + `"}`:        "must be within 8760 hours",
		`{"hours": 1, "at": "` + now.Add(time.Hour).Format(time.RFC3339) + `"}`: "not both",
	} {
		wantError(t, f.do(http.MethodPost, "/_/crr/resume/site-a/schedule", body), http.StatusBadRequest, ErrNameMalformedPOSTRequest, desc)
	}
	if got := f.state("site-a"); !got.ScheduledResume.IsZero() {
		t.Errorf("a refused request scheduled a resume: %+v", got)
	}
}

func TestAuth(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withToken("s3cret"))
	for _, c := range []struct {
		header string
		status int
		name   string
	}{
		{"", http.StatusUnauthorized, ErrNameUnauthorized},
		{"Basic czNjcmV0", http.StatusUnauthorized, ErrNameUnauthorized},
		{"Bearer", http.StatusUnauthorized, ErrNameUnauthorized},
		{"Bearer ", http.StatusUnauthorized, ErrNameUnauthorized},
		{"Bearer wrong", http.StatusForbidden, ErrNameAccessDenied},
		{"Bearer s3cret2", http.StatusForbidden, ErrNameAccessDenied},
	} {
		for _, r := range []struct{ method, path, body string }{
			{"POST", "/_/crr/pause", ""},
			{"POST", "/_/crr/resume/site-a/schedule", ""},
			{"DELETE", "/_/crr/resume/site-a/schedule", ""},
			{"POST", "/_/crr/failed", `[{"Bucket":"b","Key":"k","VersionId":"v","StorageClass":"site-a"}]`},
		} {
			rec := f.do(r.method, r.path, r.body, "Authorization", c.header)
			wantError(t, rec, c.status, c.name)
			if c.status == http.StatusUnauthorized && rec.Header().Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s: 401 without WWW-Authenticate", r.method, r.path)
			}
		}
	}
	if f.state("site-a").Paused {
		t.Fatal("paused without a valid token")
	}
	for _, h := range []string{"Bearer s3cret", "bearer s3cret", "Bearer  s3cret "} {
		if rec := f.do(http.MethodPost, "/_/crr/pause/site-a", nil, "Authorization", h); rec.Code != 200 {
			t.Errorf("Authorization %q: %d %s", h, rec.Code, rec.Body)
		}
	}
	if !f.state("site-a").Paused {
		t.Fatal("not paused with the token")
	}
	// Reads stay open; unknown routes are 404 before any token check.
	for _, p := range []string{"/_/crr/status", "/_/healthcheck", "/_/metrics/crr/all", "/_/crr/failed?sitename=site-a"} {
		if rec := f.do(http.MethodGet, p, nil); rec.Code != 200 {
			t.Errorf("GET %s without a token: %d", p, rec.Code)
		}
	}
	wantError(t, f.do(http.MethodPost, "/_/nope", nil), http.StatusNotFound, ErrNameRouteNotFound)
}

func TestConfigAndDepsValidate(t *testing.T) {
	t.Parallel()
	err := Config{MaxBodyBytes: -1, MetricsWindow: -time.Second, HealthTimeout: -1}.Validate()
	for _, part := range []string{"MaxBodyBytes", "MetricsWindow", "HealthTimeout"} {
		if err == nil || !strings.Contains(err.Error(), part) {
			t.Errorf("Validate: %v, want a problem with %s", err, part)
		}
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero Config: %v", err)
	}
	err = Deps{}.Validate()
	for _, part := range []string{"Sites", "Retrier", "Operator"} {
		if err == nil || !strings.Contains(err.Error(), part) {
			t.Errorf("Deps.Validate: %v, want %s missing", err, part)
		}
	}
}
