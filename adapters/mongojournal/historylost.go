package mongojournal

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/openbackbeat/backbeat/ports"
)

// errTokenGone says the oplog no longer holds the event a stream would
// resume after.
var errTokenGone = errors.New("the oplog no longer holds the event the resume token names")

// lostHistory is the history a cursor found lost, gathered over the
// streams until Next reports it.
type lostHistory struct {
	buckets     []string
	from, to    time.Time
	fromUnknown bool
}

// failure is the error that ends the cursor, if any: a fatal one, or the
// history lost, reported with the position to resume from (the streams
// that lost theirs at the oldest point still available, the others where
// they are).
func (c *cursor) failure() error {
	if c.fatal == nil && c.lost != nil {
		l := c.lost
		e := &ports.HistoryLostError{Buckets: l.buckets, To: l.to, Resume: c.position()}
		if !l.fromUnknown {
			e.From = l.from
		}
		c.fatal = e
	}
	return c.fatal
}

// lose records that s cannot resume from its point because the oplog no
// longer holds what comes after it. s resumes from the oldest entry still
// in the oplog (not before its own point), or, when the oplog cannot be
// read, from the server's current time; the loss names s's bucket (every
// replicated bucket, in database mode) and the time range from s's last
// event to where it resumes.
func (c *cursor) lose(ctx context.Context, s *stream, cause error) {
	buckets := []string{s.name}
	if c.database {
		bs, err := c.j.meta.ReplicatedBuckets(ctx)
		if err != nil {
			c.retryLater(s, errors.Join(cause, fmt.Errorf("mongojournal: %w", err))) // cannot name them yet
			return
		}
		buckets = buckets[:0]
		for _, b := range bs {
			if strings.HasPrefix(b.Name, c.cfg.BucketPrefix) {
				buckets = append(buckets, b.Name)
			}
		}
	}
	resume, err := c.oldestEntry(ctx)
	if err != nil {
		now, err := c.serverTime(ctx)
		if err != nil {
			c.retryLater(s, errors.Join(cause, err))
			return
		}
		resume = &clusterTime{T: uint32(now.Unix())}
	}
	from, known := time.Time{}, false
	switch last := s.point.CT; {
	case last != nil:
		from, known = last.time(), true
		if next := last.after(); resume.less(*next) {
			resume = next // the oplog was trimmed around the point, not past it
		}
	case s.point.At != nil:
		from, known = s.point.At.time(), true
	}
	c.log.Warn("mongojournal: change stream history lost; resuming from the oldest entry still held", "stream", s.label(),
		"from", from, "to", resume.time(), "error", cause)
	s.point = resumePoint{At: resume}
	s.failures, s.retryAt = 0, time.Now()
	l := c.lost
	if l == nil {
		l = &lostHistory{from: from}
		c.lost = l
	}
	for _, b := range buckets {
		if !slices.Contains(l.buckets, b) {
			l.buckets = append(l.buckets, b)
		}
	}
	l.fromUnknown = l.fromUnknown || !known
	if known && from.Before(l.from) {
		l.from = from
	}
	if t := resume.time(); t.After(l.to) {
		l.to = t
	}
}

func (c *cursor) oplog() *mongo.Collection {
	return c.j.client.Database("local").Collection("oplog.rs")
}

// oldestEntry is the cluster time of the oldest oplog entry, or an error
// when the oplog cannot be read or is empty.
func (c *cursor) oldestEntry(ctx context.Context) (*clusterTime, error) {
	octx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	raw, err := c.oplog().FindOne(octx, bson.D{}, options.FindOne().SetSort(bson.D{{Key: "$natural", Value: 1}}).SetProjection(bson.D{{Key: "ts", Value: 1}})).Raw()
	if err != nil {
		return nil, err
	}
	t, i, ok := raw.Lookup("ts").TimestampOK()
	if !ok {
		return nil, errors.New("the oldest oplog entry has no ts")
	}
	return &clusterTime{T: t, I: i}, nil
}

// tokenGone reports whether the oplog no longer holds the event p
// resumes after: it was trimmed past it. mongo-java-server resumes after
// any token, whatever its oplog still holds, so the journal asks itself;
// MongoDB reports it as well (ChangeStreamHistoryLost). Points without
// the event's cluster time (post-batch tokens, times) are not checked,
// nor are they when the oplog cannot be read (no rights on local, mongos):
// then only the server's errors tell.
func (c *cursor) tokenGone(ctx context.Context, p resumePoint) bool {
	if len(p.Token) == 0 || p.CT == nil {
		return false
	}
	octx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	err := c.oplog().FindOne(octx, bson.D{{Key: "ts", Value: p.CT.timestamp()}}, options.FindOne().SetProjection(bson.D{{Key: "ts", Value: 1}})).Err()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return true
	}
	if err != nil && !c.oplogUnreadable {
		c.oplogUnreadable = true
		c.log.Info("mongojournal: cannot read the oplog to check resume points; only the server's history-lost errors tell", "error", err)
	}
	return false
}
