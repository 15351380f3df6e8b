package memory_test

import (
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/adapters/memory"
	"github.com/openbackbeat/backbeat/ports"
	"github.com/openbackbeat/backbeat/ports/metricstest"
)

func TestMetricsContract(t *testing.T) {
	metricstest.Run(t, func(t *testing.T) ports.MetricsRecorder {
		m, err := memory.NewMetrics(memory.MetricsConfig{})
		if err != nil {
			t.Fatal(err)
		}
		return m
	})
}

// TestMetricsWindow moves the clock to check which buckets a window
// covers, that buckets expire, and that pending ignores windows.
func TestMetricsWindow(t *testing.T) {
	clk := &clock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	m, err := memory.NewMetrics(memory.MetricsConfig{Interval: 5 * time.Minute, Expiry: time.Hour, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	record := func(kind ports.MetricKind, bytes int64) {
		t.Helper()
		if err := m.Record(ctx, "s", kind, 1, bytes, ports.Op{}); err != nil {
			t.Fatal(err)
		}
	}
	site := func(window time.Duration) ports.SiteMetrics {
		t.Helper()
		got, err := m.Site(ctx, "s", window)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	record(ports.MetricQueued, 10) // 12:00
	clk.Advance(20 * time.Minute)
	record(ports.MetricQueued, 20) // 12:20
	record(ports.MetricCompleted, 10)
	clk.Advance(2 * time.Minute) // 12:22

	if got := site(5 * time.Minute); got.Queued != (ports.Counts{Ops: 1, Bytes: 20}) || got.Completed != (ports.Counts{Ops: 1, Bytes: 10}) {
		t.Fatalf("5-minute window = %+v, want the 12:20 bucket only", got)
	}
	if got := site(30 * time.Minute); got.Queued != (ports.Counts{Ops: 2, Bytes: 30}) {
		t.Fatalf("30-minute window = %+v, want both buckets", got)
	}
	if got := site(time.Minute); got.Pending != (ports.Counts{Ops: 1, Bytes: 20}) {
		t.Fatalf("pending = %+v, want 1 op of 20 bytes whatever the window", got.Pending)
	}
	clk.Advance(50 * time.Minute) // 13:12: the 12:00 bucket is past the 1 h expiry
	if got := site(24 * time.Hour); got.Queued != (ports.Counts{Ops: 1, Bytes: 20}) || got.Pending != (ports.Counts{Ops: 1, Bytes: 20}) {
		t.Fatalf("after expiry = %+v, want the 12:20 bucket only and pending unchanged", got)
	}
	if err := m.Record(ctx, "s", "bogus", 1, 1, ports.Op{}); err == nil {
		t.Fatal("Record of an unknown kind succeeded")
	}
	if err := m.Record(ctx, "s", ports.MetricQueued, 1, -1, ports.Op{}); err == nil {
		t.Fatal("Record of negative bytes succeeded")
	}
	if err := m.Record(ctx, "s", ports.MetricQueued, 0, 1, ports.Op{}); err == nil {
		t.Fatal("Record of no operation succeeded")
	}
	if _, err := memory.NewMetrics(memory.MetricsConfig{Interval: time.Hour, Expiry: time.Minute}); err == nil {
		t.Fatal("NewMetrics accepted an expiry shorter than the interval")
	}
}
