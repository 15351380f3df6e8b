package memory

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"math"
	"sync"
	"time"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// Objects is one S3-like site in memory: versioned buckets whose every
// write adds a version. As the source it is a ports.ObjectSource; as a
// destination a ports.Destination and ports.ReplicaReader. Tests write
// source objects with PutObject, or through Writer as the simulator does,
// and inject faults into Put with SetFault and into Open with SetOpenFault.
//
// Buckets must exist before Put, Open and Writer().PutObject use them
// (CreateBucket; a missing one is a permanent error, as S3's NoSuchBucket);
// the PutObject helper creates its bucket. Version ids sort inversely to
// time, as CloudServer's do, and are unique across every Objects of the
// process. It is safe for concurrent use.
type Objects struct {
	mu        sync.Mutex
	buckets   map[string]map[string][]*object // bucket -> key -> versions, oldest first
	locked    map[string]bool                 // buckets with object lock enabled
	fault     func(ports.Replica) error
	openFault func(bucket, key, versionID string) error
	writes    int
	tagWrites int
}

// object is one stored version. Only its tags change once it is stored
// (SetTags replaces the map, under Objects.mu); its data never does.
type object struct {
	versionID      string
	data           []byte
	contentType    string
	contentMD5     string
	userMeta       map[string]string
	tags           map[string]string
	isDeleteMarker bool
	headers        domain.Headers
	lock           domain.Lock
}

var (
	_ ports.ObjectSource  = (*Objects)(nil)
	_ ports.Destination   = (*Objects)(nil)
	_ ports.ReplicaReader = (*Objects)(nil)
)

// NewObjects returns a site with no buckets.
func NewObjects() *Objects {
	return &Objects{buckets: map[string]map[string][]*object{}, locked: map[string]bool{}}
}

// versionClock makes version ids: each is smaller than the one before, in
// the whole process.
var versionClock struct {
	mu   sync.Mutex
	last int64
}

func newVersionID() string {
	versionClock.mu.Lock()
	defer versionClock.mu.Unlock()
	n := time.Now().UnixNano()
	if n <= versionClock.last {
		n = versionClock.last + 1
	}
	versionClock.last = n
	return fmt.Sprintf("%019d", math.MaxInt64-n)
}

func md5Hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// CreateBucket creates a versioned bucket; it is a no-op when it exists.
func (o *Objects) CreateBucket(name string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.buckets[name] == nil {
		o.buckets[name] = map[string][]*object{}
	}
}

// CreateLockedBucket creates a versioned bucket with object lock enabled:
// only such a bucket takes replicas with object-lock settings.
func (o *Objects) CreateLockedBucket(name string) {
	o.CreateBucket(name)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.locked[name] = true
}

// SetFault makes Destination.Put call f first with the replica it is asked
// to write; an error from f fails that Put before anything is read or
// written. Wrap domain.ErrPermanent in it for a permanent failure; a test
// can fail a few calls and then return nil. nil removes the fault.
func (o *Objects) SetFault(f func(r ports.Replica) error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.fault = f
}

// SetOpenFault makes Open call f first; an error from f fails that Open.
// nil removes the fault.
func (o *Objects) SetOpenFault(f func(bucket, key, versionID string) error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.openFault = f
}

// Writes returns how many Destination.Put calls wrote a version (an
// idempotent Put of a source version already held does not count).
func (o *Objects) Writes() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.writes
}

// PutObject writes a new version of key with data and user metadata,
// creating the bucket if needed, and returns its version id. Tests use it
// to write source objects.
func (o *Objects) PutObject(bucket, key string, data []byte, meta map[string]string) string {
	o.CreateBucket(bucket)
	obj := &object{
		versionID: newVersionID(), data: bytes.Clone(data), contentType: "application/octet-stream",
		contentMD5: md5Hex(data), userMeta: maps.Clone(meta),
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buckets[bucket][key] = append(o.buckets[bucket][key], obj)
	return obj.versionID
}

// Writer returns the site as the simulator's app.SourceObjects.
func (o *Objects) Writer() *ObjectWriter { return &ObjectWriter{o: o} }

// ObjectWriter writes objects as an S3 client of the site does; it is the
// simulator's app.SourceObjects in the memory backend.
type ObjectWriter struct{ o *Objects }

// EnsureVersionedBucket creates bucket if it does not exist.
func (w *ObjectWriter) EnsureVersionedBucket(ctx context.Context, bucket string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w.o.CreateBucket(bucket)
	return nil
}

// PutObject writes one version of exactly size bytes read from body and
// returns its version id.
func (w *ObjectWriter) PutObject(ctx context.Context, bucket, key string, body io.Reader, size int64, contentType string, meta, tags map[string]string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	data, err := readExactly(body, size)
	if err != nil {
		return "", fmt.Errorf("memory: put object %s/%s: %w", bucket, key, err)
	}
	obj := &object{
		versionID: newVersionID(), data: data, contentType: contentType, contentMD5: md5Hex(data),
		userMeta: maps.Clone(meta), tags: maps.Clone(tags),
	}
	o := w.o
	o.mu.Lock()
	defer o.mu.Unlock()
	keys, ok := o.buckets[bucket]
	if !ok {
		return "", fmt.Errorf("memory: put object %s/%s: %w: no such bucket: %w", bucket, key, domain.ErrPermanent, ports.ErrNotFound)
	}
	keys[key] = append(keys[key], obj)
	return obj.versionID, nil
}

// readExactly reads size bytes of body in chunks (io.Copy). A body that
// ends early is a transient failure (a broken stream); one holding more
// than size, or none at all for a non-empty object, is permanent.
func readExactly(body io.Reader, size int64) ([]byte, error) {
	if size < 0 {
		return nil, fmt.Errorf("%w: negative size %d", domain.ErrPermanent, size)
	}
	if body == nil {
		if size != 0 {
			return nil, fmt.Errorf("%w: no body for %d bytes", domain.ErrPermanent, size)
		}
		return []byte{}, nil
	}
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(body, size+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("read body after %d of %d bytes: %w", n, size, err)
	case n < size:
		return nil, fmt.Errorf("body ended after %d of %d bytes: %w", n, size, io.ErrUnexpectedEOF)
	case n > size:
		return nil, fmt.Errorf("%w: body holds more than the %d bytes announced", domain.ErrPermanent, size)
	}
	return buf.Bytes(), nil
}

// Open returns the data of one version. A missing bucket, key or version,
// or a delete marker, is a permanent error (wrapping ports.ErrNotFound too).
func (o *Objects) Open(ctx context.Context, bucket, key, versionID string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o.mu.Lock()
	fault := o.openFault
	o.mu.Unlock()
	if fault != nil {
		if err := fault(bucket, key, versionID); err != nil {
			return nil, fmt.Errorf("memory: open %s/%s version %s: %w", bucket, key, versionID, err)
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	keys, ok := o.buckets[bucket]
	if !ok {
		return nil, fmt.Errorf("memory: open %s/%s version %s: %w: no such bucket: %w", bucket, key, versionID, domain.ErrPermanent, ports.ErrNotFound)
	}
	for _, obj := range keys[key] {
		if obj.versionID != versionID {
			continue
		}
		if obj.isDeleteMarker {
			return nil, fmt.Errorf("memory: open %s/%s version %s: %w: the version is a delete marker", bucket, key, versionID, domain.ErrPermanent)
		}
		return io.NopCloser(bytes.NewReader(obj.data)), nil // data is never changed
	}
	return nil, fmt.Errorf("memory: open %s/%s version %s: %w: no such version: %w", bucket, key, versionID, domain.ErrPermanent, ports.ErrNotFound)
}
