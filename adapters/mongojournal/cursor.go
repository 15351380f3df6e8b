package mongojournal

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/openbackbeat/backbeat/ports"
)

// cursor reads the journal; one goroutine at a time.
type cursor struct {
	j        *Journal
	cfg      Config
	log      *slog.Logger
	database bool

	// collections mode
	streams     map[string]*stream
	names       []string // sorted keys of streams, the polling order
	rr          int      // rotates the first stream polled, for fairness
	since       *clusterTime
	initial     map[string]resumePoint
	nextRefresh time.Time
	refreshFail int

	// database mode
	db      *stream
	formats map[string]bucketFormat

	helloCmd string // "hello", or "isMaster" on servers without it
	idle     time.Duration
	fatal    error
	// lost gathers the history found lost, until Next reports it.
	lost *lostHistory
	// oplogUnreadable is set once reading the oplog failed (logged once).
	oplogUnreadable bool
	closed          bool
}

func newCursor(j *Journal) *cursor {
	return &cursor{
		j: j, cfg: j.cfg, log: j.log,
		database: j.cfg.Mode == ModeDatabase,
		streams:  map[string]*stream{},
		db:       &stream{},
		formats:  map[string]bucketFormat{},
		helloCmd: "hello",
	}
}

// Next returns between 1 and max events, polling the streams with an idle
// backoff until one has something.
func (c *cursor) Next(ctx context.Context, limit int) ([]ports.JournalEvent, error) {
	if c.closed {
		return nil, errors.New("mongojournal: cursor is closed")
	}
	limit = max(limit, 1)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := c.failure(); err != nil {
			return nil, err
		}
		if !c.database && !time.Now().Before(c.nextRefresh) {
			c.refreshNow(ctx)
		}
		c.reopenDue(ctx)
		if err := c.failure(); err != nil {
			return nil, err
		}
		events := c.poll(ctx, limit)
		if len(events) > 0 {
			c.idle = 0
			return events, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := c.failure(); err != nil {
			return nil, err
		}
		c.idle = min(max(2*c.idle, c.cfg.PollMin), c.cfg.PollMax)
		wait := c.idle
		if !c.database {
			wait = min(wait, max(time.Until(c.nextRefresh), 0))
		}
		if err := sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// poll takes up to max events from the open streams, starting with a
// different stream each time so that a busy bucket cannot starve others.
func (c *cursor) poll(ctx context.Context, limit int) []ports.JournalEvent {
	var events []ports.JournalEvent
	if c.database {
		return c.drain(ctx, c.db, events, limit)
	}
	n := len(c.names)
	for k := 0; k < n && len(events) < limit && c.fatal == nil && c.lost == nil; k++ {
		s := c.streams[c.names[(c.rr+k)%n]]
		if s.cs != nil {
			events = c.drain(ctx, s, events, limit)
		}
	}
	c.rr++
	return events
}

// drain appends s's available events to events, up to limit in all.
func (c *cursor) drain(ctx context.Context, s *stream, events []ports.JournalEvent, limit int) []ports.JournalEvent {
	for len(events) < limit && s.cs != nil {
		doc := s.pending
		if doc == nil {
			octx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
			ok := s.cs.TryNext(octx)
			cancel()
			if !ok {
				switch err := s.cs.Err(); {
				case err != nil && callerGaveUp(ctx, err):
					// The caller gave up: reopen at once on the next call.
					c.closeStream(ctx, s)
				case err != nil:
					c.broken(ctx, s, err)
				case s.cs.ID() == 0:
					c.broken(ctx, s, errors.New("the server closed the change stream"))
				default:
					// An empty getMore may carry a newer resume token (MongoDB's
					// post-batch token): resuming there skips nothing.
					if tok := s.cs.ResumeToken(); len(tok) > 0 && !bytes.Equal(tok, s.point.Token) {
						s.point = tokenPoint(tok)
					}
				}
				return events
			}
			doc = append(bson.Raw(nil), s.cs.Current...)
		}
		s.pending = nil
		ev, ok, err := c.event(ctx, s, doc)
		if err != nil {
			// Transient (reading the bucket's format): keep the change
			// for the next poll.
			s.pending = doc
			c.log.Warn("mongojournal: cannot read an event's bucket, retrying", "stream", s.label(), "error", err)
			return events
		}
		if ok {
			events = append(events, ev)
		}
	}
	return events
}

// callerGaveUp reports whether err comes from the caller's context ending
// rather than from the server. The driver fails an operation with
// DeadlineExceeded a little before the deadline when the time left is
// shorter than a round trip, hence the slack.
func callerGaveUp(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return true
	}
	deadline, ok := ctx.Deadline()
	return ok && errors.Is(err, context.DeadlineExceeded) && time.Until(deadline) < 250*time.Millisecond
}

// position is where the journal resumes after the event being delivered.
func (c *cursor) position() ports.Position {
	p := position{V: positionVersion, Mode: c.cfg.Mode}
	if c.database {
		pt := c.db.point
		p.DB = &pt
		return p.encode()
	}
	p.Since = c.since
	p.Streams = make(map[string]resumePoint, len(c.streams))
	for name, s := range c.streams {
		if !s.point.isZero() {
			p.Streams[name] = s.point
		}
	}
	return p.encode()
}

// Close closes every stream.
func (c *cursor) Close(ctx context.Context) error {
	c.closed = true
	for _, s := range c.streams {
		c.closeStream(ctx, s)
	}
	c.closeStream(ctx, c.db)
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
