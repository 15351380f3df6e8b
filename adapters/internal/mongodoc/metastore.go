package mongodoc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// formatTTL bounds how long a bucket's key format is remembered. The format
// is fixed when a bucket is created; the bound only matters when a bucket is
// deleted and created again with another format.
const formatTTL = 30 * time.Second

// Metastore reads the bucket documents of __metastore and remembers each
// bucket's key format for a while. It is safe for concurrent use.
type Metastore struct {
	coll    *mongo.Collection
	timeout time.Duration
	log     *slog.Logger

	mu      sync.Mutex
	formats map[string]cachedFormat
	warned  map[string]bool // malformed bucket documents already reported
}

type cachedFormat struct {
	vFormat string
	at      time.Time
}

// NewMetastore reads the __metastore collection of db, bounding each
// operation by timeout and logging malformed bucket documents to log.
func NewMetastore(db *mongo.Database, timeout time.Duration, log *slog.Logger) *Metastore {
	return &Metastore{
		coll:    db.Collection(MetastoreCollection),
		timeout: timeout,
		log:     log,
		formats: map[string]cachedFormat{},
		warned:  map[string]bool{},
	}
}

// Bucket returns a bucket's attributes. A missing bucket is
// ports.ErrNotFound; a malformed document is domain.ErrPermanent (its key
// format, when readable, is remembered all the same: its versions can
// still be read and marked FAILED).
func (m *Metastore) Bucket(ctx context.Context, name string) (domain.Bucket, error) {
	octx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	raw, err := m.coll.FindOne(octx, bson.D{{Key: "_id", Value: name}}).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return domain.Bucket{}, fmt.Errorf("bucket %q: %w", name, ports.ErrNotFound)
	}
	if err != nil {
		return domain.Bucket{}, fmt.Errorf("read bucket %q: %w", name, err)
	}
	b, err := decodeBucket(raw)
	if err != nil {
		if kf, kerr := keyFormat(raw); kerr == nil {
			m.Remember(name, kf.VFormat)
		}
		return domain.Bucket{}, fmt.Errorf("bucket %q: %w: %w", name, domain.ErrPermanent, err)
	}
	m.Remember(name, b.VFormat)
	return b, nil
}

// ReplicatedBuckets returns the buckets that have at least one enabled
// replication rule, sorted by name. A malformed bucket document is logged
// (once), not fatal: one bad bucket must not stop the journal of the
// others. It is listed (name and key format only) when it holds a
// replication configuration and its keys can be read, so that its versions
// are seen and fail with the reason; otherwise it is left out.
func (m *Metastore) ReplicatedBuckets(ctx context.Context) ([]domain.Bucket, error) {
	octx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	// Only what decodeBucket reads: BucketInfo documents carry ACLs,
	// policies and lifecycle rules that the journal re-lists every refresh.
	proj := bson.D{
		{Key: "vFormat", Value: 1},
		{Key: "value.name", Value: 1},
		{Key: "value.versioningConfiguration", Value: 1},
		{Key: "value.replicationConfiguration", Value: 1},
	}
	cur, err := m.coll.Find(octx, bson.D{}, options.Find().SetProjection(proj))
	if err != nil {
		return nil, fmt.Errorf("list buckets: %w", err)
	}
	defer cur.Close(context.WithoutCancel(octx))
	var out []domain.Bucket
	for cur.Next(octx) {
		b, err := decodeBucket(cur.Current)
		if err != nil {
			// A bucket that asks for replication in a form we cannot read
			// is still watched when its keys can be: its versions then fail
			// with the reason (populator), instead of staying PENDING
			// unseen.
			w, watch := watchedAnyway(cur.Current)
			id := cur.Current.Lookup("_id").String()
			m.mu.Lock()
			first := !m.warned[id]
			m.warned[id] = true
			m.mu.Unlock()
			if first { // the journal lists buckets every few seconds
				m.log.Warn("malformed bucket document in "+MetastoreCollection, "id", id, "error", err, "watched", watch)
			}
			if watch {
				m.Remember(w.Name, w.VFormat)
				out = append(out, w)
			}
			continue
		}
		m.Remember(b.Name, b.VFormat)
		if hasEnabledRule(b) {
			out = append(out, b)
		}
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("list buckets: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// VFormat returns the key format ("v0" or "v1") of bucket, from a
// short-lived cache.
func (m *Metastore) VFormat(ctx context.Context, bucket string) (string, error) {
	if f, ok := m.cachedFormat(bucket); ok {
		return f, nil
	}
	b, err := m.Bucket(ctx, bucket)
	if err != nil {
		// Bucket remembers the key format of a malformed document when
		// that part of it is readable.
		if f, ok := m.cachedFormat(bucket); ok && errors.Is(err, domain.ErrPermanent) {
			return f, nil
		}
		return "", err
	}
	return b.VFormat, nil
}

// Remember records bucket's key format, as a writer of the bucket's
// document knows it.
func (m *Metastore) Remember(bucket, vFormat string) {
	m.mu.Lock()
	m.formats[bucket] = cachedFormat{vFormat: vFormat, at: time.Now()}
	m.mu.Unlock()
}

// cachedFormat returns bucket's remembered key format while it is fresh.
func (m *Metastore) cachedFormat(bucket string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.formats[bucket]
	return c.vFormat, ok && time.Since(c.at) < formatTTL
}
