package mongojournal

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/openbackbeat/backbeat/adapters/internal/mongodoc"
)

// Modes of the journal.
const (
	// ModeCollections watches each replicated bucket's collection with its
	// own change stream. It works on MongoDB and on mongo-java-server.
	ModeCollections = "collections"
	// ModeDatabase watches the whole metadata database with one change
	// stream: one cursor whatever the number of buckets, for production
	// MongoDB. mongo-java-server accepts database-level watches but never
	// returns an event from them.
	ModeDatabase = "database"
)

// Defaults of Config.
const (
	DefaultBucketRefresh = 2 * time.Second
	DefaultPollMin       = 5 * time.Millisecond
	DefaultPollMax       = 200 * time.Millisecond
	DefaultStartMargin   = 2 * time.Second
	DefaultReopenMax     = 10 * time.Second
	DefaultBatchSize     = 1000
)

// Config configures the change-stream journal.
type Config struct {
	// URI is the MongoDB connection string. In the service configuration
	// it, Database and Timeout are the metadata store's (section mongo):
	// the journal reads the same database.
	URI string `yaml:"-"`
	// Database is CloudServer's metadata database.
	Database string `yaml:"-"`
	// Mode is ModeCollections (default) or ModeDatabase.
	Mode string `yaml:"journalMode"`
	// BucketPrefix, when set, limits collections mode to the buckets whose
	// names start with it. It lets several services (or tests) share one
	// metadata database, and spares mongo-java-server, whose every poll of
	// every stream scans its whole oplog, the streams of other buckets.
	BucketPrefix string `yaml:"bucketPrefix"`
	// BucketRefresh is how often the list of replicated buckets is read
	// again (collections mode: open and close streams; database mode: how
	// long a bucket's key format is reused).
	BucketRefresh time.Duration `yaml:"bucketRefresh"`
	// PollMin and PollMax bound the wait between polls while the journal
	// is idle: it starts at PollMin after an event and doubles up to
	// PollMax. mongo-java-server's getMore never waits for new events, so
	// the journal polls; with MongoDB each poll is a short getMore.
	PollMin time.Duration `yaml:"pollMin"`
	PollMax time.Duration `yaml:"pollMax"`
	// StartMargin is subtracted from the server's clock when a stream of a
	// newly replicated bucket starts at the time of the previous bucket
	// listing, to cover clock granularity (seconds) and skew between
	// MongoDB nodes. A larger margin replays more, never loses.
	StartMargin time.Duration `yaml:"startMargin"`
	// ReopenMax caps the backoff between attempts to reopen a stream that
	// failed (network errors, server restarts).
	ReopenMax time.Duration `yaml:"reopenMax"`
	// Timeout bounds each MongoDB operation.
	Timeout time.Duration `yaml:"-"`
	// BatchSize caps the events per getMore. mongo-java-server otherwise
	// returns every event after the position in one reply, and a backlog
	// of a few tens of thousands overflows the wire's message size, which
	// would stall the stream for good.
	BatchSize int `yaml:"journalBatchSize"`
	// Logger receives warnings; nil means slog.Default().
	Logger *slog.Logger `yaml:"-"`
}

// WithDefaults returns c with every unset field set to its default.
func (c Config) WithDefaults() Config {
	c.Database = cmp.Or(c.Database, mongodoc.DefaultDatabase)
	c.Mode = cmp.Or(c.Mode, ModeCollections)
	c.BucketRefresh = cmp.Or(c.BucketRefresh, DefaultBucketRefresh)
	c.PollMin = cmp.Or(c.PollMin, DefaultPollMin)
	c.PollMax = cmp.Or(c.PollMax, DefaultPollMax)
	c.StartMargin = cmp.Or(c.StartMargin, DefaultStartMargin)
	c.ReopenMax = cmp.Or(c.ReopenMax, DefaultReopenMax)
	c.Timeout = cmp.Or(c.Timeout, mongodoc.DefaultTimeout)
	c.BatchSize = cmp.Or(c.BatchSize, DefaultBatchSize)
	c.Logger = cmp.Or(c.Logger, slog.Default())
	return c
}

// Validate reports every problem of c (after defaults) at once.
func (c Config) Validate() error {
	c = c.WithDefaults()
	var errs []error
	if !strings.HasPrefix(c.URI, "mongodb://") && !strings.HasPrefix(c.URI, "mongodb+srv://") {
		errs = append(errs, fmt.Errorf("mongojournal: uri %q must start with mongodb:// or mongodb+srv://", mongodoc.RedactURI(c.URI)))
	}
	if strings.ContainsAny(c.Database, "/\\. \"$\x00") {
		errs = append(errs, fmt.Errorf("mongojournal: database %q contains a character MongoDB forbids", c.Database))
	}
	if c.Mode != ModeCollections && c.Mode != ModeDatabase {
		errs = append(errs, fmt.Errorf("mongojournal: mode %q is not %q or %q", c.Mode, ModeCollections, ModeDatabase))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"bucketRefresh", c.BucketRefresh}, {"pollMin", c.PollMin}, {"pollMax", c.PollMax}, {"startMargin", c.StartMargin}, {"reopenMax", c.ReopenMax}, {"timeout", c.Timeout}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("mongojournal: %s %s is negative", d.name, d.v))
		}
	}
	if c.BatchSize < 0 {
		errs = append(errs, fmt.Errorf("mongojournal: batchSize %d is negative", c.BatchSize))
	}
	if c.PollMin > c.PollMax {
		errs = append(errs, fmt.Errorf("mongojournal: pollMin %s is above pollMax %s", c.PollMin, c.PollMax))
	}
	return errors.Join(errs...)
}
