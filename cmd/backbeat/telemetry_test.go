package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.opentelemetry.io/otel"

	"github.com/openbackbeat/backbeat/adapters/memory"
	"github.com/openbackbeat/backbeat/app"
	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// TestPrometheusExposition runs every role on the memory backend with the
// telemetry runRoles installs, makes some copies retry, replay, fail and
// some input go to the dead-letter topic, then scrapes the Prometheus
// handler and checks each metric family by value.
func TestPrometheusExposition(t *testing.T) {
	cfg := defaults()
	cfg.Backend = "memory"
	cfg.Replication.MaxAttempts = 3
	cfg.Replication.BaseDelay, cfg.Replication.MaxDelay, cfg.Replication.MaxElapsed = time.Millisecond, 5*time.Millisecond, 10*time.Second
	cfg.Replication.MaxReplays, cfg.Replication.ReplayDelay = 2, 10*time.Millisecond
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	ctx, cancel := context.WithCancel(context.Background())
	w, err := wireMemory(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tel, err := setupTelemetry(ctx, cfg.Telemetry)
	if err != nil {
		t.Fatal(err)
	}
	w.telemetry = tel.app
	backlog, err := tel.app.ObserveBacklog(w.metrics, cfg.SiteNames())
	if err != nil {
		t.Fatal(err)
	}

	// site-a: "flaky" fails once, "replayed" spends its 3 attempts once;
	// site-b: "denied" fails for good.
	transient := map[string]int{"flaky": 1, "replayed": 3}
	var mu sync.Mutex
	w.dests["site-a"].(*memory.Objects).SetFault(func(r ports.Replica) error {
		mu.Lock()
		defer mu.Unlock()
		if transient[r.Key] > 0 {
			transient[r.Key]--
			return errors.New("503 slow down")
		}
		return nil
	})
	w.dests["site-b"].(*memory.Objects).SetFault(func(r ports.Replica) error {
		if r.Key == "denied" {
			return fmt.Errorf("%w: AccessDenied", domain.ErrPermanent)
		}
		return nil
	})

	var wg sync.WaitGroup
	start := func(name string, fn func(context.Context) error) {
		wg.Go(func() {
			if err := fn(ctx); err != nil && ctx.Err() == nil {
				t.Errorf("%s: %v", name, err)
			}
		})
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		_ = backlog.Unregister()
		_ = tel.shutdown(context.Background())
		w.close()
	})
	p := must(populator(w, cfg, log))
	start("populator", p.Run)
	<-p.Ready()
	for _, s := range cfg.SiteNames() {
		start("replicator "+s, must(replicator(w, cfg, log, s)).Run)
	}
	start("status", must(statusApplier(w, cfg, log)).Run)

	b := demoBucket("metrics", cfg.SiteNames())
	if err := createBuckets(ctx, w, b, cfg.SiteNames()); err != nil {
		t.Fatal(err)
	}
	sim := &app.Simulator{Metadata: w.writer, Objects: w.sourceObjects}
	data := make([]byte, 100)
	for _, key := range []string{"ok-1", "ok-2", "ok-3", "ok-4", "ok-5", "flaky", "replayed", "denied"} {
		if _, err := sim.PutObject(ctx, b, key, data, "text/plain", nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.pub.Publish(ctx, cfg.Topics.Entries, ports.Message{Key: "junk", Payload: []byte("not an entry")}); err != nil {
		t.Fatal(err)
	}

	site := func(s string) map[string]string { return map[string]string{"site": s} }
	want := []struct {
		family string
		labels map[string]string
		value  float64
	}{
		{"backbeat_entries_published_total", site("site-a"), 8},
		{"backbeat_entries_published_total", site("site-b"), 8},
		{"backbeat_entries_replicated_total", site("site-a"), 8},
		{"backbeat_entries_replicated_total", site("site-b"), 7},
		{"backbeat_entries_failed_total", site("site-b"), 1},
		{"backbeat_replicated_bytes_total", site("site-a"), 800},
		{"backbeat_replicated_bytes_total", site("site-b"), 700},
		{"backbeat_retries_total", site("site-a"), 3},
		{"backbeat_replays_total", site("site-a"), 1},
		{"backbeat_dead_letters_total", map[string]string{"source": cfg.Topics.Entries}, 2},
		{"backbeat_replication_lag_seconds", site("site-a"), 8}, // histogram: sample count
		{"backbeat_replication_lag_seconds", site("site-b"), 7},
		{"backbeat_backlog_entries", site("site-a"), 0},
		{"backbeat_backlog_entries", site("site-b"), 0},
		{"backbeat_backlog_bytes", site("site-a"), 0},
		{"backbeat_backlog_bytes", site("site-b"), 0},
	}
	var families map[string]*dto.MetricFamily
	var mismatch string
	for deadline := time.Now().Add(20 * time.Second); ; {
		families = scrape(t, tel.prometheus)
		mismatch = ""
		for _, c := range want {
			got, ok := sample(families[c.family], c.labels)
			if !ok || got != c.value {
				mismatch = fmt.Sprintf("%s%v = %v (found %v), want %v", c.family, c.labels, got, ok, c.value)
				break
			}
		}
		if mismatch == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics never settled: %s", mismatch)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, ok := sample(families["backbeat_entries_failed_total"], site("site-a")); ok {
		t.Error("site-a has failures counted, it had none")
	}
	lag := families["backbeat_replication_lag_seconds"]
	if lag.GetType() != dto.MetricType_HISTOGRAM {
		t.Fatalf("lag is a %v, want a histogram", lag.GetType())
	}
	h := lag.GetMetric()[0].GetHistogram()
	if len(h.GetBucket()) != len(app.LagBuckets)+1 || h.GetBucket()[0].GetUpperBound() != app.LagBuckets[0] {
		t.Errorf("lag buckets %v, want bounds %v and +Inf", h.GetBucket(), app.LagBuckets)
	}
	if h.GetSampleSum() <= 0 || h.GetSampleSum() > 20*float64(h.GetSampleCount()) {
		t.Errorf("lag sum %v s over %d samples is not plausible", h.GetSampleSum(), h.GetSampleCount())
	}
	for _, f := range []string{"go_goroutines", "process_cpu_seconds_total", "target_info"} {
		if families[f] == nil {
			t.Errorf("family %s is missing", f)
		}
	}
	// The dashboard queries only metrics the service exports.
	dash, err := os.ReadFile("../../configs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(dash) {
		t.Fatal("configs/grafana-dashboard.json is not valid JSON")
	}
	for _, name := range regexp.MustCompile(`backbeat_[a-z_]+`).FindAllString(string(dash), -1) {
		if strings.HasPrefix(name, "backbeat_verify_") {
			continue // verify jobs' gauges: TestAPIRoleRunsVerifies checks them
		}
		family := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
		if families[family] == nil {
			t.Errorf("the dashboard queries %s, which the service does not export", name)
		}
	}
}

// scrape GETs the handler and parses the Prometheus text exposition.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: %d %s", rec.Code, rec.Body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parse exposition: %v\n%s", err, rec.Body)
	}
	return families
}

// sample returns the value of the family's metric whose labels include
// want: a counter's or gauge's value, a histogram's sample count.
func sample(f *dto.MetricFamily, want map[string]string) (float64, bool) {
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			match = match && labels[k] == v
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

// traces: stdout with tracesFile appends the spans to the file as JSON
// lines, so that `task dev` can show them.
func TestTracesFile(t *testing.T) {
	path := t.TempDir() + "/traces.json"
	exportOneSpan(t, TelemetryConfig{Traces: "stdout", TracesFile: path})
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Name string }
	if err := json.Unmarshal(data, &got); err != nil || got.Name != "probe-span" {
		t.Fatalf("traces file holds %q (%v); want the span as JSON", data, err)
	}

	if _, err := setupTelemetry(context.Background(), TelemetryConfig{Traces: "stdout", TracesFile: t.TempDir() + "/missing/dir/traces.json"}); err == nil ||
		!strings.Contains(err.Error(), "telemetry.traces") {
		t.Fatalf("an unwritable traces file: %v; want an error naming telemetry.traces", err)
	}
}

// exportOneSpan sets telemetry up with cfg, records a span named
// "probe-span" and shuts telemetry down, which flushes it; the global
// providers are restored when the test ends.
func exportOneSpan(t *testing.T, cfg TelemetryConfig) {
	t.Helper()
	prevTP, prevMP := otel.GetTracerProvider(), otel.GetMeterProvider()
	t.Cleanup(func() { otel.SetTracerProvider(prevTP); otel.SetMeterProvider(prevMP) })
	ctx := context.Background()
	tel, err := setupTelemetry(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, span := otel.Tracer("test").Start(ctx, "probe-span")
	span.End()
	if err := tel.shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// traces: otlp sends the spans to the collector at otlpEndpoint (OTLP over
// HTTP), flushed at shutdown.
func TestTracesOTLP(t *testing.T) {
	var mu sync.Mutex
	var posts []string
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		posts = append(posts, fmt.Sprintf("%s %s %s %d", r.Method, r.URL.Path, r.Header.Get("Content-Type"), len(body)))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer collector.Close()
	exportOneSpan(t, TelemetryConfig{Traces: "otlp", OTLPEndpoint: strings.TrimPrefix(collector.URL, "http://")})
	mu.Lock()
	defer mu.Unlock()
	if len(posts) == 0 || !strings.HasPrefix(posts[0], "POST /v1/traces application/x-protobuf") || strings.HasSuffix(posts[0], " 0") {
		t.Fatalf("collector received %q; want the span POSTed to /v1/traces", posts)
	}
}
