package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"
)

// startDebug serves net/http/pprof, and the process's metrics at /metrics,
// on the address in BACKBEAT_DEBUG_LISTEN (e.g. 127.0.0.1:6060) until ctx
// ends, so that a benchmark or an operator can profile and watch a running
// role. It is off unless the variable is set: the profiles expose
// internals and must never sit on a public address.
func startDebug(ctx context.Context, metrics http.Handler, log *slog.Logger) {
	addr := os.Getenv("BACKBEAT_DEBUG_LISTEN")
	if addr == "" {
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/metrics", metrics)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Warn("debug listener not started", "addr", addr, "err", err)
		return
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Info("pprof debug listener", "addr", ln.Addr().String())
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("debug listener stopped", "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
}
