package memory

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// maxUpdateAttempts bounds the compare-and-swap loop of UpdateVersion. In
// memory a lost race costs microseconds, so only a pathological writer
// storm reaches it.
const maxUpdateAttempts = 1000

// Metadata is the source's metadata in memory: bucket attributes and
// object version documents, stored as CloudServer's ObjectMD JSON. It is
// the journal too: every write appends an event to an oplog that cursors
// read, as MongoDB's change stream shows writes. PutVersion appends the
// version's event, then the master's when the master follows; UpdateVersion
// appends the version's event, then the master's when the master holds
// that version. The oplog is trimmed only when asked (TrimJournal, as a
// capped oplog rolls over): Metadata is meant for tests and demos, not for
// long runs.
//
// It implements ports.MetadataStore, ports.MetadataWriter and ports.Journal,
// and is safe for concurrent use.
type Metadata struct {
	mu      sync.Mutex
	buckets map[string]domain.Bucket
	// docs holds each bucket's documents by v0 key: `key` for the master,
	// `key\x00versionId` for a version.
	docs   map[string]map[string]*document
	events []ports.JournalEvent // event i has sequence number i+1
	// horizon is the last sequence number TrimJournal dropped: cursors
	// no longer see the events up to it (they stay in events, so that a
	// lost history can be described exactly).
	horizon uint64
	// grew is closed, and replaced, whenever events grows: cursors wait on it.
	grew chan struct{}
}

// document is one stored metadata document. It is never changed in place:
// a write stores a new one, so the pointer read is the compare-and-swap
// token of UpdateVersion.
type document struct {
	value     []byte // domain.MarshalObjectMD
	versionID string
}

var (
	_ ports.MetadataStore  = (*Metadata)(nil)
	_ ports.MetadataWriter = (*Metadata)(nil)
	_ ports.Journal        = (*Metadata)(nil)
)

// NewMetadata returns an empty metadata store.
func NewMetadata() *Metadata {
	return &Metadata{
		buckets: map[string]domain.Bucket{},
		docs:    map[string]map[string]*document{},
		grew:    make(chan struct{}),
	}
}

// PutBucket creates or replaces a bucket's attributes.
func (m *Metadata) PutBucket(ctx context.Context, b domain.Bucket) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.Name == "" {
		return fmt.Errorf("memory: put bucket: %w: empty name", domain.ErrPermanent)
	}
	switch b.VFormat {
	case "":
		b.VFormat = "v0"
	case "v0", "v1":
	default:
		return fmt.Errorf("memory: put bucket %q: %w: unknown key format %q", b.Name, domain.ErrPermanent, b.VFormat)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.buckets[b.Name] = copyBucket(b)
	if m.docs[b.Name] == nil {
		m.docs[b.Name] = map[string]*document{}
	}
	return nil
}

// Bucket returns a bucket's attributes, or an error wrapping
// ports.ErrNotFound.
func (m *Metadata) Bucket(ctx context.Context, name string) (domain.Bucket, error) {
	if err := ctx.Err(); err != nil {
		return domain.Bucket{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.buckets[name]
	if !ok {
		return domain.Bucket{}, fmt.Errorf("memory: bucket %q: %w", name, ports.ErrNotFound)
	}
	return copyBucket(b), nil
}

func copyBucket(b domain.Bucket) domain.Bucket {
	if b.Replication != nil {
		c := *b.Replication
		c.Rules = append([]domain.ReplicationRule(nil), c.Rules...)
		b.Replication = &c
	}
	return b
}

// PutVersion writes the version document, then the master document unless
// the master holds a newer version (a smaller version id), as CloudServer's
// versioned PUT does. In a v1 bucket a delete marker removes the master
// instead of replacing it.
func (m *Metadata) PutVersion(ctx context.Context, v domain.ObjectVersion) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if v.Bucket == "" || v.Key == "" || v.VersionID == "" {
		return fmt.Errorf("memory: put version: %w: bucket, key and versionId are required (got %q, %q, %q)", domain.ErrPermanent, v.Bucket, v.Key, v.VersionID)
	}
	value, err := encodeVersion(v)
	if err != nil {
		return fmt.Errorf("memory: put version %s of %s/%s: %w", v.VersionID, v.Bucket, v.Key, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.buckets[v.Bucket]
	if !ok {
		return fmt.Errorf("memory: put version %s of %s/%s: bucket: %w", v.VersionID, v.Bucket, v.Key, ports.ErrNotFound)
	}
	docs := m.docs[v.Bucket]
	vkey := domain.VersionedKey(v.Key, v.VersionID)
	docs[vkey] = &document{value: value, versionID: v.VersionID}
	m.appendEvent(v.Bucket, vkey, value)
	master := docs[v.Key]
	if master != nil && master.versionID != "" && master.versionID < v.VersionID {
		return nil // the master holds a newer version
	}
	if v.IsDeleteMarker && b.VFormat == "v1" {
		delete(docs, v.Key)
		return nil
	}
	docs[v.Key] = &document{value: value, versionID: v.VersionID}
	m.appendEvent(v.Bucket, v.Key, value)
	return nil
}

// DeleteVersion removes a version document; a master holding it then
// holds the newest version left (the smallest id, as PutVersion orders
// them), or goes with the last one. In a v1 bucket a master never holds a
// delete marker.
func (m *Metadata) DeleteVersion(ctx context.Context, bucket, key, versionID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.buckets[bucket]
	if !ok {
		return fmt.Errorf("memory: delete version %s of %s/%s: bucket: %w", versionID, bucket, key, ports.ErrNotFound)
	}
	docs := m.docs[bucket]
	vkey := domain.VersionedKey(key, versionID)
	if _, ok := docs[vkey]; !ok {
		return fmt.Errorf("memory: delete version %s of %s/%s: %w", versionID, bucket, key, ports.ErrNotFound)
	}
	delete(docs, vkey)
	if master := docs[key]; master == nil || master.versionID != versionID {
		return nil
	}
	var newest *document
	for id, d := range docs {
		if k, _, isVersion := domain.SplitVersionedKey(id); isVersion && k == key && (newest == nil || d.versionID < newest.versionID) {
			newest = d
		}
	}
	if newest == nil {
		delete(docs, key)
		return nil
	}
	if b.VFormat == "v1" {
		if v, err := decodeVersion(bucket, key, newest.versionID, newest.value); err == nil && v.IsDeleteMarker {
			delete(docs, key)
			return nil
		}
	}
	docs[key] = &document{value: newest.value, versionID: newest.versionID}
	m.appendEvent(bucket, key, newest.value)
	return nil
}

// encodeVersion returns the ObjectMD JSON of v, refusing what the store
// could not read back.
func encodeVersion(v domain.ObjectVersion) ([]byte, error) {
	value, err := domain.MarshalObjectMD(v)
	if err != nil {
		return nil, fmt.Errorf("%w: encode metadata: %w", domain.ErrPermanent, err)
	}
	if _, err := domain.ParseObjectMD(v.Bucket, value); err != nil {
		return nil, fmt.Errorf("%w: %w", domain.ErrPermanent, err)
	}
	return value, nil
}

func decodeVersion(bucket, key, versionID string, value []byte) (domain.ObjectVersion, error) {
	obj, err := domain.ParseObjectMD(bucket, value)
	if err != nil {
		return domain.ObjectVersion{}, fmt.Errorf("memory: version %s of %s/%s: %w: %w", versionID, bucket, key, domain.ErrPermanent, err)
	}
	if obj.Key == "" {
		obj.Key = key
	}
	if obj.VersionID == "" {
		obj.VersionID = versionID
	}
	return obj, nil
}

// lookup returns the document of key's version (the master when versionID
// is empty). The caller holds m.mu.
func (m *Metadata) lookup(bucket, key, versionID string) (*document, error) {
	docs, ok := m.docs[bucket]
	if !ok {
		return nil, fmt.Errorf("memory: bucket %q: %w", bucket, ports.ErrNotFound)
	}
	id := key
	if versionID != "" {
		id = domain.VersionedKey(key, versionID)
	}
	d, ok := docs[id]
	if !ok {
		return nil, fmt.Errorf("memory: version %q of %s/%s: %w", versionID, bucket, key, ports.ErrNotFound)
	}
	return d, nil
}

// Version returns one object version; an empty versionID reads the master.
func (m *Metadata) Version(ctx context.Context, bucket, key, versionID string) (domain.ObjectVersion, error) {
	if err := ctx.Err(); err != nil {
		return domain.ObjectVersion{}, err
	}
	m.mu.Lock()
	d, err := m.lookup(bucket, key, versionID)
	m.mu.Unlock()
	if err != nil {
		return domain.ObjectVersion{}, err
	}
	return decodeVersion(bucket, key, versionID, d.value)
}

// UpdateVersion calls update on a copy of the version without holding any
// lock, then stores the result only if the document is still the one it
// read, else starts over. This is the compare-and-swap the MongoDB adapter
// does, rather than a mutex around update: update may take its time or call
// other ports, and tests of the application see the same retries as in
// production. A version whose update changes nothing is not written (no
// journal event).
func (m *Metadata) UpdateVersion(ctx context.Context, bucket, key, versionID string, update func(*domain.ObjectVersion) error) (domain.ObjectVersion, error) {
	if versionID == "" {
		return domain.ObjectVersion{}, fmt.Errorf("memory: update %s/%s: %w: empty version id", bucket, key, domain.ErrPermanent)
	}
	vkey := domain.VersionedKey(key, versionID)
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return domain.ObjectVersion{}, err
		}
		m.mu.Lock()
		read, err := m.lookup(bucket, key, versionID)
		m.mu.Unlock()
		if err != nil {
			return domain.ObjectVersion{}, err
		}
		// Decoding gives a deep copy: update may change maps and slices.
		next, err := decodeVersion(bucket, key, versionID, read.value)
		if err != nil {
			return domain.ObjectVersion{}, err
		}
		if err := update(&next); err != nil {
			return domain.ObjectVersion{}, err
		}
		if next.Bucket != bucket || next.Key != key || next.VersionID != versionID {
			return domain.ObjectVersion{}, fmt.Errorf("memory: update version %s of %s/%s: %w: the update changed the version's identity", versionID, bucket, key, domain.ErrPermanent)
		}
		value, err := encodeVersion(next)
		if err != nil {
			return domain.ObjectVersion{}, fmt.Errorf("memory: update version %s of %s/%s: %w", versionID, bucket, key, err)
		}
		if bytes.Equal(value, read.value) {
			return decodeVersion(bucket, key, versionID, value)
		}
		m.mu.Lock()
		docs := m.docs[bucket]
		if docs == nil || docs[vkey] != read {
			m.mu.Unlock()
			if attempt >= maxUpdateAttempts {
				return domain.ObjectVersion{}, fmt.Errorf("memory: update version %s of %s/%s after %d attempts: %w", versionID, bucket, key, attempt, ports.ErrConflict)
			}
			continue
		}
		docs[vkey] = &document{value: value, versionID: versionID}
		m.appendEvent(bucket, vkey, value)
		if master := docs[key]; master != nil && master.versionID == versionID {
			docs[key] = &document{value: value, versionID: versionID}
			m.appendEvent(bucket, key, value)
		}
		m.mu.Unlock()
		return decodeVersion(bucket, key, versionID, value)
	}
}
