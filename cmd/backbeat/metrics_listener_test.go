package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// freeAddr returns a loopback address nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// Every role serves its own metrics on telemetry.metricsListen, not only
// the API role, as upstream's populator, queue processors and status
// processor each serve /metrics on their probe server (lib/util/probe.js,
// conf/config.json probeServer): a scraper sees a replicator's counters
// from the replicator itself.
func TestEveryRoleServesItsMetrics(t *testing.T) {
	for _, c := range []struct {
		role string
		demo int
		want []string
	}{
		{"replicator", 0, []string{"backbeat_backlog_entries", "go_goroutines"}},
		{"status", 0, []string{"backbeat_backlog_entries", "go_goroutines"}},
		{"populator", 0, []string{"backbeat_populator_active", "go_goroutines"}},
		// With work done, upstream's metrics of each role are there too.
		{"all", 3, []string{"s3_replication_populator_objects_total", "s3_replication_rpo_seconds", "s3_replication_status_changed_total"}},
	} {
		t.Run(c.role, func(t *testing.T) {
			cfg := defaults()
			cfg.Backend = "memory"
			cfg.API.Listen = "127.0.0.1:0"
			cfg.Telemetry.MetricsListen = freeAddr(t)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				done <- runRoles(ctx, cfg, slog.New(slog.DiscardHandler), c.role, "", c.demo)
			}()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("%s stopped with: %v", c.role, err)
				}
			}()
			var body string
			for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				body = get(t, "http://"+cfg.Telemetry.MetricsListen+"/metrics")
				missing := ""
				for _, m := range c.want {
					if !strings.Contains(body, "\n"+m) {
						missing = m
					}
				}
				if missing == "" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: /metrics never showed %s:\n%.2000s", c.role, missing, body)
				}
			}
			if got := get(t, "http://"+cfg.Telemetry.MetricsListen+"/_/health/liveness"); got != "" {
				t.Errorf("liveness: %q", got)
			}
		})
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestMetricsListenInUseFailsTheStart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := defaults()
	cfg.Backend = "memory"
	cfg.Telemetry.MetricsListen = ln.Addr().String()
	err = runRoles(context.Background(), cfg, slog.New(slog.DiscardHandler), "replicator", "", 0)
	if err == nil || !strings.Contains(err.Error(), "telemetry.metricsListen") {
		t.Fatalf("runRoles with the metrics address in use: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg.Telemetry.MetricsListen = "4043"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "telemetry.metricsListen") {
		t.Fatalf("a port without host: %v", err)
	}
}
