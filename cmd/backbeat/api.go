package main

import (
	"context"
	"log/slog"

	"github.com/openbackbeat/backbeat/adapters/httpapi"
	"github.com/openbackbeat/backbeat/app"
)

// serveAPI serves the operator HTTP API until ctx ends.
func serveAPI(ctx context.Context, w *wiring, cfg Config, log *slog.Logger) error {
	log = log.With("role", "api")
	h := httpapi.New(httpapi.Deps{
		Sites: &app.SiteService{Control: w.control, Sites: cfg.SiteNames()},
		Retrier: &app.FailedRetrier{Metadata: w.metadata, Failures: w.failures, Locker: w.locker, Publisher: w.pub,
			Topics: topics(cfg), Log: log},
		Failures: w.failures, Metrics: w.metrics, Metadata: w.metadata, Health: w.health,
		Prometheus: w.prometheus, Log: log,
	}, httpapi.Config{Token: string(cfg.API.Token)})
	return httpapi.Serve(ctx, cfg.API.Listen, h, log)
}
