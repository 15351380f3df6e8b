package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/openbackbeat/backbeat/adapters/httpapi"
	"github.com/openbackbeat/backbeat/app"
	"github.com/openbackbeat/backbeat/ports"
)

// wiring holds one adapter per port, built once at start.
type wiring struct {
	journal     ports.Journal
	checkpoints ports.LeasedCheckpoints
	metadata    ports.MetadataStore
	writer      ports.MetadataWriter
	pub         ports.Publisher
	// populatorPub publishes the populator's batches, each seen whole or
	// not at all (a Kafka transaction), so that a batch sent again after a
	// failure part way never puts a key's earlier entry after its later.
	populatorPub  ports.Publisher
	sub           ports.Subscriber
	source        ports.ObjectSource
	sourceObjects app.SourceObjects
	dests         map[string]ports.Destination
	destBuckets   map[string]bucketMaker
	failures      ports.FailureStore
	locker        ports.Locker
	metrics       ports.MetricsRecorder
	control       ports.SiteControl
	// progress carries the replicators' copy progress to the API.
	progress ports.ProgressStore

	// jobs, scanner and leases serve the backfill jobs of the API role.
	jobs    ports.JobStore
	scanner ports.VersionScanner
	leases  ports.RenewableLocker
	// listings and findings serve its verify jobs: each site's listing,
	// and where the findings are kept.
	listings map[string]ports.SiteListing
	findings ports.FindingStore

	// populatorLease is this process's populator lease, and populator its
	// populator, when it runs one.
	populatorLease *app.Leadership
	populator      *app.Populator
	// prometheus serves the service's metrics in Prometheus text format.
	prometheus http.Handler
	// telemetry holds the app's metric instruments; nil records nothing.
	telemetry *app.Telemetry
	// health checks each backing service, by name, for the healthcheck.
	health map[string]func(context.Context) error
	// bus describes the bus topics for the healthcheck; nil without Kafka.
	bus func(context.Context) ([]httpapi.BusTopic, error)
	// closers run in reverse order on shutdown.
	closers []func() error
}

func (w *wiring) close() {
	for i := len(w.closers) - 1; i >= 0; i-- {
		_ = w.closers[i]()
	}
}

// operator is the operators' queries on the wired ports.
func (w *wiring) operator() (*app.Operator, error) {
	return app.NewOperator(app.OperatorDeps{Failures: w.failures, Metrics: w.metrics, Metadata: w.metadata, Progress: w.progress})
}

func wire(ctx context.Context, cfg Config, log *slog.Logger) (*wiring, error) {
	switch cfg.Backend {
	case "memory":
		return wireMemory(cfg)
	case "real":
		return wireReal(ctx, cfg, log)
	}
	return nil, fmt.Errorf("unknown backend %q", cfg.Backend)
}
