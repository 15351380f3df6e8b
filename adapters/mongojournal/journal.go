// Package mongojournal is the MongoDB change-stream adapter of
// ports.Journal: it tails the writes CloudServer makes to its metadata
// database (layout in package mongometa; what both adapters read of it is
// in adapters/internal/mongodoc) and turns each insert, update or replace
// of an object document into a journal event.
//
// Two modes sit behind the one port. ModeCollections opens one
// collection-level change stream per replicated bucket (from __metastore,
// re-listed every Config.BucketRefresh) and merges them; it is the only mode
// mongo-java-server serves, and works on MongoDB too. ModeDatabase opens one
// database-level stream, for production MongoDB with many buckets.
//
// Streams are polled with TryNext and an idle backoff (Config.PollMin up to
// PollMax), because mongo-java-server's getMore never waits for data; a
// poll that finds nothing costs one getMore per stream. Failed streams are
// reopened from their last resume token with backoff. A lost history (the
// oplog rolled past a stream's point: the server says so, or the journal
// finds the event its token names gone, since mongo-java-server would
// resume anyway) ends the cursor with a *ports.HistoryLostError whose
// Resume restarts that stream at the oldest oplog entry still held.
//
// Files by concern: cursor.go polls the streams (Next, positions),
// stream.go opens, fails and reopens one stream, collections.go and
// database.go hold what each mode adds, historylost.go the loss, event.go
// turns a change into a journal event.
//
// What mongo-java-server 1.47 (the local stand-in, wire version 8) does, as
// the tests of this package found: collection-level streams work and accept
// resumeAfter, startAfter and startAtOperationTime (inclusive, whole
// seconds); database-level streams open but never return an event; getMore
// returns at once; update events carry the update specification in
// documentKey (so the id is read from fullDocument, looked up with
// updateLookup) and replacements come as updates; dropping a collection
// emits "drop" but no "invalidate"; there are no sessions, hence no
// operationTime (the server clock comes from isMaster's localTime); the
// oplog is an ordinary collection, trimmed in the local stack by
// e2e/stack/oplogtrim, and each getMore scans all of it, about 2 ms per
// empty poll at 30,000 entries and 16 ms at 130,000, so the server's idle
// load grows with the number of bucket streams and the oplog's size.
package mongojournal

import (
	"context"
	"fmt"
	"log/slog"

	"go.mongodb.org/mongo-driver/mongo"

	"github.com/openbackbeat/backbeat/adapters/internal/mongodoc"
	"github.com/openbackbeat/backbeat/ports"
)

// Journal opens cursors on the metadata change streams.
type Journal struct {
	cfg    Config
	log    *slog.Logger
	client *mongo.Client
	own    bool
	db     *mongo.Database
	meta   *mongodoc.Metastore
}

var _ ports.Journal = (*Journal)(nil)

// New connects to cfg.URI and returns a journal that owns its client.
func New(ctx context.Context, cfg Config) (*Journal, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	client, err := mongodoc.Connect(ctx, cfg.URI, cfg.Timeout)
	if err != nil {
		return nil, fmt.Errorf("mongojournal: %w", err)
	}
	j := newJournal(client, cfg)
	j.own = true
	return j, nil
}

// NewWithClient returns a journal using client, which the caller keeps
// owning. cfg.URI is not used.
func NewWithClient(client *mongo.Client, cfg Config) (*Journal, error) {
	if cfg.URI == "" {
		cfg.URI = "mongodb://unused"
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return newJournal(client, cfg.WithDefaults()), nil
}

func newJournal(client *mongo.Client, cfg Config) *Journal {
	db := client.Database(cfg.Database)
	return &Journal{cfg: cfg, log: cfg.Logger, client: client, db: db, meta: mongodoc.NewMetastore(db, cfg.Timeout, cfg.Logger)}
}

// Close disconnects the client if the journal opened it. Close open
// cursors first.
func (j *Journal) Close(ctx context.Context) error {
	if !j.own {
		return nil
	}
	if err := j.client.Disconnect(ctx); err != nil {
		return fmt.Errorf("mongojournal: disconnect: %w", err)
	}
	return nil
}

// Open starts a cursor after from, or at the current end of the journal
// when from is nil. In collections mode the streams of the buckets
// replicated now are open when Open returns.
func (j *Journal) Open(ctx context.Context, from ports.Position) (ports.JournalCursor, error) {
	c := newCursor(j)
	if from != nil {
		p, err := decodePosition(from, j.cfg.Mode)
		if err != nil {
			return nil, err
		}
		c.since = p.Since
		c.initial = p.Streams
		if p.DB != nil {
			c.db.point = *p.DB
		}
	}
	err := c.start(ctx)
	if err == nil {
		err = c.failure()
	}
	if err != nil {
		_ = c.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return c, nil
}
