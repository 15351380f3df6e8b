package app

import (
	"cmp"
	"errors"
	"fmt"
	"time"
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
	DefaultJobConcurrency = 8
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

// Validate reports every problem of c, after defaults.
func (c JobRunnerConfig) Validate() error {
	c = c.WithDefaults()
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
