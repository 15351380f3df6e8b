package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/openbackbeat/backbeat/adapters/memory"
	"github.com/openbackbeat/backbeat/app"
	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// upstreamDashboardMetrics are the s3_replication_* metrics Zenko's
// replication dashboard and alerts query (scality/backbeat
// monitoring/replication/dashboard.py and alerts.yaml), as families of
// the exposition.
var upstreamDashboardMetrics = []string{
	"s3_replication_populator_objects_total", "s3_replication_populator_bytes_total", "s3_replication_log_timestamp",
	"s3_replication_data_read_total", "s3_replication_data_write_total", "s3_replication_data_bytes_total",
	"s3_replication_metadata_bytes_total", "s3_replication_source_data_bytes_total",
	"s3_replication_data_status_changed_total", "s3_replication_metadata_status_changed_total",
	"s3_replication_stage_time_elapsed", "s3_replication_rpo_seconds", "s3_replication_latency_seconds",
	"s3_replication_status_process_duration_seconds", "s3_replication_status_changed_total",
	"s3_replication_replay_objects_completed_total", "s3_replication_replay_success_total",
	"s3_replication_replay_attempts_total", "s3_replication_replay_file_sizes_completed", "s3_replication_replay_count",
}

// TestUpstreamPrometheusMetrics runs every role on the memory backend with
// the telemetry runRoles installs, with a retried copy, a replayed one and
// a failed one, and checks upstream's metrics by name, labels and value:
// lib/queuePopulator/QueuePopulator.js, extensions/replication/
// ReplicationMetrics.js, queueProcessor/QueueProcessor.js and
// replicationStatusProcessor/ReplicationStatusProcessor.js.
func TestUpstreamPrometheusMetrics(t *testing.T) {
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
	// site-a: "replayed" spends its 3 attempts once, then completes from
	// the replay topic; site-b: "denied" fails for good.
	var mu sync.Mutex
	transient := map[string]int{"replayed": 3}
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
	start := func(fn func(context.Context) error) {
		wg.Go(func() {
			if err := fn(ctx); err != nil && ctx.Err() == nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		_ = tel.shutdown(context.Background())
		w.close()
	})
	p := must(populator(w, cfg, log))
	start(p.Run)
	<-p.Ready()
	for _, s := range cfg.SiteNames() {
		start(must(replicator(w, cfg, log, s)).Run)
	}
	start(must(statusApplier(w, cfg, log)).Run)

	b := demoBucket("upstream", cfg.SiteNames())
	if err := createBuckets(ctx, w, b, cfg.SiteNames()); err != nil {
		t.Fatal(err)
	}
	sim := &app.Simulator{Metadata: w.writer, Objects: w.sourceObjects}
	for _, key := range []string{"ok-1", "ok-2", "ok-3", "replayed", "denied"} {
		if _, err := sim.PutObject(ctx, b, key, make([]byte, 100), "text/plain", nil, nil); err != nil {
			t.Fatal(err)
		}
	}

	type l = map[string]string
	const queue, replay = "ReplicationQueueProcessor", "ReplicationReplayProcessor"
	want := []struct {
		family string
		labels l
		value  float64 // a histogram's sample count
	}{
		// populator
		{"s3_replication_populator_objects_total", l{"origin": "replication", "logName": "mongo-log", "logId": "populator"}, 5},
		{"s3_replication_populator_bytes_total", l{"logId": "populator"}, 500},
		{"s3_replication_populator_messages_total", l{"publishStatus": "SUCCESS"}, 5},
		{"s3_replication_queued_objects_total", l{"toLocation": "site-b", "toLocationType": "aws_s3", "fromLocationType": "local"}, 5},
		{"s3_replication_queued_bytes_total", l{"toLocation": "site-a"}, 500},
		// replicators
		{"s3_replication_rpo_seconds", l{"location": "site-a", "serviceName": queue}, 5},
		{"s3_replication_rpo_seconds", l{"location": "site-a", "serviceName": replay}, 1},
		{"s3_replication_data_read_total", l{"location": "site-a", "serviceName": queue}, 7}, // 4 + 3 attempts of "replayed"
		{"s3_replication_data_read_total", l{"location": "site-a", "serviceName": replay}, 1},
		// The failed attempts read nothing: the destination refused first.
		{"s3_replication_source_data_bytes_total", l{"location": "site-a", "serviceName": queue}, 400},
		{"s3_replication_data_write_total", l{"location": "site-a", "serviceName": queue, "replicationContent": "data"}, 4},
		{"s3_replication_data_write_total", l{"location": "site-a", "serviceName": replay, "replicationContent": "data"}, 1},
		{"s3_replication_data_bytes_total", l{"location": "site-b", "serviceName": queue}, 400},
		{"s3_replication_stage_time_elapsed", l{"location": "site-b", "serviceName": queue, "replicationStage": "ReplicationDestinationDataWrite"}, 4},
		{"s3_replication_stage_time_elapsed", l{"location": "site-b", "replicationStage": "ReplicationSourceDataRead"}, 5},
		{"s3_replication_metadata_status_changed_total", l{"location": "site-a", "replicationStatus": "COMPLETED"}, 5},
		{"s3_replication_metadata_status_changed_total", l{"location": "site-b", "replicationStatus": "FAILED"}, 1},
		{"s3_replication_data_status_changed_total", l{"location": "site-b", "replicationStatus": "COMPLETED"}, 4},
		{"s3_replication_processed_bytes_total", l{"toLocation": "site-a", "status": "success"}, 500},
		{"s3_replication_elapsed_seconds", l{"toLocation": "site-b", "status": "error", "contentLengthRange": "<10KB"}, 1},
		{"s3_replication_replay_attempts_total", l{"location": "site-a", "replayCount": "1"}, 1},
		{"s3_replication_replay_objects_queued_total", l{"location": "site-a", "replayCount": "0"}, 1},
		{"s3_replication_replay_bytes_queued_total", l{"location": "site-a", "replayCount": "0"}, 100},
		// status applier
		{"s3_replication_status_changed_total", l{"origin": "replication", "replicationStatus": "COMPLETED"}, 9},
		{"s3_replication_status_changed_total", l{"replicationStatus": "FAILED"}, 1},
		{"s3_replication_status_process_duration_seconds", l{"result": "success", "replicationStatus": "COMPLETED"}, 9},
		{"s3_replication_latency_seconds", l{"location": "site-a", "replayCount": "0", "replicationStatus": "COMPLETED"}, 4},
		{"s3_replication_latency_seconds", l{"location": "site-a", "replayCount": "1", "replicationStatus": "COMPLETED"}, 1},
		{"s3_replication_latency_seconds", l{"location": "site-b", "replayCount": "0", "replicationStatus": "FAILED"}, 1},
		{"s3_replication_replay_success_total", l{"location": "site-a", "replayCount": "1"}, 1},
		{"s3_replication_replay_objects_completed_total", l{"location": "site-b", "replayCount": "0", "replicationStatus": "COMPLETED"}, 4},
		{"s3_replication_replay_bytes_completed_total", l{"location": "site-a", "replayCount": "1", "replicationStatus": "COMPLETED"}, 100},
		{"s3_replication_replay_file_sizes_completed", l{"location": "site-b", "replicationStatus": "FAILED"}, 1},
		{"s3_replication_replay_count", l{"location": "site-a"}, 5},
	}
	var families map[string]*dto.MetricFamily
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		families = scrape(t, tel.prometheus)
		mismatch := ""
		for _, c := range want {
			if got, ok := sample(families[c.family], c.labels); !ok || got != c.value {
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
	}
	for _, name := range upstreamDashboardMetrics {
		if families[name] == nil {
			t.Errorf("the upstream dashboard queries %s, which is not exported", name)
		}
	}
	// Upstream's buckets, in upstream's units.
	for family, bounds := range map[string][]float64{
		"s3_replication_rpo_seconds":                     {1, 10, 30, 60, 120, 300, 600},
		"s3_replication_stage_time_elapsed":              {10, 100, 1000, 10000, 30000, 60000, 120000, 300000},
		"s3_replication_status_process_duration_seconds": {0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 1},
		"s3_replication_elapsed_seconds":                 {0.03, 0.1, 0.3, 1, 3, 10, 30, 100, 300, 1000, 3000},
	} {
		f := families[family]
		if f.GetType() != dto.MetricType_HISTOGRAM {
			t.Errorf("%s is a %v, want a histogram", family, f.GetType())
			continue
		}
		var got []float64
		for _, b := range f.GetMetric()[0].GetHistogram().GetBucket() {
			got = append(got, b.GetUpperBound())
		}
		if !slices.Equal(got[:len(got)-1], bounds) {
			t.Errorf("%s buckets %v, want %v and +Inf", family, got, bounds)
		}
	}
	if ts, ok := sample(families["s3_replication_log_timestamp"], l{"logName": "mongo-log"}); !ok || time.Since(time.Unix(int64(ts), 0)) > time.Minute {
		t.Errorf("s3_replication_log_timestamp %v (found %v), want the last event's time", ts, ok)
	}
}
