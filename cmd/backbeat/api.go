package main

import (
	"context"
	"fmt"
	"log/slog"

	"golang.org/x/sync/errgroup"

	"github.com/openbackbeat/backbeat/adapters/httpapi"
	"github.com/openbackbeat/backbeat/app"
)

// serveAPI serves the operator HTTP API, and runs the backfill and verify
// jobs, until ctx ends.
func serveAPI(ctx context.Context, w *wiring, cfg Config, log *slog.Logger) error {
	log = log.With("role", "api")
	backfill, err := app.NewBackfillService(w.jobs, w.metadata, cfg.SiteNames())
	if err != nil {
		return err
	}
	bt, err := w.telemetry.Backfill()
	if err != nil {
		return err
	}
	verify, err := app.NewVerifyService(w.jobs, w.findings, w.metadata, cfg.SiteNames())
	if err != nil {
		return err
	}
	vt, err := w.telemetry.Verify(w.jobs)
	if err != nil {
		return err
	}
	runner := &app.JobRunner{
		Jobs: w.jobs, Locks: w.leases, Metadata: w.metadata, Scanner: w.scanner, Metrics: w.metrics,
		Telemetry: bt, Config: cfg.Backfill, Log: log.With("component", "jobs"),
		Verify: app.VerifyDeps{Sites: w.listings, Findings: w.findings, Telemetry: vt},
	}
	operator, err := w.operator()
	if err != nil {
		return err
	}
	h := httpapi.New(httpapi.Deps{
		Sites: &app.SiteService{Control: w.control, Sites: cfg.SiteNames()},
		Retrier: &app.FailedRetrier{Metadata: w.metadata, Failures: w.failures, Locker: w.locker, Publisher: w.pub,
			Topics: cfg.Topics, Log: log},
		Operator: operator, Backfill: backfill, Verify: verify, Health: w.health, Degradable: map[string]bool{"redis": true}, Roles: roles(w), Bus: w.bus,
		Prometheus: w.prometheus, Log: log,
	}, cfg.API.Config)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return httpapi.Serve(gctx, cfg.API.Listen, h, log) })
	g.Go(func() error {
		if err := runner.Run(gctx); err != nil {
			return fmt.Errorf("backfill jobs: %w", err)
		}
		return nil
	})
	return g.Wait()
}

// roles are the states of this process's roles that the healthcheck shows:
// the populator's lease and the last journal history it found lost, when
// this process runs a populator.
func roles(w *wiring) map[string]func() any {
	if w.populatorLease == nil {
		return nil
	}
	return map[string]func() any{"populator": func() any {
		return populatorHealth{LeaseState: w.populatorLease.State(), HistoryLost: w.populator.HistoryLost()}
	}}
}

// populatorHealth is the healthcheck's roles.populator: the lease's state
// and, once the populator found journal history lost, what and when.
type populatorHealth struct {
	app.LeaseState
	HistoryLost *app.HistoryLostState `json:"historyLost,omitempty"`
}
