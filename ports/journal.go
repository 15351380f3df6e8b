package ports

import (
	"context"
	"time"
)

// Position is an opaque, resumable place in the journal. Adapters encode
// whatever they need (a change-stream resume token, one per collection).
type Position []byte

// JournalEvent is one write of an object's metadata.
type JournalEvent struct {
	// Position resumes the journal just after this event.
	Position Position
	Bucket   string
	// Key is the document's key in v0 form: `key` for a master,
	// `key\x00versionId` for a version (see domain.NormalizeKey).
	Key string
	// Value is the ObjectMD as JSON, field names unescaped.
	Value []byte
	// Time is when the write was committed, if the journal knows.
	Time time.Time
}

// Journal is the ordered log of metadata writes (MongoDB's change stream).
type Journal interface {
	// Open starts reading after position from; a nil from starts at the
	// journal's current end. Events of one bucket arrive in commit order.
	Open(ctx context.Context, from Position) (JournalCursor, error)
}

// JournalCursor reads a journal. It is used by one goroutine at a time.
type JournalCursor interface {
	// Next returns between 1 and max events, waiting until at least one is
	// available. It returns ctx.Err() when ctx ends first. Transient failures
	// of the journal are retried inside; any error, ctx's included, means the
	// cursor is done: open a new one from the last processed position.
	Next(ctx context.Context, max int) ([]JournalEvent, error)
	Close(ctx context.Context) error
}

// Checkpoints stores the journal position a reader has fully processed.
type Checkpoints interface {
	// Load returns the saved position of name, or nil when none was saved.
	Load(ctx context.Context, name string) (Position, error)
	// Save durably records pos as name's position, replacing the previous.
	Save(ctx context.Context, name string, pos Position) error
}
