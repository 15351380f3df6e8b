package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/openbackbeat/backbeat/adapters/s3front"
	"github.com/openbackbeat/backbeat/app"
	"github.com/openbackbeat/backbeat/domain"
)

// Config is the whole service configuration, loaded once at start from a
// YAML file and BACKBEAT_* environment overrides, then validated.
type Config struct {
	// Backend is "real" (MongoDB, Kafka, S3, Redis) or "memory" (everything
	// in one process, for demos and tests).
	Backend     string            `yaml:"backend"`
	Source      S3Config          `yaml:"source"`
	Sites       []SiteConfig      `yaml:"sites"`
	Mongo       MongoConfig       `yaml:"mongo"`
	Kafka       KafkaConfig       `yaml:"kafka"`
	Redis       RedisConfig       `yaml:"redis"`
	Topics      TopicsConfig      `yaml:"topics"`
	Replication ReplicationConfig `yaml:"replication"`
	Populator   PopulatorConfig   `yaml:"populator"`
	API         APIConfig         `yaml:"api"`
	Backfill    BackfillConfig    `yaml:"backfill"`
	// S3Front is the S3 endpoint of `backbeat s3` (local stack and tests).
	S3Front   s3front.Config  `yaml:"s3front"`
	Telemetry TelemetryConfig `yaml:"telemetry"`
	Log       LogConfig       `yaml:"log"`
}

// S3Config reaches one S3 endpoint.
type S3Config struct {
	Endpoint  string `yaml:"endpoint"`
	Region    string `yaml:"region"`
	AccessKey string `yaml:"accessKey"`
	SecretKey Secret `yaml:"secretKey"`
	// MultipartThreshold is the size from which copies use multipart (bytes).
	MultipartThreshold int64 `yaml:"multipartThreshold"`
	PartSize           int64 `yaml:"partSize"`
	MaxPartsInFlight   int   `yaml:"maxPartsInFlight"`
}

// SiteConfig is one destination site.
type SiteConfig struct {
	Name string   `yaml:"name"`
	S3   S3Config `yaml:"s3"`
}

// MongoConfig reaches the metadata database.
type MongoConfig struct {
	URI      string `yaml:"uri"`
	Database string `yaml:"database"`
	// JournalMode is "collections" (one change stream per replicated bucket,
	// works everywhere) or "database" (one stream, MongoDB only).
	JournalMode string `yaml:"journalMode"`
	// BucketPrefix, when set, limits the journal to buckets whose names
	// start with it (collections mode).
	BucketPrefix string `yaml:"bucketPrefix"`
}

// KafkaConfig reaches the bus.
type KafkaConfig struct {
	Brokers    []string `yaml:"brokers"`
	Partitions int      `yaml:"partitions"`
}

// RedisConfig reaches the failure store, metrics and site control.
type RedisConfig struct {
	Addr      string `yaml:"addr"`
	Password  Secret `yaml:"password"`
	KeyPrefix string `yaml:"keyPrefix"`
}

// TopicsConfig names the bus topics.
type TopicsConfig struct {
	Entries    string `yaml:"entries"`
	Status     string `yaml:"status"`
	Replay     string `yaml:"replay"`
	DeadLetter string `yaml:"deadLetter"`
}

// ReplicationConfig tunes the replicators and the status applier.
type ReplicationConfig struct {
	Concurrency int           `yaml:"concurrency"`
	MaxAttempts int           `yaml:"maxAttempts"`
	MaxElapsed  time.Duration `yaml:"maxElapsed"`
	BaseDelay   time.Duration `yaml:"baseDelay"`
	MaxDelay    time.Duration `yaml:"maxDelay"`
	MaxReplays  int           `yaml:"maxReplays"`
	ReplayDelay time.Duration `yaml:"replayDelay"`
	GroupPrefix string        `yaml:"groupPrefix"`
}

// PopulatorConfig tunes the populator.
type PopulatorConfig struct {
	BatchSize      int    `yaml:"batchSize"`
	CheckpointName string `yaml:"checkpointName"`
	// LeaseTTL and LeaseRenew time the lease that keeps one populator
	// active among several (the others are warm standbys): a standby takes
	// over within LeaseTTL + LeaseRenew of the active one's death.
	LeaseTTL   time.Duration `yaml:"leaseTTL"`
	LeaseRenew time.Duration `yaml:"leaseRenew"`
}

// APIConfig is the operator HTTP API.
type APIConfig struct {
	Listen string `yaml:"listen"`
	// Token, when set, is required as a bearer token on mutating routes.
	Token Secret `yaml:"token"`
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

// Secret is a string never printed in full.
type Secret string

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "****"
}

// MarshalYAML masks the secret when the config is printed.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// defaults returns the configuration of the local stack.
func defaults() Config {
	return Config{
		Backend: "real",
		Source:  localS3("http://127.0.0.1:17000"),
		Sites: []SiteConfig{
			{Name: "site-a", S3: localS3("http://127.0.0.1:17001")},
			{Name: "site-b", S3: localS3("http://127.0.0.1:17002")},
		},
		Mongo:  MongoConfig{URI: "mongodb://127.0.0.1:27117", Database: "metadata", JournalMode: "collections"},
		Kafka:  KafkaConfig{Brokers: []string{"127.0.0.1:19092"}, Partitions: 8},
		Redis:  RedisConfig{Addr: "127.0.0.1:16379"},
		Topics: TopicsConfig(app.DefaultTopics),
		Replication: ReplicationConfig{
			Concurrency: 16, MaxAttempts: domain.DefaultRetryPolicy.MaxAttempts, MaxElapsed: domain.DefaultRetryPolicy.MaxElapsed,
			BaseDelay: domain.DefaultRetryPolicy.BaseDelay, MaxDelay: domain.DefaultRetryPolicy.MaxDelay,
			MaxReplays: 5, ReplayDelay: 30 * time.Second, GroupPrefix: "backbeat-replication",
		},
		Populator: PopulatorConfig{BatchSize: 1000, CheckpointName: "populator", LeaseTTL: 10 * time.Second, LeaseRenew: 3 * time.Second},
		API:       APIConfig{Listen: "127.0.0.1:8900"},
		Backfill:  defaultBackfill(),
		S3Front:   s3front.DefaultConfig(),
		Telemetry: TelemetryConfig{Traces: "none"},
		Log:       LogConfig{Level: "info"},
	}
}

// localS3 reaches one S3 server of the local stack. Copies of 16 MiB and
// more go multipart, 5 MiB parts (S3's minimum), 4 in flight: at most
// 20 MiB of buffers per copy whatever the object's size.
func localS3(endpoint string) S3Config {
	return S3Config{Endpoint: endpoint, Region: "us-east-1", AccessKey: "backbeat", SecretKey: "backbeat-secret-key",
		MultipartThreshold: 16 << 20, PartSize: 5 << 20, MaxPartsInFlight: 4}
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
	return cfg, cfg.Validate()
}

// Validate lists every problem of the configuration.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if c.Backend != "real" && c.Backend != "memory" {
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
		if c.Backend == "real" && s.S3.Endpoint == "" {
			bad(fmt.Sprintf("sites[%d].s3.endpoint", i), "is empty")
		}
	}
	if c.Backend == "real" {
		if c.Source.Endpoint == "" {
			bad("source.endpoint", "is empty")
		}
		if c.Mongo.URI == "" {
			bad("mongo.uri", "is empty")
		}
		if c.Mongo.JournalMode != "collections" && c.Mongo.JournalMode != "database" {
			bad("mongo.journalMode", "must be collections or database, got %q", c.Mongo.JournalMode)
		}
		if len(c.Kafka.Brokers) == 0 {
			bad("kafka.brokers", "is empty")
		}
		if c.Redis.Addr == "" {
			bad("redis.addr", "is empty")
		}
	}
	for field, v := range map[string]string{"topics.entries": c.Topics.Entries, "topics.status": c.Topics.Status, "topics.replay": c.Topics.Replay, "topics.deadLetter": c.Topics.DeadLetter} {
		if v == "" {
			bad(field, "is empty")
		}
	}
	if c.Replication.Concurrency < 1 {
		bad("replication.concurrency", "must be at least 1, got %d", c.Replication.Concurrency)
	}
	if c.Replication.MaxAttempts < 1 {
		bad("replication.maxAttempts", "must be at least 1, got %d", c.Replication.MaxAttempts)
	}
	if c.Replication.MaxReplays < 0 {
		bad("replication.maxReplays", "must not be negative, got %d", c.Replication.MaxReplays)
	}
	if c.Replication.BaseDelay <= 0 || c.Replication.MaxDelay < c.Replication.BaseDelay {
		bad("replication.baseDelay", "must be positive and at most maxDelay (%s, %s)", c.Replication.BaseDelay, c.Replication.MaxDelay)
	}
	c.Backfill.validate(bad)
	if err := c.S3Front.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Populator.BatchSize < 1 {
		bad("populator.batchSize", "must be at least 1, got %d", c.Populator.BatchSize)
	}
	if c.Populator.LeaseRenew <= 0 || c.Populator.LeaseRenew >= c.Populator.LeaseTTL {
		bad("populator.leaseRenew", "must be positive and shorter than populator.leaseTTL (%s, %s)", c.Populator.LeaseRenew, c.Populator.LeaseTTL)
	}
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

// SiteNames lists the configured destination sites.
func (c Config) SiteNames() []string {
	names := make([]string, len(c.Sites))
	for i, s := range c.Sites {
		names[i] = s.Name
	}
	return names
}

// RetryPolicy is the replicators' retry policy.
func (c Config) RetryPolicy() domain.RetryPolicy {
	r := c.Replication
	return domain.RetryPolicy{MaxAttempts: r.MaxAttempts, MaxElapsed: r.MaxElapsed, BaseDelay: r.BaseDelay, MaxDelay: r.MaxDelay}
}

// applyEnv sets fields from BACKBEAT_<PATH> variables, where PATH is the
// field's YAML path upper-cased and joined by underscores, e.g.
// BACKBEAT_MONGO_URI, BACKBEAT_KAFKA_BROKERS (comma separated),
// BACKBEAT_REPLICATION_CONCURRENCY, BACKBEAT_API_TOKEN.
func applyEnv(cfg *Config, env []string) error {
	vars := map[string]string{}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "BACKBEAT_") {
			vars[k] = v
		}
	}
	var errs []error
	var walk func(v reflect.Value, prefix string)
	walk = func(v reflect.Value, prefix string) {
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := strings.ToUpper(strings.Split(f.Tag.Get("yaml"), ",")[0])
			key := prefix + "_" + name
			fv := v.Field(i)
			if f.Type.Kind() == reflect.Struct {
				walk(fv, key)
				continue
			}
			raw, ok := vars[key]
			if !ok {
				continue
			}
			if err := setFromString(fv, raw); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", key, err))
			}
		}
	}
	walk(reflect.ValueOf(cfg).Elem(), "BACKBEAT")
	return errors.Join(errs...)
}

func setFromString(v reflect.Value, raw string) error {
	switch {
	case v.Type() == reflect.TypeOf(time.Duration(0)):
		d, err := time.ParseDuration(raw)
		if err != nil {
			return err
		}
		v.SetInt(int64(d))
	case v.Kind() == reflect.String:
		v.SetString(raw)
	case v.Kind() == reflect.Int || v.Kind() == reflect.Int64:
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return fmt.Errorf("not an integer: %q", raw)
		}
		v.SetInt(n)
	case v.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("not a boolean: %q", raw)
		}
		v.SetBool(b)
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String:
		parts := strings.Split(raw, ",")
		v.Set(reflect.ValueOf(parts))
	default:
		return fmt.Errorf("cannot be set from the environment")
	}
	return nil
}
