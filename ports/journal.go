package ports

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
//
// A journal keeps a bounded history (MongoDB's oplog is capped). When the
// events after a position have been dropped, Open from that position, or
// Next on a cursor that fell behind, fails with a *HistoryLostError
// (errors.Is ErrHistoryLost) instead of skipping them silently; opening
// from its Resume position then succeeds.
type Journal interface {
	// Open starts reading after position from; a nil from starts at the
	// journal's current end. Events of one bucket arrive in commit order.
	Open(ctx context.Context, from Position) (JournalCursor, error)
}

// ErrHistoryLost says the journal no longer holds events that come after
// the position being read: they may have been written and never seen.
var ErrHistoryLost = errors.New("journal history lost")

// HistoryLostError is how a journal reports lost history. The writes it
// hid must be found by other means (a backfill of Buckets, from From on).
type HistoryLostError struct {
	// Buckets are the buckets whose events may be lost: never fewer than
	// those whose events were dropped, possibly more (every bucket the
	// journal watches, when it cannot tell).
	Buckets []string
	// From is the commit time of the last event read before the gap, as
	// far as the journal knows it (zero: unknown, the gap may reach back
	// to any time). Writes made before From were seen.
	From time.Time
	// To is the commit time of the oldest event the journal still holds
	// (or the time the loss was found, when it holds none): the gap ends
	// there.
	To time.Time
	// Resume is where to open the journal again: the oldest position still
	// available for the part that was lost, the same as before for the
	// rest. Nothing after it that the journal still holds is skipped.
	Resume Position
}

func (e *HistoryLostError) Error() string {
	from := "an unknown time"
	if !e.From.IsZero() {
		from = e.From.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("%v: events of bucket(s) %s between %s and %s are no longer in the journal", ErrHistoryLost, strings.Join(e.Buckets, ", "), from, e.To.UTC().Format(time.RFC3339))
}

// Is makes errors.Is(err, ErrHistoryLost) true.
func (e *HistoryLostError) Is(target error) bool { return target == ErrHistoryLost }

// JournalCursor reads a journal. It is used by one goroutine at a time.
type JournalCursor interface {
	// Next returns between 1 and max events, waiting until at least one is
	// available. It returns ctx.Err() when ctx ends first. Transient failures
	// of the journal are retried inside; any error, ctx's included, means the
	// cursor is done: open a new one from the last processed position, or,
	// for a *HistoryLostError, from its Resume.
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
