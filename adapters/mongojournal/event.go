package mongojournal

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/openbackbeat/backbeat/adapters/internal/mongodoc"
	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

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
		p := tokenPoint(tok)
		if t, i, ok := doc.Lookup("clusterTime").TimestampOK(); ok {
			p.CT = &clusterTime{T: t, I: i}
		}
		return p
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
	value, err := mongodoc.ValueJSON(full.Lookup("value"))
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
