package httpapi

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/openbackbeat/backbeat/app"
)

// DefaultAddr is where `backbeat api` listens unless told otherwise: on
// loopback, as upstream's API is only reachable from allowed addresses.
const DefaultAddr = "127.0.0.1:8900"

// Defaults of Config.
const (
	DefaultMaxBodyBytes  = 1 << 20
	DefaultMetricsWindow = 24 * time.Hour
	DefaultHealthTimeout = 5 * time.Second
)

// ThroughputWindow is the window throughput is averaged over, as upstream's
// THROUGHPUT_EXPIRY (15 minutes).
const ThroughputWindow = 15 * time.Minute

// FailedPageSize is the number of failed entries per listing page, as
// upstream's listingLimit.
const FailedPageSize = 100

// Config tunes the API. The zero value is usable: New applies the defaults.
type Config struct {
	// Token, when not empty, must be sent as `Authorization: Bearer <Token>`
	// on every mutating request (POST, DELETE). Reads stay open: the API
	// listens on loopback by default.
	Token string `yaml:"token" secret:"true"`
	// MaxBodyBytes bounds request bodies (default 1 MiB); larger ones get
	// 413.
	MaxBodyBytes int64 `yaml:"maxBodyBytes"`
	// MetricsWindow is the window of completions and failures (default 24 h,
	// upstream's EXPIRY).
	MetricsWindow time.Duration `yaml:"metricsWindow"`
	// HealthTimeout bounds each health check (default 5 s).
	HealthTimeout time.Duration `yaml:"healthTimeout"`
	// Now returns the current time; tests set it.
	Now func() time.Time `yaml:"-"`
}

// Validate lists every problem of the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("api: MaxBodyBytes must not be negative, got %d", c.MaxBodyBytes))
	}
	if c.MetricsWindow < 0 {
		errs = append(errs, fmt.Errorf("api: MetricsWindow must not be negative, got %s", c.MetricsWindow))
	}
	if c.MetricsWindow > 0 && c.MetricsWindow < time.Second {
		errs = append(errs, fmt.Errorf("api: MetricsWindow must be at least 1s, got %s", c.MetricsWindow))
	}
	if c.HealthTimeout < 0 {
		errs = append(errs, fmt.Errorf("api: HealthTimeout must not be negative, got %s", c.HealthTimeout))
	}
	return errors.Join(errs...)
}

// WithDefaults returns c with every unset field at its default.
func (c Config) WithDefaults() Config {
	c.MaxBodyBytes = cmp.Or(c.MaxBodyBytes, DefaultMaxBodyBytes)
	c.MetricsWindow = cmp.Or(c.MetricsWindow, DefaultMetricsWindow)
	c.HealthTimeout = cmp.Or(c.HealthTimeout, DefaultHealthTimeout)
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Deps are the use cases and ports the API drives.
type Deps struct {
	// Sites pauses and resumes sites; its Sites list is the set of known
	// sites. Required.
	Sites *app.SiteService
	// Retrier re-queues failed entries. Required.
	Retrier *app.FailedRetrier
	// Operator answers the queries that join the failure store, the
	// metrics, the metadata and the copy progress. Required.
	Operator *app.Operator
	// Backfill starts, lists, shows and cancels backfill jobs. Optional:
	// without it the backfill routes answer 501 NotImplemented.
	Backfill *app.BackfillService
	// Verify starts, lists, shows and cancels verify jobs and reads their
	// findings. Optional: without it the verify routes answer 501
	// NotImplemented.
	Verify *app.VerifyService
	// Health checks each backing service, by name. Optional.
	Health map[string]func(context.Context) error
	// Degradable names the services of Health whose failure degrades the
	// service without stopping replication (Redis: metrics, failure
	// listings and pause broadcasts lag while statuses still reach
	// MongoDB): such a failure shows as "degraded", the status is
	// "degraded" and the answer stays 200.
	Degradable map[string]bool
	// Roles report the state of this process's roles for the healthcheck's
	// "roles" key (the populator's lease: active or standby, its epoch).
	// Optional.
	Roles map[string]func() any
	// Bus describes the bus topics for the healthcheck, through the
	// publisher's own connection: its error says the publisher cannot
	// reach the bus. Optional: without it the healthcheck lists no topic
	// and no kafkaProducer.
	Bus func(context.Context) ([]BusTopic, error)
	// Prometheus serves the Prometheus text exposition at /metrics and
	// /_/monitoring/metrics. Optional: without it both routes serve an empty,
	// valid exposition.
	Prometheus http.Handler
	// Log receives one line per request and every internal error. Optional.
	Log *slog.Logger
}

// Validate lists the required dependencies that are missing.
func (d Deps) Validate() error {
	var errs []error
	missing := func(name string) { errs = append(errs, fmt.Errorf("api: dependency %s is missing", name)) }
	if d.Sites == nil {
		missing("Sites")
	}
	if d.Retrier == nil {
		missing("Retrier")
	}
	if d.Operator == nil {
		missing("Operator")
	}
	return errors.Join(errs...)
}
