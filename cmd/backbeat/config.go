package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/openbackbeat/backbeat/adapters/httpapi"
	"github.com/openbackbeat/backbeat/adapters/kafkabus"
	"github.com/openbackbeat/backbeat/adapters/mongojournal"
	"github.com/openbackbeat/backbeat/adapters/mongometa"
	"github.com/openbackbeat/backbeat/adapters/redisstore"
	"github.com/openbackbeat/backbeat/adapters/s3front"
	"github.com/openbackbeat/backbeat/adapters/s3site"
	"github.com/openbackbeat/backbeat/app"
)

// Config is the whole service configuration, loaded once at start from a
// YAML file and BACKBEAT_* environment overrides, then validated.
//
// It embeds the adapters' and use cases' own Config types rather than
// copying their fields: each setting is declared once, with its default and
// its checks, in the package that uses it, and gets one YAML path and one
// environment variable from its place here (see applyEnv).
type Config struct {
	// Backend is "real" (MongoDB, Kafka, S3, Redis) or "memory" (everything
	// in one process, for demos and tests).
	Backend     string                `yaml:"backend"`
	Source      s3site.Config         `yaml:"source"`
	Sites       []SiteConfig          `yaml:"sites"`
	Mongo       MongoConfig           `yaml:"mongo"`
	Kafka       kafkabus.Config       `yaml:"kafka"`
	Redis       redisstore.Config     `yaml:"redis"`
	Topics      app.Topics            `yaml:"topics"`
	Replication app.ReplicationConfig `yaml:"replication"`
	Populator   PopulatorConfig       `yaml:"populator"`
	API         APIConfig             `yaml:"api"`
	Backfill    app.JobRunnerConfig   `yaml:"backfill"`
	// S3Front is the S3 endpoint of `backbeat s3` (local stack and tests).
	S3Front   s3front.Config  `yaml:"s3front"`
	Telemetry TelemetryConfig `yaml:"telemetry"`
	Log       LogConfig       `yaml:"log"`
}

// SiteConfig is one destination site.
type SiteConfig struct {
	Name string        `yaml:"name"`
	S3   s3site.Config `yaml:"s3"`
}

// MongoConfig is section mongo: the metadata store's settings and the
// journal's, side by side. The journal reads the metadata store's
// database, so its URI, database and timeout are the store's (journal()).
type MongoConfig struct {
	mongometa.Config `yaml:",inline"`
	Journal          mongojournal.Config `yaml:",inline"`
}

// journal is the journal's configuration: its own settings, on the
// metadata store's connection.
func (m MongoConfig) journal() mongojournal.Config {
	j := m.Journal
	j.URI, j.Database, j.Timeout = m.URI, m.Database, m.Timeout
	return j
}

// APIConfig is the operator HTTP API: where it listens, and the API's own
// settings.
type APIConfig struct {
	Listen         string `yaml:"listen"`
	httpapi.Config `yaml:",inline"`
}

// PopulatorConfig is section populator: the populator's settings, and
// whether the wiring gives it a backfill service.
type PopulatorConfig struct {
	app.PopulatorConfig `yaml:",inline"`
	// BackfillOnHistoryLost starts a backfill job of each bucket whose
	// journal history ran out before the populator read it (the oplog
	// rolled past its checkpoint). Off: the loss is only reported (log,
	// metric, healthcheck), for the operator to decide.
	BackfillOnHistoryLost bool `yaml:"backfillOnHistoryLost"`
}

// TelemetryConfig selects the trace exporter: none, stdout or otlp.
type TelemetryConfig struct {
	Traces       string `yaml:"traces"`
	OTLPEndpoint string `yaml:"otlpEndpoint"`
	// TracesFile, with traces: stdout, receives the spans (JSON, one per
	// line, appended) instead of standard error.
	TracesFile string `yaml:"tracesFile"`
	// MetricsListen, when set, is where every role of the process serves
	// its Prometheus metrics (/metrics), as upstream's probe servers do;
	// the API role also serves them on its own port.
	MetricsListen string `yaml:"metricsListen"`
}

// LogConfig sets the log level: debug, info, warn, error.
type LogConfig struct {
	Level string `yaml:"level"`
}

// defaults returns the configuration of the local stack: its addresses and
// credentials, and every other setting at its package's default.
func defaults() Config {
	return Config{
		Backend: "real",
		Source:  localS3("http://127.0.0.1:17000"),
		Sites: []SiteConfig{
			{Name: "site-a", S3: localS3("http://127.0.0.1:17001")},
			{Name: "site-b", S3: localS3("http://127.0.0.1:17002")},
		},
		Mongo:       MongoConfig{Config: mongometa.Config{URI: "mongodb://127.0.0.1:27117"}},
		Kafka:       kafkabus.Config{Brokers: []string{"127.0.0.1:19092"}},
		Redis:       redisstore.Config{Addr: "127.0.0.1:16379"},
		Topics:      app.DefaultTopics,
		Replication: app.DefaultReplication,
		Populator:   PopulatorConfig{PopulatorConfig: app.DefaultPopulator, BackfillOnHistoryLost: true},
		Backfill:    app.JobRunnerConfig{}.WithDefaults(),
		API:         APIConfig{Listen: httpapi.DefaultAddr},
		S3Front:     s3front.DefaultConfig(),
		Telemetry:   TelemetryConfig{Traces: "none"},
		Log:         LogConfig{Level: "info"},
	}.withDefaults()
}

// localS3 reaches one S3 server of the local stack. Copies of 16 MiB and
// more go multipart, 5 MiB parts (S3's minimum), 4 in flight: at most
// 20 MiB of buffers per copy whatever the object's size.
func localS3(endpoint string) s3site.Config {
	return s3site.Config{Endpoint: endpoint, Region: "us-east-1", AccessKey: "backbeat", SecretKey: "backbeat-secret-key",
		MultipartThreshold: 16 << 20, PartSize: 5 << 20, MaxPartsInFlight: 4}
}

// withDefaults fills every unset setting from its package's defaults, so
// that the configuration printed and validated is the one that runs.
func (c Config) withDefaults() Config {
	c.Source = c.Source.WithDefaults()
	c.Sites = append([]SiteConfig(nil), c.Sites...)
	for i := range c.Sites {
		c.Sites[i].S3 = c.Sites[i].S3.WithDefaults()
	}
	c.Mongo.Config = c.Mongo.WithDefaults()
	c.Mongo.Journal = c.Mongo.Journal.WithDefaults()
	c.Kafka = c.Kafka.WithDefaults()
	c.Redis = c.Redis.WithDefaults()
	c.API.Config = c.API.WithDefaults()
	return c
}

// loadConfig reads path (if not empty) over the defaults, then applies
// environment overrides, then validates everything at once.
func loadConfig(path string, env []string) (Config, error) {
	cfg := defaults()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("read config: %w", err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(data)))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil {
			return cfg, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := applyEnv(&cfg, env); err != nil {
		return cfg, err
	}
	cfg = cfg.withDefaults()
	return cfg, cfg.Validate()
}

// Validate lists every problem of the configuration: the service's own
// rules, and every part's Validate, each problem prefixed with its section.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	// part adds the problems of one part. An app section's problems name
	// their field ("concurrency: ...") and take its path as prefix
	// ("replication."); an adapter's name their package ("kafkabus: ...")
	// and take their section ("kafka").
	part := func(prefix string, err error) {
		for _, e := range flatten(err) {
			switch {
			case strings.HasSuffix(prefix, "."):
				errs = append(errs, fmt.Errorf("%s%w", prefix, e))
			case strings.HasPrefix(e.Error(), prefix+":"): // httpapi's own "api: ..."
				errs = append(errs, e)
			default:
				errs = append(errs, fmt.Errorf("%s: %w", prefix, e))
			}
		}
	}
	real := c.Backend == "real"
	if !real && c.Backend != "memory" {
		bad("backend", "must be real or memory, got %q", c.Backend)
	}
	if len(c.Sites) == 0 {
		bad("sites", "at least one destination site is required")
	}
	seen := map[string]bool{}
	for i, s := range c.Sites {
		switch {
		case s.Name == "":
			bad(fmt.Sprintf("sites[%d].name", i), "is empty")
		case seen[s.Name]:
			bad(fmt.Sprintf("sites[%d].name", i), "duplicate site %q", s.Name)
		case s.Name == "all":
			bad(fmt.Sprintf("sites[%d].name", i), "%q is reserved", s.Name)
		}
		seen[s.Name] = true
		if real {
			if s.S3.Endpoint == "" {
				bad(fmt.Sprintf("sites[%d].s3.endpoint", i), "is empty")
			}
			part(fmt.Sprintf("sites[%d].s3", i), s.S3.Validate())
		}
	}
	if real {
		if c.Source.Endpoint == "" {
			bad("source.endpoint", "is empty")
		}
		part("source", c.Source.Validate())
		part("mongo", c.Mongo.Validate())
		journal := c.Mongo.journal()
		if journal.Mode != mongojournal.ModeCollections && journal.Mode != mongojournal.ModeDatabase {
			bad("mongo.journalMode", "must be collections or database, got %q", journal.Mode)
			journal.Mode = mongojournal.ModeCollections // reported above, once
		}
		part("mongo", journal.Validate())
		part("kafka", c.Kafka.Validate())
		part("redis", c.Redis.Validate())
	}
	part("topics.", c.Topics.Validate())
	part("replication.", c.Replication.Validate())
	part("populator.", c.Populator.Validate())
	if _, _, err := net.SplitHostPort(c.API.Listen); err != nil {
		bad("api.listen", "must be host:port, got %q: %v", c.API.Listen, err)
	}
	part("api", c.API.Validate())
	part("backfill.", c.Backfill.Validate())
	part("s3front", c.S3Front.Validate())
	switch c.Telemetry.Traces {
	case "none", "stdout", "otlp":
	default:
		bad("telemetry.traces", "must be none, stdout or otlp, got %q", c.Telemetry.Traces)
	}
	if a := c.Telemetry.MetricsListen; a != "" {
		if _, _, err := net.SplitHostPort(a); err != nil {
			bad("telemetry.metricsListen", "must be host:port, got %q: %v", a, err)
		}
	}
	if c.Telemetry.TracesFile != "" && c.Telemetry.Traces != "stdout" {
		bad("telemetry.tracesFile", "is used only with traces: stdout, got traces %q", c.Telemetry.Traces)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "must be debug, info, warn or error, got %q", c.Log.Level)
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid configuration:\n  %w", errors.Join(errs...))
	}
	return nil
}

// flatten lists the problems err joins (errors.Join, at any depth), so
// that each is reported on its own line with its section.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// SiteNames lists the configured destination sites.
func (c Config) SiteNames() []string {
	names := make([]string, len(c.Sites))
	for i, s := range c.Sites {
		names[i] = s.Name
	}
	return names
}
