package mongojournal

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/openbackbeat/backbeat/domain"
)

// stream is one change stream: a bucket's collection, or the database.
type stream struct {
	name    string // bucket (collection) name; empty for the database
	vFormat string
	cs      *mongo.ChangeStream // nil while closed, waiting to be reopened
	// point is where the stream resumes: after the last event consumed.
	point resumePoint
	// pending is a consumed event not yet turned into a journal event
	// because of a transient error (database mode: reading its bucket).
	pending  bson.Raw
	failures int
	retryAt  time.Time
}

// reopenBackoff spaces the attempts to reopen a failed stream or re-list
// buckets.
func (c *cursor) reopenBackoff(failures int) time.Duration {
	p := domain.RetryPolicy{BaseDelay: 100 * time.Millisecond, MaxDelay: c.cfg.ReopenMax}
	return p.Delay(failures)
}

// start opens the streams Open promises: the database stream, or one per
// bucket replicated now.
func (c *cursor) start(ctx context.Context) error {
	if c.database {
		now, err := c.serverTime(ctx)
		if err != nil {
			return fmt.Errorf("mongojournal: open: %w", err)
		}
		fromNow := c.db.point.isZero()
		if err := c.open(ctx, c.db); err != nil {
			return fmt.Errorf("mongojournal: open database change stream: %w", err)
		}
		if fromNow {
			c.db.point = resumePoint{At: &clusterTime{T: uint32(now.Unix())}}
		}
		return nil
	}
	if err := c.refresh(ctx); err != nil {
		return fmt.Errorf("mongojournal: open: %w", err)
	}
	c.nextRefresh = time.Now().Add(c.cfg.BucketRefresh)
	return nil
}

// serverTime is the server's clock, which change-stream cluster times
// follow (mongo-java-server and MongoDB both derive them from wall time).
// It asks `hello`, or `isMaster` from servers that predate it
// (mongo-java-server).
func (c *cursor) serverTime(ctx context.Context) (time.Time, error) {
	octx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	raw, err := c.j.db.RunCommand(octx, bson.D{{Key: c.helloCmd, Value: 1}}).Raw()
	var ce mongo.CommandError
	if c.helloCmd == "hello" && errors.As(err, &ce) && (ce.Code == codeCommandNotFound || ce.Name == "CommandNotFound") {
		c.helloCmd = "isMaster"
		raw, err = c.j.db.RunCommand(octx, bson.D{{Key: c.helloCmd, Value: 1}}).Raw()
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("read server time: %w", err)
	}
	if t, ok := raw.Lookup("localTime").TimeOK(); ok {
		return t, nil
	}
	return time.Now(), nil
}

// open opens s's change stream at s.point.
func (c *cursor) open(ctx context.Context, s *stream) error {
	// MongoDB holds an empty getMore up to maxAwaitTime: short with one
	// stream per bucket, polled in turn; up to PollMax for the single
	// database stream. mongo-java-server never waits.
	// No updateLookup: mongo-java-server serves it by scanning the bucket's
	// collection for every update event. Updates are resolved by
	// changedDocument instead, by _id when the event does not carry the
	// whole value.
	opts := options.ChangeStream().SetMaxAwaitTime(c.cfg.PollMin).SetBatchSize(int32(min(c.cfg.BatchSize, math.MaxInt32)))
	if c.database {
		opts.SetMaxAwaitTime(c.cfg.PollMax)
	}
	switch {
	case len(s.point.Token) > 0:
		opts.SetResumeAfter(bson.Raw(s.point.Token))
	case s.point.At != nil:
		opts.SetStartAtOperationTime(s.point.At.timestamp())
	}
	if c.tokenGone(ctx, s.point) {
		return errTokenGone
	}
	octx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var cs *mongo.ChangeStream
	var err error
	if c.database {
		cs, err = c.j.db.Watch(octx, databasePipeline(), opts)
	} else {
		cs, err = c.j.db.Collection(s.name).Watch(octx, collectionPipeline(), opts)
	}
	if err != nil {
		return err
	}
	s.cs = cs
	return nil
}

// codeCommandNotFound answers a command the server does not know.
const codeCommandNotFound = 59

// Error codes after which a stream cannot resume: its history is gone.
const (
	codeCappedPositionLost   = 136 // the oplog rolled past the position (old servers)
	codeInvalidResumeToken   = 260
	codeChangeStreamFatal    = 280
	codeChangeStreamHistLost = 286
)

func historyLost(err error) bool {
	if errors.Is(err, errTokenGone) {
		return true
	}
	var se mongo.ServerError
	if !errors.As(err, &se) {
		return false
	}
	return se.HasErrorCode(codeChangeStreamHistLost) || se.HasErrorCode(codeChangeStreamFatal) ||
		se.HasErrorCode(codeInvalidResumeToken) || se.HasErrorCode(codeCappedPositionLost)
}

// broken records that s failed: it is reopened from its point after a
// backoff or, when its history is lost, from the oldest point still
// available once the loss is reported (see lose).
func (c *cursor) broken(ctx context.Context, s *stream, err error) {
	c.closeStream(ctx, s)
	if historyLost(err) {
		c.lose(ctx, s, err)
		return
	}
	c.retryLater(s, err)
}

// retryLater reopens s after a backoff.
func (c *cursor) retryLater(s *stream, err error) {
	s.failures++
	d := c.reopenBackoff(s.failures)
	s.retryAt = time.Now().Add(d)
	c.log.Warn("mongojournal: change stream failed, reopening", "stream", s.label(), "attempt", s.failures, "in", d, "error", err)
}

func (s *stream) label() string {
	if s.name == "" {
		return "<database>"
	}
	return s.name
}

func (c *cursor) closeStream(ctx context.Context, s *stream) {
	if s.cs != nil {
		octx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.Timeout)
		_ = s.cs.Close(octx)
		cancel()
		s.cs = nil
	}
}

// reopenDue reopens the closed streams whose backoff has elapsed.
func (c *cursor) reopenDue(ctx context.Context) {
	now := time.Now()
	reopen := func(s *stream) {
		if s.cs != nil || now.Before(s.retryAt) {
			return
		}
		if err := c.open(ctx, s); err != nil {
			if !callerGaveUp(ctx, err) {
				c.broken(ctx, s, err)
			}
			return
		}
		s.failures = 0
	}
	if c.database {
		reopen(c.db)
		return
	}
	for _, name := range c.names {
		reopen(c.streams[name])
	}
}
