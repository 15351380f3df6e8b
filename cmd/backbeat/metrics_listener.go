package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// startMetricsListener serves the process's Prometheus metrics at /metrics
// (and /_/monitoring/metrics, upstream's API path) on addr until ctx ends,
// whatever roles the process runs: as upstream's probe servers do for its
// populator, queue processors and status processor (lib/util/probe.js,
// conf/config.json probeServer, ports 4042, 4043 and 4045), so that a
// scraper sees each role's own counters, not only the API's. An empty addr
// serves nothing. It returns the address listened on.
func startMetricsListener(ctx context.Context, addr string, metrics http.Handler, log *slog.Logger) (net.Addr, error) {
	if addr == "" {
		return nil, nil
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.Handle("GET /_/monitoring/metrics", metrics)
	// Liveness, as upstream's probe servers answer it: the process serves.
	mux.HandleFunc("GET /_/health/liveness", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("telemetry.metricsListen: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Info("metrics listener", "addr", ln.Addr().String())
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("metrics listener stopped", "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	return ln.Addr(), nil
}
