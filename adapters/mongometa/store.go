// Package mongometa is the MongoDB adapter of the source metadata, in
// CloudServer's layout (scality/Arsenal MongoClientInterface): database
// `metadata`, collection `__metastore` with one document per bucket, and one
// collection per bucket holding `{_id, value: ObjectMD}` documents keyed in
// the bucket's v0 or v1 format. It implements ports.MetadataStore,
// ports.MetadataWriter, ports.VersionScanner, ports.Checkpoints and
// ports.JobStore (collection __backbeat_jobs), and converts between BSON and
// the domain at its boundary: the stored `value` becomes CloudServer's
// ObjectMD JSON, which the domain parses.
package mongometa

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

// MetastoreCollection is CloudServer's collection of bucket attributes.
const MetastoreCollection = "__metastore"

// bucketFormatTTL bounds how long a bucket's key format is cached. The format
// is fixed when a bucket is created; the bound only matters when a bucket is
// deleted and created again with another format.
const bucketFormatTTL = 30 * time.Second

// Store reads and writes CloudServer metadata in MongoDB. It is safe for
// concurrent use.
type Store struct {
	cfg       Config
	log       *slog.Logger
	client    *mongo.Client
	ownClient bool
	db        *mongo.Database
	meta      *mongo.Collection
	ckpt      *mongo.Collection
	jobs      *mongo.Collection

	mu      sync.Mutex
	formats map[string]cachedFormat
	warned  map[string]bool // malformed bucket documents already reported
}

type cachedFormat struct {
	vFormat string
	at      time.Time
}

var (
	_ ports.MetadataStore  = (*Store)(nil)
	_ ports.MetadataWriter = (*Store)(nil)
	_ ports.Checkpoints    = (*Store)(nil)
)

// Connect opens a MongoDB client for uri and checks the server answers
// within timeout. Server selection and connection setup are bounded by
// timeout too, so calls fail instead of hanging while the server is away.
func Connect(ctx context.Context, uri string, timeout time.Duration) (*mongo.Client, error) {
	opts := options.Client().ApplyURI(uri).
		SetServerSelectionTimeout(timeout).
		SetConnectTimeout(timeout)
	client, err := mongo.Connect(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("mongodb connect %s: %w", RedactURI(uri), err)
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := client.Ping(pctx, nil); err != nil {
		_ = client.Disconnect(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("mongodb ping %s: %w", RedactURI(uri), err)
	}
	return client, nil
}

// New connects to cfg.URI and returns a store that owns its client.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	client, err := Connect(ctx, cfg.URI, cfg.Timeout)
	if err != nil {
		return nil, fmt.Errorf("mongometa: %w", err)
	}
	s := newStore(client, cfg)
	s.ownClient = true
	return s, nil
}

// NewWithClient returns a store using client, which the caller keeps
// owning (Close leaves it open). cfg.URI is not used.
func NewWithClient(client *mongo.Client, cfg Config) (*Store, error) {
	if cfg.URI == "" {
		cfg.URI = "mongodb://unused"
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return newStore(client, cfg.WithDefaults()), nil
}

func newStore(client *mongo.Client, cfg Config) *Store {
	db := client.Database(cfg.Database)
	return &Store{
		cfg:     cfg,
		log:     cfg.Logger,
		client:  client,
		db:      db,
		meta:    db.Collection(MetastoreCollection),
		ckpt:    db.Collection(cfg.CheckpointCollection),
		jobs:    db.Collection(cfg.JobCollection),
		formats: map[string]cachedFormat{},
		warned:  map[string]bool{},
	}
}

// Client returns the store's MongoDB client.
func (s *Store) Client() *mongo.Client { return s.client }

// Database returns the metadata database.
func (s *Store) Database() *mongo.Database { return s.db }

// Close disconnects the client if the store opened it.
func (s *Store) Close(ctx context.Context) error {
	if !s.ownClient {
		return nil
	}
	if err := s.client.Disconnect(ctx); err != nil {
		return fmt.Errorf("mongometa: disconnect: %w", err)
	}
	return nil
}

func (s *Store) op(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.cfg.Timeout)
}

// Bucket returns a bucket's attributes from __metastore.
func (s *Store) Bucket(ctx context.Context, name string) (domain.Bucket, error) {
	octx, cancel := s.op(ctx)
	defer cancel()
	raw, err := s.meta.FindOne(octx, bson.D{{Key: "_id", Value: name}}).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return domain.Bucket{}, fmt.Errorf("mongometa: bucket %q: %w", name, ports.ErrNotFound)
	}
	if err != nil {
		return domain.Bucket{}, fmt.Errorf("mongometa: read bucket %q: %w", name, err)
	}
	b, err := decodeBucket(raw)
	if err != nil {
		if kf, kerr := keyFormat(raw); kerr == nil {
			// Its versions can still be read and marked FAILED.
			s.rememberFormat(name, kf.VFormat)
		}
		return domain.Bucket{}, fmt.Errorf("mongometa: bucket %q: %w: %w", name, domain.ErrPermanent, err)
	}
	s.rememberFormat(name, b.VFormat)
	return b, nil
}

// ReplicatedBuckets returns the buckets that have at least one enabled
// replication rule, sorted by name. A malformed bucket document is logged,
// not fatal: one bad bucket must not stop the journal of the others. It is
// listed (name and key format only) when it holds a replication
// configuration and its keys can be read, so that its versions are seen
// and fail with the reason; otherwise it is left out.
func (s *Store) ReplicatedBuckets(ctx context.Context) ([]domain.Bucket, error) {
	octx, cancel := s.op(ctx)
	defer cancel()
	// Only what decodeBucket reads: BucketInfo documents carry ACLs,
	// policies and lifecycle rules that the journal re-lists every refresh.
	proj := bson.D{
		{Key: "vFormat", Value: 1},
		{Key: "value.name", Value: 1},
		{Key: "value.versioningConfiguration", Value: 1},
		{Key: "value.replicationConfiguration", Value: 1},
	}
	cur, err := s.meta.Find(octx, bson.D{}, options.Find().SetProjection(proj))
	if err != nil {
		return nil, fmt.Errorf("mongometa: list buckets: %w", err)
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
			s.mu.Lock()
			first := !s.warned[id]
			s.warned[id] = true
			s.mu.Unlock()
			if first { // the journal lists buckets every few seconds
				s.log.Warn("mongometa: malformed bucket document", "id", id, "error", err, "watched", watch)
			}
			if watch {
				s.rememberFormat(w.Name, w.VFormat)
				out = append(out, w)
			}
			continue
		}
		s.rememberFormat(b.Name, b.VFormat)
		if hasEnabledRule(b) {
			out = append(out, b)
		}
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("mongometa: list buckets: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// ListReplicatedBuckets returns the names of the buckets that have at
// least one enabled replication rule, sorted.
func (s *Store) ListReplicatedBuckets(ctx context.Context) ([]string, error) {
	bs, err := s.ReplicatedBuckets(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(bs))
	for i, b := range bs {
		names[i] = b.Name
	}
	return names, nil
}

func hasEnabledRule(b domain.Bucket) bool {
	if b.Replication == nil {
		return false
	}
	for _, r := range b.Replication.Rules {
		if r.Enabled {
			return true
		}
	}
	return false
}

// PutBucket creates or updates a bucket's document in __metastore and its
// collection. Only the attributes the domain knows are set, so the other
// BucketInfo fields CloudServer keeps (ACL, owner, ...) survive.
func (s *Store) PutBucket(ctx context.Context, b domain.Bucket) error {
	if b.Name == "" {
		return fmt.Errorf("mongometa: put bucket: %w: empty name", domain.ErrPermanent)
	}
	vFormat := b.VFormat
	if vFormat == "" {
		vFormat = "v0"
	}
	if vFormat != "v0" && vFormat != "v1" {
		return fmt.Errorf("mongometa: put bucket %q: %w: unknown key format %q", b.Name, domain.ErrPermanent, b.VFormat)
	}
	repl, err := encodeReplication(b.Replication)
	if err != nil {
		return fmt.Errorf("mongometa: put bucket %q: %w: %w", b.Name, domain.ErrPermanent, err)
	}
	status := "Suspended"
	if b.VersioningEnabled {
		status = "Enabled"
	}
	update := bson.D{
		{Key: "$set", Value: bson.D{
			{Key: "value.name", Value: b.Name},
			{Key: "value.versioningConfiguration", Value: bson.D{{Key: "Status", Value: status}}},
			{Key: "value.replicationConfiguration", Value: repl},
			{Key: "vFormat", Value: vFormat},
		}},
		{Key: "$setOnInsert", Value: bson.D{
			{Key: "value.owner", Value: ""},
			{Key: "value.ownerDisplayName", Value: ""},
			{Key: "value.creationDate", Value: time.Now().UTC().Format("2006-01-02T15:04:05.000Z")},
		}},
	}
	octx, cancel := s.op(ctx)
	defer cancel()
	if _, err := s.meta.UpdateOne(octx, bson.D{{Key: "_id", Value: b.Name}}, update, options.Update().SetUpsert(true)); err != nil {
		return fmt.Errorf("mongometa: put bucket %q: %w", b.Name, err)
	}
	s.rememberFormat(b.Name, vFormat)
	// CloudServer creates the bucket's collection with the bucket; a change
	// stream may watch it before the first object is written.
	if err := s.db.CreateCollection(octx, b.Name); err != nil && !isNamespaceExists(err) {
		return fmt.Errorf("mongometa: create collection of bucket %q: %w", b.Name, err)
	}
	return nil
}

func isNamespaceExists(err error) bool {
	var ce mongo.CommandError
	return errors.As(err, &ce) && (ce.Code == 48 || ce.Name == "NamespaceExists")
}

// VFormat returns the key format ("v0" or "v1") of bucket, from a
// short-lived cache.
func (s *Store) VFormat(ctx context.Context, bucket string) (string, error) {
	if f, ok := s.cachedFormat(bucket); ok {
		return f, nil
	}
	b, err := s.Bucket(ctx, bucket)
	if err != nil {
		// Bucket remembers the key format of a malformed document when
		// that part of it is readable.
		if f, ok := s.cachedFormat(bucket); ok && errors.Is(err, domain.ErrPermanent) {
			return f, nil
		}
		return "", err
	}
	return b.VFormat, nil
}

// cachedFormat returns bucket's remembered key format while it is fresh.
func (s *Store) cachedFormat(bucket string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.formats[bucket]
	return c.vFormat, ok && time.Since(c.at) < bucketFormatTTL
}

func (s *Store) rememberFormat(bucket, vFormat string) {
	s.mu.Lock()
	s.formats[bucket] = cachedFormat{vFormat: vFormat, at: time.Now()}
	s.mu.Unlock()
}
