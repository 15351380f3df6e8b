package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/adapters/memory"
	"github.com/openbackbeat/backbeat/app"
	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// fixture is the API over in-memory adapters, with a clock tests move.
type fixture struct {
	t        testing.TB
	h        http.Handler
	deps     Deps
	cfg      Config
	meta     *memory.Metadata
	failures *memory.Failures
	metrics  *memory.Metrics
	control  *memory.SiteControl
	bus      *memory.Bus
	sites    []string

	mu  sync.Mutex
	now time.Time
}

type fixtureOption func(*Deps, *Config)

func withToken(tok string) fixtureOption { return func(_ *Deps, c *Config) { c.Token = tok } }

func withMaxBody(n int64) fixtureOption { return func(_ *Deps, c *Config) { c.MaxBodyBytes = n } }

func withDeps(f func(*Deps)) fixtureOption { return func(d *Deps, _ *Config) { f(d) } }

func newFixture(t testing.TB, opts ...fixtureOption) *fixture {
	t.Helper()
	f := &fixture{t: t, now: time.Date(2030, 3, 4, 10, 7, 30, 0, time.UTC), sites: []string{"site-a", "site-b"}}
	var err error
	f.meta = memory.NewMetadata()
	if f.failures, err = memory.NewFailures(memory.FailuresConfig{Now: f.clock}); err != nil {
		t.Fatal(err)
	}
	if f.metrics, err = memory.NewMetrics(memory.MetricsConfig{Now: f.clock}); err != nil {
		t.Fatal(err)
	}
	f.control = memory.NewSiteControl()
	if f.bus, err = memory.NewBus(memory.BusConfig{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.bus.Close() })
	// The log goes to t: shown with -v or when the test fails. t must be
	// the test the handler runs in; inside a fuzz target that is the
	// target's *testing.T, never the *testing.F (f.Log panics there).
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	operator, err := app.NewOperator(app.OperatorDeps{Failures: f.failures, Metrics: f.metrics, Metadata: f.meta})
	if err != nil {
		t.Fatal(err)
	}
	f.deps = Deps{
		Sites: &app.SiteService{Control: f.control, Sites: f.sites},
		Retrier: &app.FailedRetrier{
			Metadata: f.meta, Failures: f.failures, Locker: memory.NewLocker(), Publisher: f.bus,
			Topics: app.DefaultTopics, Log: log,
		},
		Operator: operator,
		Health: map[string]func(context.Context) error{
			"kafka": func(context.Context) error { return nil },
			"redis": func(context.Context) error { return nil },
		},
		Log: log,
	}
	f.cfg = Config{Now: f.clock}
	for _, o := range opts {
		o(&f.deps, &f.cfg)
	}
	if err := f.deps.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := f.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	f.h = New(f.deps, f.cfg)
	return f
}

// testWriter writes each log record as one t.Log line.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}

func (f *fixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

// do sends a request to the handler; body may be nil, a string or a value
// to encode as JSON.
func (f *fixture) do(method, target string, body any, header ...string) *httptest.ResponseRecorder {
	f.t.Helper()
	var rdr io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rdr = strings.NewReader(b)
	case []byte:
		rdr = strings.NewReader(string(b))
	default:
		data, err := json.Marshal(b)
		if err != nil {
			f.t.Fatal(err)
		}
		rdr = strings.NewReader(string(data))
	}
	req := httptest.NewRequest(method, target, rdr)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec
}

// decode decodes a JSON answer, failing on a wrong status.
func decode[T any](t *testing.T, rec *httptest.ResponseRecorder, status int) T {
	t.Helper()
	var v T
	if rec.Code != status {
		t.Fatalf("status %d, want %d; body: %s", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json", ct)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("body %s: %v", rec.Body, err)
	}
	return v
}

// wantError checks an error answer: status, name, and that the
// description contains each of contains.
func wantError(t *testing.T, rec *httptest.ResponseRecorder, status int, name string, contains ...string) {
	t.Helper()
	body := decode[map[string]any](t, rec, status)
	if body["code"] != float64(status) || body["message"] != name || body[name] != true {
		t.Fatalf("error body %s, want code %d and name %s", rec.Body, status, name)
	}
	desc, _ := body["description"].(string)
	for _, c := range contains {
		if !strings.Contains(desc, c) {
			t.Errorf("description %q does not contain %q", desc, c)
		}
	}
}

// putVersion writes a version of bucket/key replicated to the fixture's
// sites with the given site statuses (default PENDING).
func (f *fixture) putVersion(bucket, key, vid string, size int64, status map[string]domain.Status) domain.ObjectVersion {
	f.t.Helper()
	ctx := context.Background()
	rule := domain.ReplicationRule{ID: "r", Enabled: true, DestinationBucket: "arn:aws:s3:::dst", StorageClass: strings.Join(f.sites, ",")}
	if _, err := f.meta.Bucket(ctx, bucket); err != nil {
		b := domain.Bucket{Name: bucket, VersioningEnabled: true, Replication: &domain.ReplicationConfig{Role: "arn:aws:iam::1:role/r", Rules: []domain.ReplicationRule{rule}}}
		if err := f.meta.PutBucket(ctx, b); err != nil {
			f.t.Fatal(err)
		}
	}
	v := domain.ObjectVersion{
		Bucket: bucket, Key: key, VersionID: vid, Size: size, ContentType: "application/octet-stream",
		LastModified: time.Date(2030, 3, 4, 9, 0, 0, 123e6, time.UTC),
		Replication:  domain.NewReplicationInfo(rule, "arn:aws:iam::1:role/r", true),
	}
	for i := range v.Replication.Backends {
		if st, ok := status[v.Replication.Backends[i].Site]; ok {
			v.Replication.Backends[i].Status = st
			if st == domain.StatusFailed {
				v.Replication.Backends[i].Reason = "AccessDenied at the site"
			}
		}
	}
	v.Replication.Status = domain.Aggregate(v.Replication.Backends)
	if err := f.meta.PutVersion(ctx, v); err != nil {
		f.t.Fatal(err)
	}
	return v
}

// fail records a failed version at site, failed at the fixture's time
// minus ago.
func (f *fixture) fail(site, bucket, key, vid string, ago time.Duration) {
	f.t.Helper()
	e := ports.FailedEntry{Site: site, Bucket: bucket, Key: key, VersionID: vid, FailedAt: f.clock().Add(-ago).Truncate(time.Millisecond)}
	if err := f.failures.Add(context.Background(), e); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) record(site string, kind ports.MetricKind, n int, bytes int64) {
	f.t.Helper()
	for range n {
		if err := f.metrics.Record(context.Background(), site, kind, 1, bytes, ports.Op{}); err != nil {
			f.t.Fatal(err)
		}
	}
}

func (f *fixture) state(site string) ports.SiteState {
	f.t.Helper()
	st, err := f.control.State(context.Background(), site)
	if err != nil {
		f.t.Fatal(err)
	}
	return st
}

func (f *fixture) setState(site string, st ports.SiteState) {
	f.t.Helper()
	if err := f.control.SetState(context.Background(), site, st); err != nil {
		f.t.Fatal(err)
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
