package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/adapters/apiclient"
	"github.com/openbackbeat/backbeat/domain"
)

// TestAPIRoleRunsBackfills starts the API role on the memory backend,
// backfills a bucket through the API, and reads the job's metrics.
func TestAPIRoleRunsBackfills(t *testing.T) {
	cfg := defaults()
	cfg.Backend = "memory"
	cfg.Backfill.Poll, cfg.Backfill.BatchSize = 10*time.Millisecond, 3
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.API.Listen = l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := wireMemory(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	tel, err := setupTelemetry(ctx, cfg.Telemetry)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tel.shutdown(context.Background()) }()
	w.telemetry, w.prometheus = tel.app, tel.prometheus
	rule := domain.ReplicationRule{ID: "r", Enabled: true, Prefix: "a/", DestinationBucket: "arn:aws:s3:::dst", StorageClass: "site-a,site-b"}
	if err := w.writer.PutBucket(ctx, domain.Bucket{Name: "bf", VersioningEnabled: true, Replication: &domain.ReplicationConfig{Rules: []domain.ReplicationRule{rule}}}); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		key := fmt.Sprintf("a/%d", i)
		if i >= 7 {
			key = fmt.Sprintf("c/%d", i)
		}
		if err := w.writer.PutVersion(ctx, domain.ObjectVersion{Bucket: "bf", Key: key, VersionID: "v", Size: 1}); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- serveAPI(ctx, w, cfg, slog.New(slog.DiscardHandler)) }()
	client, err := apiclient.New("http://" + cfg.API.Listen)
	if err != nil {
		t.Fatal(err)
	}
	var id string
	for deadline := time.Now().Add(10 * time.Second); id == ""; time.Sleep(10 * time.Millisecond) {
		id, err = client.StartBackfill(ctx, apiclient.BackfillRequest{Bucket: "bf"})
		if err != nil && time.Now().After(deadline) {
			t.Fatal(err)
		}
	}
	var j apiclient.BackfillJob
	for deadline := time.Now().Add(10 * time.Second); !j.Finished(); time.Sleep(10 * time.Millisecond) {
		if j, err = client.Backfill(ctx, id); err != nil || time.Now().After(deadline) {
			t.Fatalf("job %+v: %v", j, err)
		}
	}
	if j.State != "done" || j.Queued != 7 || j.Skipped["no-rule"] != 3 {
		t.Fatalf("job %+v", j)
	}
	resp, err := http.Get("http://" + cfg.API.Listen + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`backbeat_backfill_versions_total{job="` + id + `",otel_scope_name=`,
		`result="queued"} 7`,
		`result="no-rule"} 3`,
		`backbeat_backfill_progress{job="` + id + `"`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics has no %s", want)
		}
	}
	if t.Failed() {
		for _, line := range strings.Split(string(body), "\n") {
			if strings.Contains(line, "backfill") {
				t.Log(line)
			}
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("API role: %v", err)
	}
}
