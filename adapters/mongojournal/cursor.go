package mongojournal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/openbackbeat/backbeat/adapters/mongometa"
	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
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
	closed   bool
}

// bucketFormat caches, in database mode, whether a collection is a bucket
// and its key format.
type bucketFormat struct {
	vFormat  string
	isBucket bool
	at       time.Time
}

// reopenBackoff spaces the attempts to reopen a failed stream or re-list
// buckets.
func (c *cursor) reopenBackoff(failures int) time.Duration {
	p := domain.RetryPolicy{BaseDelay: 100 * time.Millisecond, MaxDelay: c.cfg.ReopenMax}
	return p.Delay(failures)
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

// refresh re-lists the replicated buckets, opening streams for new ones and
// closing those of buckets that no longer replicate.
//
// A new bucket's stream starts at the server time of the previous listing
// (minus Config.StartMargin): the bucket was not replicated then, so every
// write made under its replication configuration comes after, and none is
// lost between two listings. With no previous listing (Open(nil)), streams
// start at the current end. Cluster times are read from the server's clock
// (isMaster localTime), since mongo-java-server has no sessions and so no
// operationTime; both it and MongoDB accept startAtOperationTime.
func (c *cursor) refresh(ctx context.Context) error {
	now, err := c.serverTime(ctx)
	if err != nil {
		return err
	}
	buckets, err := c.j.meta.ReplicatedBuckets(ctx)
	if err != nil {
		return err
	}
	nowTS := &clusterTime{T: uint32(now.Unix())}
	listed := make(map[string]bool, len(buckets))
	for _, b := range buckets {
		if !strings.HasPrefix(b.Name, c.cfg.BucketPrefix) {
			continue
		}
		listed[b.Name] = true
		if s := c.streams[b.Name]; s != nil {
			s.vFormat = b.VFormat
			continue
		}
		s := &stream{name: b.Name, vFormat: b.VFormat}
		if p, ok := c.initial[b.Name]; ok {
			s.point = p
		} else if c.since != nil {
			s.point = resumePoint{At: c.since}
		}
		fromNow := s.point.isZero()
		if err := c.open(ctx, s); err != nil {
			if callerGaveUp(ctx, err) {
				return err
			}
			c.broken(s, err)
		}
		if fromNow {
			s.point = resumePoint{At: nowTS}
		}
		c.streams[b.Name] = s
	}
	for name, s := range c.streams {
		if !listed[name] {
			c.closeStream(ctx, s)
			delete(c.streams, name)
		}
	}
	c.initial = nil
	c.since = &clusterTime{T: uint32(now.Add(-c.cfg.StartMargin).Unix())}
	c.names = c.names[:0]
	for name := range c.streams {
		c.names = append(c.names, name)
	}
	sort.Strings(c.names)
	return nil
}

// collectionOps are the operations a bucket stream asks for: writes, and
// what ends the collection. Deletes are not needed.
var collectionOps = bson.A{"insert", "update", "replace", "drop", "rename", "dropDatabase", "invalidate"}

func collectionPipeline() mongo.Pipeline {
	return mongo.Pipeline{{{Key: "$match", Value: bson.D{{Key: "operationType", Value: bson.D{{Key: "$in", Value: collectionOps}}}}}}}
}

// databasePipeline keeps the writes to collections that can be buckets
// (CloudServer's own collections start with "__") and the events that end
// the stream.
func databasePipeline() mongo.Pipeline {
	return mongo.Pipeline{{{Key: "$match", Value: bson.D{{Key: "$or", Value: bson.A{
		bson.D{
			{Key: "operationType", Value: bson.D{{Key: "$in", Value: bson.A{"insert", "update", "replace"}}}},
			{Key: "ns.coll", Value: bson.D{{Key: "$not", Value: primitive.Regex{Pattern: "^__"}}}},
		},
		bson.D{{Key: "operationType", Value: bson.D{{Key: "$in", Value: bson.A{"dropDatabase", "invalidate"}}}}},
	}}}}}}
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
	var se mongo.ServerError
	if !errors.As(err, &se) {
		return false
	}
	return se.HasErrorCode(codeChangeStreamHistLost) || se.HasErrorCode(codeChangeStreamFatal) ||
		se.HasErrorCode(codeInvalidResumeToken) || se.HasErrorCode(codeCappedPositionLost)
}

// broken records that s failed: it is reopened from its point after a
// backoff, unless its history is lost, which kills the cursor.
func (c *cursor) broken(s *stream, err error) {
	c.closeStream(context.Background(), s)
	if historyLost(err) {
		c.fatal = fmt.Errorf("mongojournal: %w: change stream of %q cannot resume (history lost; a backfill is needed): %w", domain.ErrPermanent, s.label(), err)
		return
	}
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
				c.broken(s, err)
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
		if c.fatal != nil {
			return nil, c.fatal
		}
		if !c.database && !time.Now().Before(c.nextRefresh) {
			c.refreshNow(ctx)
		}
		c.reopenDue(ctx)
		events := c.poll(ctx, limit)
		if len(events) > 0 {
			c.idle = 0
			return events, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if c.fatal != nil {
			return nil, c.fatal
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

func (c *cursor) refreshNow(ctx context.Context) {
	if err := c.refresh(ctx); err != nil {
		if callerGaveUp(ctx, err) {
			return
		}
		c.refreshFail++
		d := c.reopenBackoff(c.refreshFail)
		c.nextRefresh = time.Now().Add(d)
		c.log.Warn("mongojournal: listing replicated buckets failed", "attempt", c.refreshFail, "retry_in", d, "error", err)
		return
	}
	c.refreshFail = 0
	c.nextRefresh = time.Now().Add(c.cfg.BucketRefresh)
}

// poll takes up to max events from the open streams, starting with a
// different stream each time so that a busy bucket cannot starve others.
func (c *cursor) poll(ctx context.Context, limit int) []ports.JournalEvent {
	var events []ports.JournalEvent
	if c.database {
		return c.drain(ctx, c.db, events, limit)
	}
	n := len(c.names)
	for k := 0; k < n && len(events) < limit && c.fatal == nil; k++ {
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
					c.broken(s, err)
				case s.cs.ID() == 0:
					c.broken(s, errors.New("the server closed the change stream"))
				default:
					// An empty getMore may carry a newer resume token (MongoDB's
					// post-batch token): resuming there skips nothing.
					if tok := s.cs.ResumeToken(); len(tok) > 0 {
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

// event turns one change into a journal event (ok=false: nothing to
// deliver), moving s's resume point past it.
func (c *cursor) event(ctx context.Context, s *stream, doc bson.Raw) (ports.JournalEvent, bool, error) {
	op, _ := doc.Lookup("operationType").StringValueOK()
	switch op {
	case "insert", "update", "replace":
	case "drop", "rename", "dropDatabase", "invalidate":
		// The collection (or database) is gone: MongoDB ends the stream.
		// Resume just after this event: after a re-listing, a bucket created
		// again under the same name is watched from there.
		c.closeStream(ctx, s)
		if t, i, ok := doc.Lookup("clusterTime").TimestampOK(); ok {
			s.point = resumePoint{At: clusterTime{T: t, I: i}.after()}
		}
		s.retryAt = time.Now()
		if !c.database {
			s.retryAt = c.nextRefresh
		}
		return ports.JournalEvent{}, false, nil
	default:
		s.point = eventPoint(doc, s.point)
		return ports.JournalEvent{}, false, nil
	}
	bucket, vFormat := s.name, s.vFormat
	if c.database {
		bucket, _ = doc.Lookup("ns", "coll").StringValueOK()
		f, err := c.bucketFormat(ctx, bucket)
		if err != nil {
			return ports.JournalEvent{}, false, err
		}
		if !f.isBucket {
			s.point = eventPoint(doc, s.point)
			return ports.JournalEvent{}, false, nil
		}
		vFormat = f.vFormat
	}
	full, err := c.changedDocument(ctx, bucket, op, doc)
	if err != nil {
		return ports.JournalEvent{}, false, err
	}
	s.point = eventPoint(doc, s.point)
	ev, err := toEvent(bucket, vFormat, doc, full)
	if err != nil {
		// The journal has no dead-letter path of its own: a document that is
		// not CloudServer metadata is logged loudly and passed over.
		c.log.Error("mongojournal: skipping a change that is not object metadata", "bucket", bucket, "error", err)
		return ports.JournalEvent{}, false, nil
	}
	if ev.Value == nil {
		return ports.JournalEvent{}, false, nil // deleted since: nothing left to replicate
	}
	ev.Position = c.position()
	return ev, true, nil
}

// eventPoint is the resume point just after a change: its _id is its
// resume token. A change without one (never seen) keeps the old point.
func eventPoint(doc bson.Raw, old resumePoint) resumePoint {
	if tok, ok := doc.Lookup("_id").DocumentOK(); ok {
		return tokenPoint(tok)
	}
	return old
}

// changedDocument returns the document as a change left it (nil: deleted
// since). Inserts and replacements carry it. An update carries what it set:
// in updateDescription.updatedFields on MongoDB, and as fullDocument on
// mongo-java-server, which puts the $set and $unset fields there when
// updateLookup is not asked for. CloudServer writes a version by setting
// its whole `value`, which is then taken from the event; any other update
// (a status write-back sets `value.replicationInfo`) is resolved by
// reading the document by _id, as updateLookup would, but through the _id
// index on both servers.
func (c *cursor) changedDocument(ctx context.Context, coll, op string, doc bson.Raw) (bson.Raw, error) {
	if op != "update" {
		full, _ := doc.Lookup("fullDocument").DocumentOK()
		return full, nil
	}
	set, ok := doc.Lookup("updateDescription", "updatedFields").DocumentOK()
	if !ok {
		set, _ = doc.Lookup("fullDocument").DocumentOK()
	}
	// mongo-java-server's documentKey is the update specification, without
	// the _id: only an update that sets _id too (CloudServer's and ours all
	// do) can be resolved there.
	id := doc.Lookup("documentKey", "_id")
	if id.Type == 0 {
		id = set.Lookup("_id")
	}
	if id.Type == 0 {
		c.log.Error("mongojournal: skipping an update that names no document (mongo-java-server reports the _id only when the update sets it)", "collection", coll)
		return nil, nil
	}
	if v, ok := set.Lookup("value").DocumentOK(); ok {
		return bson.Marshal(bson.D{{Key: "_id", Value: id}, {Key: "value", Value: v}})
	}
	octx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	full, err := c.j.db.Collection(coll).FindOne(octx, bson.D{{Key: "_id", Value: id}}).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read updated document of %s: %w", coll, err)
	}
	return full, nil
}

// toEvent converts a change and the document it left (nil: deleted since)
// to a journal event. A nil Value means the document no longer exists.
func toEvent(bucket, vFormat string, doc, full bson.Raw) (ports.JournalEvent, error) {
	if full == nil {
		return ports.JournalEvent{Bucket: bucket}, nil
	}
	id, ok := full.Lookup("_id").StringValueOK()
	if !ok {
		id, ok = doc.Lookup("documentKey", "_id").StringValueOK()
	}
	if !ok {
		return ports.JournalEvent{}, errors.New("document _id is not a string")
	}
	key, err := domain.NormalizeKey(id, vFormat)
	if err != nil {
		return ports.JournalEvent{}, err
	}
	value, err := mongometa.ValueJSON(full.Lookup("value"))
	if err != nil {
		return ports.JournalEvent{}, fmt.Errorf("document %q: %w", id, err)
	}
	ev := ports.JournalEvent{Bucket: bucket, Key: key, Value: value}
	if t, ok := doc.Lookup("wallTime").TimeOK(); ok {
		ev.Time = t
	} else if t, _, ok := doc.Lookup("clusterTime").TimestampOK(); ok {
		ev.Time = time.Unix(int64(t), 0)
	}
	return ev, nil
}

// bucketFormat tells, in database mode, whether coll is a bucket and its
// key format, cached for Config.BucketRefresh.
func (c *cursor) bucketFormat(ctx context.Context, coll string) (bucketFormat, error) {
	if f, ok := c.formats[coll]; ok && time.Since(f.at) < c.cfg.BucketRefresh {
		return f, nil
	}
	if coll == "" || strings.HasPrefix(coll, "__") {
		return bucketFormat{at: time.Now()}, nil
	}
	b, err := c.j.meta.Bucket(ctx, coll)
	var f bucketFormat
	switch {
	case errors.Is(err, ports.ErrNotFound):
		f = bucketFormat{at: time.Now()}
	case err != nil:
		return bucketFormat{}, err
	default:
		f = bucketFormat{vFormat: b.VFormat, isBucket: true, at: time.Now()}
	}
	c.formats[coll] = f
	return f, nil
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
