package app

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/openbackbeat/backbeat/domain"
)

// The use cases' settings. Each type has its defaults (WithDefaults) and
// its Validate, and YAML names for its fields: the service configuration
// (cmd/backbeat) embeds these types as they are, so that a setting has one
// home, one YAML path and one environment variable.

// Topics names the bus topics of the pipeline.
type Topics struct {
	Entries    string `yaml:"entries"`    // backbeat-replication
	Status     string `yaml:"status"`     // backbeat-replication-status
	Replay     string `yaml:"replay"`     // backbeat-replication-replay
	DeadLetter string `yaml:"deadLetter"` // backbeat-dead-letter
}

// DefaultTopics are upstream's topic names, plus our dead-letter topic.
var DefaultTopics = Topics{
	Entries:    "backbeat-replication",
	Status:     "backbeat-replication-status",
	Replay:     "backbeat-replication-replay",
	DeadLetter: "backbeat-dead-letter",
}

// WithDefaults returns t with every unnamed topic at its default name.
func (t Topics) WithDefaults() Topics {
	t.Entries = cmp.Or(t.Entries, DefaultTopics.Entries)
	t.Status = cmp.Or(t.Status, DefaultTopics.Status)
	t.Replay = cmp.Or(t.Replay, DefaultTopics.Replay)
	t.DeadLetter = cmp.Or(t.DeadLetter, DefaultTopics.DeadLetter)
	return t
}

// Validate reports every topic left without a name.
func (t Topics) Validate() error {
	var errs []error
	for _, f := range []struct{ name, v string }{
		{"entries", t.Entries}, {"status", t.Status}, {"replay", t.Replay}, {"deadLetter", t.DeadLetter},
	} {
		if f.v == "" {
			errs = append(errs, fmt.Errorf("%s: is empty", f.name))
		}
	}
	return errors.Join(errs...)
}

// JobRunnerConfig tunes a JobRunner; zero fields take the defaults.
type JobRunnerConfig struct {
	// BatchSize is the versions read, judged and checkpointed together.
	BatchSize int `yaml:"batchSize"`
	// Concurrency bounds the keys of a batch worked on at once.
	Concurrency int `yaml:"concurrency"`
	// MaxBacklog holds a backfill while a site it queues for has more
	// entries pending than this (0: the default; -1: never hold).
	MaxBacklog int64 `yaml:"maxBacklog"`
	// LeaseTTL is how long a job's lease lasts unless renewed (every
	// third of it): another instance resumes a job within about that
	// long of its runner's death.
	LeaseTTL time.Duration `yaml:"leaseTTL"`
	// Poll is how often the runner looks for jobs to run, and a running
	// job for a cancel.
	Poll time.Duration `yaml:"poll"`
}

// Defaults of JobRunnerConfig.
const (
	DefaultJobBatchSize   = 500
	DefaultJobConcurrency = 32
	DefaultJobMaxBacklog  = 10000
	DefaultJobLeaseTTL    = 15 * time.Second
	DefaultJobPoll        = time.Second
)

// WithDefaults returns c with every unset field at its default.
func (c JobRunnerConfig) WithDefaults() JobRunnerConfig {
	c.BatchSize = cmp.Or(c.BatchSize, DefaultJobBatchSize)
	c.Concurrency = cmp.Or(c.Concurrency, DefaultJobConcurrency)
	c.MaxBacklog = cmp.Or(c.MaxBacklog, DefaultJobMaxBacklog)
	c.LeaseTTL = cmp.Or(c.LeaseTTL, DefaultJobLeaseTTL)
	c.Poll = cmp.Or(c.Poll, DefaultJobPoll)
	return c
}

// Validate reports every problem of c as it is: constructors call it
// after WithDefaults, the service configuration before (an explicit zero
// is a mistake there).
func (c JobRunnerConfig) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.BatchSize < 1 {
		bad("batchSize: must be at least 1, got %d", c.BatchSize)
	}
	if c.Concurrency < 1 {
		bad("concurrency: must be at least 1, got %d", c.Concurrency)
	}
	if c.MaxBacklog < -1 {
		bad("maxBacklog: must be a number of entries (at least 1), or -1 never to hold, got %d", c.MaxBacklog)
	}
	if c.LeaseTTL < 300*time.Millisecond {
		bad("leaseTTL: must be at least 300ms, got %s", c.LeaseTTL)
	}
	if c.Poll <= 0 {
		bad("poll: must be positive, got %s", c.Poll)
	}
	return errors.Join(errs...)
}

// ReplicationConfig tunes the replicators and the status applier
// (section replication).
type ReplicationConfig struct {
	// Concurrency is how many entries a replicator copies at once for its
	// site, and how many outcomes the status applier writes at once.
	Concurrency int `yaml:"concurrency"`
	// MaxAttempts, MaxElapsed, BaseDelay and MaxDelay are a copy's retry
	// policy (RetryPolicy): exponential backoff with full jitter.
	MaxAttempts int           `yaml:"maxAttempts"`
	MaxElapsed  time.Duration `yaml:"maxElapsed"`
	BaseDelay   time.Duration `yaml:"baseDelay"`
	MaxDelay    time.Duration `yaml:"maxDelay"`
	// MaxReplays is how many times an entry whose retries are spent goes
	// through the replay topic before its site is marked FAILED (0: none).
	MaxReplays int `yaml:"maxReplays"`
	// ReplayDelay is how long a replayed entry waits before its next try.
	ReplayDelay time.Duration `yaml:"replayDelay"`
	// GroupPrefix prefixes the consumer groups: <prefix>-<site> and
	// <prefix>-replay-<site> for a replicator, <prefix>-status for the
	// status applier.
	GroupPrefix string `yaml:"groupPrefix"`
}

// DefaultReplication is the service's replication configuration.
// WithDefaults takes its values for the fields left at zero, except
// MaxReplays and ReplayDelay, whose zero means something (no replays, at
// once).
var DefaultReplication = ReplicationConfig{
	Concurrency: 16,
	MaxAttempts: domain.DefaultRetryPolicy.MaxAttempts, MaxElapsed: domain.DefaultRetryPolicy.MaxElapsed,
	BaseDelay: domain.DefaultRetryPolicy.BaseDelay, MaxDelay: domain.DefaultRetryPolicy.MaxDelay,
	MaxReplays: 5, ReplayDelay: 30 * time.Second, GroupPrefix: "backbeat-replication",
}

// WithDefaults returns c with every unset field at DefaultReplication's
// value (MaxReplays and ReplayDelay are kept as they are).
func (c ReplicationConfig) WithDefaults() ReplicationConfig {
	d := DefaultReplication
	c.Concurrency = cmp.Or(c.Concurrency, d.Concurrency)
	c.MaxAttempts = cmp.Or(c.MaxAttempts, d.MaxAttempts)
	c.MaxElapsed = cmp.Or(c.MaxElapsed, d.MaxElapsed)
	c.BaseDelay = cmp.Or(c.BaseDelay, d.BaseDelay)
	c.MaxDelay = cmp.Or(c.MaxDelay, d.MaxDelay)
	c.GroupPrefix = cmp.Or(c.GroupPrefix, d.GroupPrefix)
	return c
}

// RetryPolicy is a copy's retry policy.
func (c ReplicationConfig) RetryPolicy() domain.RetryPolicy {
	return domain.RetryPolicy{MaxAttempts: c.MaxAttempts, MaxElapsed: c.MaxElapsed, BaseDelay: c.BaseDelay, MaxDelay: c.MaxDelay}
}

// Validate reports every problem of c as it is: constructors call it
// after WithDefaults, the service configuration before (an explicit zero
// is a mistake there).
func (c ReplicationConfig) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Concurrency < 1 {
		bad("concurrency: must be at least 1, got %d", c.Concurrency)
	}
	if c.MaxAttempts < 1 {
		bad("maxAttempts: must be at least 1, got %d", c.MaxAttempts)
	}
	if c.MaxReplays < 0 {
		bad("maxReplays: must not be negative, got %d", c.MaxReplays)
	}
	if c.ReplayDelay < 0 {
		bad("replayDelay: must not be negative, got %s", c.ReplayDelay)
	}
	if c.BaseDelay <= 0 || c.MaxDelay < c.BaseDelay {
		bad("baseDelay: must be positive and at most maxDelay (%s, %s)", c.BaseDelay, c.MaxDelay)
	}
	return errors.Join(errs...)
}

// PopulatorConfig tunes the populator (section populator).
type PopulatorConfig struct {
	// BatchSize is the journal events read at once.
	BatchSize int `yaml:"batchSize"`
	// CheckpointName names this populator's saved position, and its lease.
	CheckpointName string `yaml:"checkpointName"`
	// LeaseTTL and LeaseRenew time the lease that keeps one populator
	// active among several (the others are warm standbys): a standby takes
	// over within LeaseTTL + LeaseRenew of the active one's death.
	LeaseTTL   time.Duration `yaml:"leaseTTL"`
	LeaseRenew time.Duration `yaml:"leaseRenew"`
	// BucketCacheTTL bounds how long a bucket's replication configuration
	// is reused before it is read again.
	BucketCacheTTL time.Duration `yaml:"bucketCacheTTL"`
}

// DefaultPopulator is the populator's default configuration.
var DefaultPopulator = PopulatorConfig{
	BatchSize: 1000, CheckpointName: "populator", LeaseTTL: 10 * time.Second, LeaseRenew: 3 * time.Second,
	BucketCacheTTL: 2 * time.Second,
}

// WithDefaults returns c with every unset field at DefaultPopulator's value.
func (c PopulatorConfig) WithDefaults() PopulatorConfig {
	d := DefaultPopulator
	c.BatchSize = cmp.Or(c.BatchSize, d.BatchSize)
	c.CheckpointName = cmp.Or(c.CheckpointName, d.CheckpointName)
	c.LeaseTTL = cmp.Or(c.LeaseTTL, d.LeaseTTL)
	c.LeaseRenew = cmp.Or(c.LeaseRenew, d.LeaseRenew)
	c.BucketCacheTTL = cmp.Or(c.BucketCacheTTL, d.BucketCacheTTL)
	return c
}

// Validate reports every problem of c as it is: constructors call it
// after WithDefaults, the service configuration before (an explicit zero
// is a mistake there).
func (c PopulatorConfig) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.BatchSize < 1 {
		bad("batchSize: must be at least 1, got %d", c.BatchSize)
	}
	if c.LeaseRenew <= 0 || c.LeaseRenew >= c.LeaseTTL {
		bad("leaseRenew: must be positive and shorter than populator.leaseTTL (%s, %s)", c.LeaseRenew, c.LeaseTTL)
	}
	if c.BucketCacheTTL < 0 {
		bad("bucketCacheTTL: must not be negative, got %s", c.BucketCacheTTL)
	}
	return errors.Join(errs...)
}

// dep is a dependency of a use case, by name, for requireDeps.
type dep struct {
	name string
	v    any
}

// requireDeps reports each of deps that is nil, by name.
func requireDeps(deps ...dep) []error {
	var errs []error
	for _, d := range deps {
		if d.v == nil {
			errs = append(errs, fmt.Errorf("dependency %s is missing", d.name))
		}
	}
	return errs
}

// orDiscard is log, or a logger that discards everything when log is nil.
func orDiscard(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}
