package mongojournal

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/openbackbeat/backbeat/ports"
)

// bucketFormat caches, in database mode, whether a collection is a bucket
// and its key format.
type bucketFormat struct {
	vFormat  string
	isBucket bool
	at       time.Time
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
		return bucketFormat{}, fmt.Errorf("mongojournal: %w", err)
	default:
		f = bucketFormat{vFormat: b.VFormat, isBucket: true, at: time.Now()}
	}
	c.formats[coll] = f
	return f, nil
}
