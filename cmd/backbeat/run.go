package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/openbackbeat/backbeat/adapters/otelslog"
	"github.com/openbackbeat/backbeat/app"
	"github.com/openbackbeat/backbeat/cmd/backbeat/internal/ctl"
)

const usage = `usage: backbeat <command> [flags]

Roles (each runs until SIGINT/SIGTERM, then drains and stops):
  populator    tail the metadata journal and publish replication entries
  replicator   copy entries to destination sites (--site NAME, default all)
  status       apply replication outcomes to the source metadata
  api          serve the operator HTTP API
  all          every role in one process

Tools:
  ctl          operator CLI over the HTTP API (backbeat ctl --help)
  simulate     play CloudServer: create demo buckets and write objects
  s3           play CloudServer as an S3 endpoint (s3front.listen, default 127.0.0.1:8000)
  config       print the effective configuration (secrets masked)

Common flags: --config FILE (YAML; BACKBEAT_* environment variables override it)
`

func run(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Print(usage)
		return nil
	}
	cmd, args := args[0], args[1:]
	if cmd == "ctl" {
		return ctl.Run(ctx, args, os.Stdout, os.Stderr)
	}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	configPath := fs.String("config", os.Getenv("BACKBEAT_CONFIG"), "configuration file (YAML)")
	site := fs.String("site", "", "replicator: the site to serve (default: every configured site)")
	demo := fs.Int("demo", 0, "all: write this many demo objects once started (memory backend)")
	objects := fs.Int("objects", 20, "simulate: objects to write")
	size := fs.Int("size", 4096, "simulate: bytes per object")
	buckets := fs.Int("buckets", 1, "simulate: buckets to spread objects over")
	wait := fs.Duration("wait", 0, "simulate: wait up to this long for every object to complete, printing progress")
	retag := fs.Int("retag", 0, "simulate: then change the tags of this many of the objects written, as PutObjectTagging does")
	untag := fs.Int("untag", 0, "simulate: then remove the tags of this many more of them, as DeleteObjectTagging does")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*configPath, os.Environ())
	if err != nil {
		return err
	}
	log := newLogger(os.Stderr, cfg.Log.Level)
	switch cmd {
	case "config":
		return printConfig(os.Stdout, cfg)
	case "populator", "replicator", "status", "api", "all":
		return runRoles(ctx, cfg, log, cmd, *site, *demo)
	case "s3":
		return runS3Front(ctx, cfg, log)
	case "simulate":
		w, err := wire(ctx, cfg, log)
		if err != nil {
			return err
		}
		defer w.close()
		return simulate(ctx, w, cfg, os.Stdout, simulateOptions{objects: *objects, size: *size, buckets: *buckets, wait: *wait, retag: *retag, untag: *untag})
	}
	return fmt.Errorf("unknown command %q\n%s", cmd, usage)
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(otelslog.NewHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})))
}

// runRoles wires the adapters once and runs the chosen roles until ctx
// ends; then every role drains, and the adapters close in reverse order.
func runRoles(ctx context.Context, cfg Config, log *slog.Logger, role, site string, demo int) error {
	w, err := wire(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer w.close()
	tel, err := setupTelemetry(ctx, cfg.Telemetry)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = tel.shutdown(sctx)
	}()
	w.telemetry, w.prometheus = tel.app, tel.prometheus
	startDebug(ctx, tel.prometheus, log)
	if _, err := startMetricsListener(ctx, cfg.Telemetry.MetricsListen, tel.prometheus, log); err != nil {
		return err
	}
	if w.metrics != nil {
		backlog, err := tel.app.ObserveBacklog(w.metrics, cfg.SiteNames())
		if err != nil {
			return err
		}
		defer func() { _ = backlog.Unregister() }()
	}
	g, gctx := errgroup.WithContext(ctx)
	start := func(name string, fn func(context.Context) error) {
		g.Go(func() error {
			log.Info("role started", "role", name)
			err := fn(gctx)
			log.Info("role stopped", "role", name, "err", err)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			return nil
		})
	}
	all := role == "all"
	var populated <-chan struct{}
	if all || role == "populator" {
		p, err := populator(w, cfg, log)
		if err != nil {
			return err
		}
		populated = p.Ready()
		start("populator", p.Run)
	}
	if all || role == "replicator" {
		sites := cfg.SiteNames()
		if site != "" {
			if _, ok := w.dests[site]; !ok {
				return fmt.Errorf("--site %q is not a configured site (have %s)", site, strings.Join(sites, ", "))
			}
			sites = []string{site}
		}
		for _, s := range sites {
			r, err := replicator(w, cfg, log, s)
			if err != nil {
				return err
			}
			start("replicator "+s, r.Run)
		}
	}
	if all || role == "status" {
		a, err := statusApplier(w, cfg, log)
		if err != nil {
			return err
		}
		start("status", a.Run)
	}
	if all || role == "api" {
		start("api", func(ctx context.Context) error { return serveAPI(ctx, w, cfg, log) })
	}
	if demo > 0 {
		g.Go(func() error {
			if populated != nil {
				select {
				case <-populated:
				case <-gctx.Done():
					return nil
				}
			}
			return simulate(gctx, w, cfg, os.Stdout, simulateOptions{objects: demo, size: 4096, buckets: 1, wait: 5 * time.Minute})
		})
	}
	err = g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

func populator(w *wiring, cfg Config, log *slog.Logger) (*app.Populator, error) {
	log = log.With("role", "populator")
	lease := &app.Leadership{
		Leases: w.checkpoints, Owner: instanceName(), TTL: cfg.Populator.LeaseTTL, Renew: cfg.Populator.LeaseRenew, Log: log,
		OnRole: w.telemetry.PopulatorRole,
	}
	w.populatorLease = lease
	deps := app.PopulatorDeps{
		Journal: w.journal, Checkpoints: w.checkpoints, Metadata: w.metadata, Publisher: w.populatorPub, Metrics: w.metrics,
		Telemetry: w.telemetry, Topics: cfg.Topics, Sites: cfg.SiteNames(), Log: log, Lease: lease,
	}
	if cfg.Populator.BackfillOnHistoryLost {
		backfill, err := app.NewBackfillService(w.jobs, w.metadata, cfg.SiteNames())
		if err != nil {
			return nil, err
		}
		deps.Backfill = backfill
	}
	p, err := app.NewPopulator(deps, cfg.Populator.PopulatorConfig)
	w.populator = p
	return p, err
}

// instanceName names this process among the instances of a role: host,
// pid and a random part (a pid can be reused by a restart).
func instanceName() string {
	host, _ := os.Hostname()
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%x", host, os.Getpid(), b)
}

func replicator(w *wiring, cfg Config, log *slog.Logger, site string) (*app.Replicator, error) {
	return app.NewReplicator(site, app.ReplicatorDeps{
		Subscriber: w.sub, Publisher: w.pub, Source: w.source, Destination: w.dests[site], Control: w.control,
		Topics: cfg.Topics, Log: log.With("role", "replicator", "site", site), Telemetry: w.telemetry, Progress: w.progress,
	}, cfg.Replication)
}

func statusApplier(w *wiring, cfg Config, log *slog.Logger) (*app.StatusApplier, error) {
	return app.NewStatusApplier(app.StatusApplierDeps{
		Subscriber: w.sub, Publisher: w.pub, Metadata: w.metadata, Failures: w.failures, Metrics: w.metrics,
		Topics: cfg.Topics, Log: log.With("role", "status"), Telemetry: w.telemetry,
	}, cfg.Replication)
}
