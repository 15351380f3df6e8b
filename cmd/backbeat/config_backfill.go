package main

import (
	"time"

	"github.com/openbackbeat/backbeat/app"
)

// BackfillConfig tunes the backfill jobs the API role runs.
type BackfillConfig struct {
	// BatchSize is the versions read, judged and checkpointed together.
	BatchSize int `yaml:"batchSize"`
	// Concurrency bounds the keys of a batch queued at once.
	Concurrency int `yaml:"concurrency"`
	// MaxBacklog holds a job while a site it queues for has more entries
	// pending than this (-1: never hold).
	MaxBacklog int64 `yaml:"maxBacklog"`
	// LeaseTTL is how long a job's lease lasts unless renewed: another API
	// instance resumes a job within about that long of its runner's death.
	LeaseTTL time.Duration `yaml:"leaseTTL"`
	// Poll is how often the API looks for jobs to run, and a running job
	// for a cancel.
	Poll time.Duration `yaml:"poll"`
}

func defaultBackfill() BackfillConfig {
	return BackfillConfig{
		BatchSize: app.DefaultJobBatchSize, Concurrency: app.DefaultJobConcurrency, MaxBacklog: app.DefaultJobMaxBacklog,
		LeaseTTL: app.DefaultJobLeaseTTL, Poll: app.DefaultJobPoll,
	}
}

func (c BackfillConfig) validate(bad func(field, format string, args ...any)) {
	if c.BatchSize < 1 {
		bad("backfill.batchSize", "must be at least 1, got %d", c.BatchSize)
	}
	if c.Concurrency < 1 {
		bad("backfill.concurrency", "must be at least 1, got %d", c.Concurrency)
	}
	if c.MaxBacklog < -1 || c.MaxBacklog == 0 {
		bad("backfill.maxBacklog", "must be a number of entries (at least 1), or -1 never to hold, got %d", c.MaxBacklog)
	}
	if c.LeaseTTL < 300*time.Millisecond {
		bad("backfill.leaseTTL", "must be at least 300ms, got %s", c.LeaseTTL)
	}
	if c.Poll <= 0 {
		bad("backfill.poll", "must be positive, got %s", c.Poll)
	}
}

func (c BackfillConfig) runner() app.JobRunnerConfig {
	return app.JobRunnerConfig{BatchSize: c.BatchSize, Concurrency: c.Concurrency, MaxBacklog: c.MaxBacklog, LeaseTTL: c.LeaseTTL, Poll: c.Poll}
}
