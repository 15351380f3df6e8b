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
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/openbackbeat/backbeat/adapters/internal/mongodoc"
	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// MetastoreCollection is CloudServer's collection of bucket attributes.
const MetastoreCollection = mongodoc.MetastoreCollection

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
	buckets   *mongodoc.Metastore
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
	return mongodoc.Connect(ctx, uri, timeout)
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
		buckets: mongodoc.NewMetastore(db, cfg.Timeout, cfg.Logger),
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
	b, err := s.buckets.Bucket(ctx, name)
	if err != nil {
		return domain.Bucket{}, fmt.Errorf("mongometa: %w", err)
	}
	return b, nil
}

// ReplicatedBuckets returns the buckets that have at least one enabled
// replication rule, sorted by name (mongodoc.Metastore.ReplicatedBuckets
// says how malformed bucket documents are treated).
func (s *Store) ReplicatedBuckets(ctx context.Context) ([]domain.Bucket, error) {
	bs, err := s.buckets.ReplicatedBuckets(ctx)
	if err != nil {
		return nil, fmt.Errorf("mongometa: %w", err)
	}
	return bs, nil
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
	repl, err := mongodoc.EncodeReplication(b.Replication)
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
	s.buckets.Remember(b.Name, vFormat)
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
	f, err := s.buckets.VFormat(ctx, bucket)
	if err != nil {
		return "", fmt.Errorf("mongometa: %w", err)
	}
	return f, nil
}
