package mongometa

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/openbackbeat/backbeat/adapters/internal/mongodoc"
)

// Defaults of Config.
const (
	DefaultDatabase             = mongodoc.DefaultDatabase
	DefaultCheckpointCollection = "__backbeat_checkpoints"
	DefaultJobCollection        = "__backbeat_jobs"
	DefaultTimeout              = mongodoc.DefaultTimeout
	DefaultMaxAttempts          = 50
)

// Config configures the MongoDB metadata store.
type Config struct {
	// URI is the MongoDB connection string (mongodb:// or mongodb+srv://).
	URI string `yaml:"uri" secret:"uri"`
	// Database holds CloudServer's metadata: __metastore and one
	// collection per bucket.
	Database string `yaml:"database"`
	// CheckpointCollection stores journal checkpoints. Its name starts with
	// "__" so that journal filters, like CloudServer's own, never take it
	// for a bucket.
	CheckpointCollection string `yaml:"checkpointCollection"`
	// JobCollection stores jobs (backfill), with their state and
	// checkpoint; "__" keeps it out of the journal too.
	JobCollection string `yaml:"jobCollection"`
	// Timeout bounds each MongoDB operation (and server selection).
	Timeout time.Duration `yaml:"timeout"`
	// MaxAttempts bounds the compare-and-swap attempts of UpdateVersion
	// before it gives up with ports.ErrConflict.
	MaxAttempts int `yaml:"maxAttempts"`
	// Logger receives warnings (malformed bucket documents); nil means
	// slog.Default().
	Logger *slog.Logger `yaml:"-"`
}

// WithDefaults returns c with every unset field set to its default.
func (c Config) WithDefaults() Config {
	c.Database = cmp.Or(c.Database, DefaultDatabase)
	c.CheckpointCollection = cmp.Or(c.CheckpointCollection, DefaultCheckpointCollection)
	c.JobCollection = cmp.Or(c.JobCollection, DefaultJobCollection)
	c.Timeout = cmp.Or(c.Timeout, DefaultTimeout)
	c.MaxAttempts = cmp.Or(c.MaxAttempts, DefaultMaxAttempts)
	c.Logger = cmp.Or(c.Logger, slog.Default())
	return c
}

// Validate reports every problem of c (after defaults) at once.
func (c Config) Validate() error {
	c = c.WithDefaults()
	var errs []error
	if !strings.HasPrefix(c.URI, "mongodb://") && !strings.HasPrefix(c.URI, "mongodb+srv://") {
		errs = append(errs, fmt.Errorf("mongometa: uri %q must start with mongodb:// or mongodb+srv://", RedactURI(c.URI)))
	}
	if strings.ContainsAny(c.Database, "/\\. \"$\x00") {
		errs = append(errs, fmt.Errorf("mongometa: database %q contains a character MongoDB forbids", c.Database))
	}
	if strings.HasPrefix(c.CheckpointCollection, "system.") || strings.ContainsAny(c.CheckpointCollection, "$\x00") {
		errs = append(errs, fmt.Errorf("mongometa: checkpointCollection %q is not a valid collection name", c.CheckpointCollection))
	}
	if strings.HasPrefix(c.JobCollection, "system.") || strings.ContainsAny(c.JobCollection, "$\x00") {
		errs = append(errs, fmt.Errorf("mongometa: jobCollection %q is not a valid collection name", c.JobCollection))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("mongometa: timeout %s is negative", c.Timeout))
	}
	if c.MaxAttempts < 0 {
		errs = append(errs, fmt.Errorf("mongometa: maxAttempts %d is negative", c.MaxAttempts))
	}
	return errors.Join(errs...)
}

// RedactURI hides the password of a connection string, for messages.
func RedactURI(uri string) string { return mongodoc.RedactURI(uri) }
