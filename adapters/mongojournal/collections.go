package mongojournal

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
)

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
		return fmt.Errorf("mongojournal: %w", err)
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
			c.broken(ctx, s, err)
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

// collectionOps are the operations a bucket stream asks for: writes, and
// what ends the collection. Deletes are not needed.
var collectionOps = bson.A{"insert", "update", "replace", "drop", "rename", "dropDatabase", "invalidate"}

func collectionPipeline() mongo.Pipeline {
	return mongo.Pipeline{{{Key: "$match", Value: bson.D{{Key: "operationType", Value: bson.D{{Key: "$in", Value: collectionOps}}}}}}}
}
