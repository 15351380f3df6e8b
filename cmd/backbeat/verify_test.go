package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/adapters/apiclient"
	"github.com/openbackbeat/backbeat/domain"
)

// TestAPIRoleRunsVerifies starts the API role on the memory backend,
// verifies a bucket whose versions never reached site-a, and reads the
// findings gauge.
func TestAPIRoleRunsVerifies(t *testing.T) {
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
	rule := domain.ReplicationRule{ID: "r", Enabled: true, DestinationBucket: "arn:aws:s3:::dst", StorageClass: "site-a"}
	if err := w.writer.PutBucket(ctx, domain.Bucket{Name: "vf", VersioningEnabled: true, Replication: &domain.ReplicationConfig{Rules: []domain.ReplicationRule{rule}}}); err != nil {
		t.Fatal(err)
	}
	for i := range 7 {
		v := domain.ObjectVersion{Bucket: "vf", Key: fmt.Sprintf("k%d", i), VersionID: "v", Size: 1, Replication: domain.NewReplicationInfo(rule, "r", true)}
		if err := w.writer.PutVersion(ctx, v); err != nil {
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
		id, err = client.StartVerify(ctx, apiclient.VerifyRequest{Bucket: "vf", Sites: []string{"site-a"}})
		if err != nil && time.Now().After(deadline) {
			t.Fatal(err)
		}
	}
	var j apiclient.VerifyJob
	for deadline := time.Now().Add(10 * time.Second); !j.Finished(); time.Sleep(10 * time.Millisecond) {
		if j, err = client.Verify(ctx, id); err != nil || time.Now().After(deadline) {
			t.Fatalf("job %+v: %v", j, err)
		}
	}
	if j.State != "done" || j.ByKind["pending"] != 7 || j.Drift != 7 {
		t.Fatalf("job %+v", j)
	}
	resp, err := http.Get("http://" + cfg.API.Listen + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`backbeat_verify_findings{kind="pending",otel_scope_name=`,
		`site="site-a"} 7`,
		`backbeat_verify_findings{kind="missing",`,
		`backbeat_verify_versions_total{job="` + id + `"`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics has no %s", want)
		}
	}
	// The dashboard's verify panels query what the API role exports.
	dash, err := os.ReadFile("../../configs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile(`backbeat_verify_[a-z_]+`).FindAllString(string(dash), -1)
	if len(names) == 0 {
		t.Error("the dashboard shows no verify metric")
	}
	for _, name := range names {
		if !strings.Contains(string(body), "\n"+name+"{") {
			t.Errorf("the dashboard queries %s, which the API role does not export", name)
		}
	}
	if t.Failed() {
		for _, line := range strings.Split(string(body), "\n") {
			if strings.Contains(line, "verify") {
				t.Log(line)
			}
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("API role: %v", err)
	}
}
