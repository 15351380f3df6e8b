package mongometa

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/openbackbeat/backbeat/adapters/internal/mongodoc"
	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// casBackoff spaces compare-and-swap attempts: short and jittered, since the
// competing writer is usually done within a round trip.
var casBackoff = domain.RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: 50 * time.Millisecond}

// Version returns one object version. An empty versionID reads the master
// document.
func (s *Store) Version(ctx context.Context, bucket, key, versionID string) (domain.ObjectVersion, error) {
	vFormat, err := s.VFormat(ctx, bucket)
	if err != nil {
		return domain.ObjectVersion{}, err
	}
	coll := s.db.Collection(bucket)
	id := domain.DocumentID(key, versionID, vFormat)
	raw, err := s.findDoc(ctx, coll, id)
	if err != nil {
		return domain.ObjectVersion{}, fmt.Errorf("mongometa: version %s of %s/%s: %w", versionID, bucket, key, err)
	}
	obj, _, err := decodeVersion(bucket, key, versionID, raw)
	return obj, err
}

// findDoc reads one document by id; a missing one wraps ports.ErrNotFound.
func (s *Store) findDoc(ctx context.Context, coll *mongo.Collection, id string) (bson.Raw, error) {
	octx, cancel := s.op(ctx)
	defer cancel()
	raw, err := coll.FindOne(octx, bson.D{{Key: "_id", Value: id}}).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, ports.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return raw, nil
}

// decodeVersion converts a version document to the domain. It also returns
// the stored `value` exactly as read, the compare-and-swap predicate.
func decodeVersion(bucket, key, versionID string, doc bson.Raw) (domain.ObjectVersion, bson.RawValue, error) {
	v, err := doc.LookupErr("value")
	if err != nil {
		return domain.ObjectVersion{}, v, fmt.Errorf("mongometa: version %s of %s/%s: %w: document has no value", versionID, bucket, key, domain.ErrPermanent)
	}
	data, err := mongodoc.ValueJSON(v)
	if err != nil {
		return domain.ObjectVersion{}, v, fmt.Errorf("mongometa: version %s of %s/%s: %w: %w", versionID, bucket, key, domain.ErrPermanent, err)
	}
	obj, err := domain.ParseObjectMD(bucket, data)
	if err != nil {
		return domain.ObjectVersion{}, v, fmt.Errorf("mongometa: version %s of %s/%s: %w: %w", versionID, bucket, key, domain.ErrPermanent, err)
	}
	if obj.Key == "" {
		obj.Key = key
	}
	if obj.VersionID == "" {
		obj.VersionID = versionID
	}
	return obj, v, nil
}

// UpdateVersion runs update on a copy of the version and stores the fields
// it changed with a compare-and-swap, then brings the master document in
// line when it holds the same version.
//
// The compare-and-swap filter is {_id, value: <value exactly as read>}:
// equality on the whole embedded document (byte-exact, field order
// included), so any concurrent change of the document, whichever field and
// whoever the writer, makes it match nothing. It needs no extra field, so
// the CloudServer layout is unchanged, and it works on MongoDB and on
// mongo-java-server (checked by TestCASDetectsAnyChange). The new value is
// the value as read with only the top-level ObjectMD fields the closure
// changed replaced, so fields the domain does not model are kept as they
// are.
func (s *Store) UpdateVersion(ctx context.Context, bucket, key, versionID string, update func(*domain.ObjectVersion) error) (domain.ObjectVersion, error) {
	if versionID == "" {
		return domain.ObjectVersion{}, fmt.Errorf("mongometa: update %s/%s: %w: empty version id", bucket, key, domain.ErrPermanent)
	}
	vFormat, err := s.VFormat(ctx, bucket)
	if err != nil {
		return domain.ObjectVersion{}, err
	}
	coll := s.db.Collection(bucket)
	id := domain.DocumentID(key, versionID, vFormat)
	for attempt := 1; ; attempt++ {
		raw, err := s.findDoc(ctx, coll, id)
		if err != nil {
			return domain.ObjectVersion{}, fmt.Errorf("mongometa: update version %s of %s/%s: %w", versionID, bucket, key, err)
		}
		orig, value, err := decodeVersion(bucket, key, versionID, raw)
		if err != nil {
			return domain.ObjectVersion{}, err
		}
		// A second decode is a deep copy: the closure may change maps and
		// slices without touching orig.
		next, _, _ := decodeVersion(bucket, key, versionID, raw)
		if err := update(&next); err != nil {
			return domain.ObjectVersion{}, err
		}
		if next.Bucket != orig.Bucket || next.Key != orig.Key || next.VersionID != orig.VersionID {
			return domain.ObjectVersion{}, fmt.Errorf("mongometa: update version %s of %s/%s: %w: the update changed the version's identity", versionID, bucket, key, domain.ErrPermanent)
		}
		changes, err := fieldChanges(orig, next)
		if err != nil {
			return domain.ObjectVersion{}, fmt.Errorf("mongometa: update version %s of %s/%s: %w", versionID, bucket, key, err)
		}
		if len(changes) > 0 {
			ok, err := s.swap(ctx, coll, id, value, changes)
			if err != nil {
				return domain.ObjectVersion{}, fmt.Errorf("mongometa: update version %s of %s/%s: %w", versionID, bucket, key, err)
			}
			if !ok {
				if attempt >= s.cfg.MaxAttempts {
					return domain.ObjectVersion{}, fmt.Errorf("mongometa: update version %s of %s/%s after %d attempts: %w", versionID, bucket, key, attempt, ports.ErrConflict)
				}
				if err := sleep(ctx, casBackoff.Delay(attempt)); err != nil {
					return domain.ObjectVersion{}, err
				}
				continue
			}
		}
		// Also when nothing changed: a previous call may have stopped between
		// the version and the master.
		if err := s.syncMaster(ctx, coll, key, versionID, vFormat); err != nil {
			return domain.ObjectVersion{}, fmt.Errorf("mongometa: update master of %s/%s: %w", bucket, key, err)
		}
		return next, nil
	}
}

// change is one top-level ObjectMD field to set (value non-nil) or unset.
type change struct {
	field string
	value any
}

// fieldChanges lists the top-level ObjectMD fields that differ between
// before and after, in name order.
func fieldChanges(before, after domain.ObjectVersion) ([]change, error) {
	b, err := topLevelFields(before)
	if err != nil {
		return nil, err
	}
	a, err := topLevelFields(after)
	if err != nil {
		return nil, err
	}
	var out []change
	for f, av := range a {
		if bv, ok := b[f]; ok && bytes.Equal(bv, av) {
			continue
		}
		v, err := mongodoc.ValueBSON([]byte(`{"v":` + string(av) + `}`))
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", f, err)
		}
		out = append(out, change{field: f, value: v[0].Value})
	}
	for f := range b {
		if _, ok := a[f]; !ok {
			out = append(out, change{field: f})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].field < out[j].field })
	return out, nil
}

func topLevelFields(o domain.ObjectVersion) (map[string]json.RawMessage, error) {
	data, err := domain.MarshalObjectMD(o)
	if err != nil {
		return nil, fmt.Errorf("encode metadata: %w", err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("encode metadata: %w", err)
	}
	return m, nil
}

// swap replaces document id's value by expected with changes applied, if
// its value is still exactly expected, reporting whether it was. The whole
// value is set, not `value.<field>` paths: the fields the domain does not
// model are carried over byte for byte (the filter guarantees they are as
// read), and the change event then carries the document, so the journal
// needs no lookup. _id is set too, as CloudServer's writes do:
// mongo-java-server's change events name the document only through what an
// update sets.
func (s *Store) swap(ctx context.Context, coll *mongo.Collection, id string, expected bson.RawValue, changes []change) (bool, error) {
	value, err := withChanges(expected.Document(), changes)
	if err != nil {
		return false, err
	}
	octx, cancel := s.op(ctx)
	defer cancel()
	res, err := coll.UpdateOne(octx, bson.D{{Key: "_id", Value: id}, {Key: "value", Value: expected}}, setValue(id, value))
	if err != nil {
		return false, err
	}
	return res.MatchedCount == 1, nil
}

// setValue is the update that sets a document's whole value.
func setValue(id string, value any) bson.D {
	return bson.D{{Key: "$set", Value: bson.D{{Key: "_id", Value: id}, {Key: "value", Value: value}}}}
}

// withChanges returns value with the changed top-level fields replaced in
// place, the removed ones dropped and the new ones appended.
func withChanges(value bson.Raw, changes []change) (bson.D, error) {
	elems, err := value.Elements()
	if err != nil {
		return nil, fmt.Errorf("stored value: %w", err)
	}
	pending := make(map[string]change, len(changes))
	for _, c := range changes {
		pending[mongodoc.EscapeField(c.field)] = c
	}
	out := make(bson.D, 0, len(elems)+len(changes))
	for _, e := range elems {
		c, ok := pending[e.Key()]
		if !ok {
			out = append(out, bson.E{Key: e.Key(), Value: e.Value()})
			continue
		}
		delete(pending, e.Key())
		if c.value != nil {
			out = append(out, bson.E{Key: e.Key(), Value: c.value})
		}
	}
	for _, c := range changes {
		if _, ok := pending[mongodoc.EscapeField(c.field)]; ok && c.value != nil {
			out = append(out, bson.E{Key: mongodoc.EscapeField(c.field), Value: c.value})
		}
	}
	return out, nil
}

// syncMaster makes the master document's value equal to the version's
// when the master holds that version (its whole value), with the same
// compare-and-swap against the master as read. It copies the version
// document as it is now (not as this caller wrote it), so concurrent
// updaters converge on the latest state whichever order they reach the
// master in.
func (s *Store) syncMaster(ctx context.Context, coll *mongo.Collection, key, versionID, vFormat string) error {
	masterID := domain.DocumentID(key, "", vFormat)
	versionDocID := domain.DocumentID(key, versionID, vFormat)
	for attempt := 1; ; attempt++ {
		master, err := s.findDoc(ctx, coll, masterID)
		if errors.Is(err, ports.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		mv := master.Lookup("value")
		mdoc, ok := mv.DocumentOK()
		if !ok {
			return nil
		}
		if vid, _ := mdoc.Lookup("versionId").StringValueOK(); vid != versionID {
			return nil
		}
		version, err := s.findDoc(ctx, coll, versionDocID)
		if err != nil {
			return err
		}
		vdoc, ok := version.Lookup("value").DocumentOK()
		if !ok {
			return nil
		}
		if bytes.Equal(mdoc, vdoc) {
			return nil
		}
		octx, cancel := s.op(ctx)
		res, err := coll.UpdateOne(octx, bson.D{{Key: "_id", Value: masterID}, {Key: "value", Value: mv}}, setValue(masterID, vdoc))
		cancel()
		if err != nil {
			return err
		}
		if res.MatchedCount == 1 {
			return nil
		}
		if attempt >= s.cfg.MaxAttempts {
			return fmt.Errorf("after %d attempts: %w", attempt, ports.ErrConflict)
		}
		if err := sleep(ctx, casBackoff.Delay(attempt)); err != nil {
			return err
		}
	}
}

// PutVersion writes a version as CloudServer's versioned PUT does
// (Arsenal putObjectVerCase1/3): one ordered bulk write that upserts the
// version document, then upserts the master only where the master holds no
// version or a version id that is greater or equal (version ids sort
// inversely to time, so greater is older; equal is a rewrite of the same
// version, which must reach the master too). When the master holds a newer
// version, the master upsert's filter misses the existing document and the
// upsert collides with its _id: that duplicate-key error on the master
// operation means "a newer version is in place" and is not an error, as in
// CloudServer. In a v1 bucket a delete marker deletes the master instead,
// under the same condition.
func (s *Store) PutVersion(ctx context.Context, v domain.ObjectVersion) error {
	if v.Bucket == "" || v.Key == "" || v.VersionID == "" {
		return fmt.Errorf("mongometa: put version: %w: bucket, key and versionId are required (got %q, %q, %q)", domain.ErrPermanent, v.Bucket, v.Key, v.VersionID)
	}
	vFormat, err := s.VFormat(ctx, v.Bucket)
	if err != nil {
		return err
	}
	data, err := domain.MarshalObjectMD(v)
	if err != nil {
		return fmt.Errorf("mongometa: put version %s of %s/%s: %w: %w", v.VersionID, v.Bucket, v.Key, domain.ErrPermanent, err)
	}
	value, err := mongodoc.ValueBSON(data)
	if err != nil {
		return fmt.Errorf("mongometa: put version %s of %s/%s: %w: %w", v.VersionID, v.Bucket, v.Key, domain.ErrPermanent, err)
	}
	versionID := domain.DocumentID(v.Key, v.VersionID, vFormat)
	masterID := domain.DocumentID(v.Key, "", vFormat)
	masterFilter := bson.D{
		{Key: "_id", Value: masterID},
		{Key: "$or", Value: bson.A{
			bson.D{{Key: "value.versionId", Value: bson.D{{Key: "$exists", Value: false}}}},
			bson.D{{Key: "value.versionId", Value: bson.D{{Key: olderOrSame(v.VersionID), Value: v.VersionID}}}},
		}},
	}
	ops := []mongo.WriteModel{
		mongo.NewUpdateOneModel().
			SetFilter(bson.D{{Key: "_id", Value: versionID}}).
			SetUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: "_id", Value: versionID}, {Key: "value", Value: value}}}}).
			SetUpsert(true),
	}
	if v.IsDeleteMarker && vFormat == "v1" {
		ops = append(ops, mongo.NewDeleteOneModel().SetFilter(masterFilter))
	} else {
		ops = append(ops, mongo.NewUpdateOneModel().
			SetFilter(masterFilter).
			SetUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: "_id", Value: masterID}, {Key: "value", Value: value}}}}).
			SetUpsert(true))
	}
	octx, cancel := s.op(ctx)
	defer cancel()
	_, err = s.db.Collection(v.Bucket).BulkWrite(octx, ops, options.BulkWrite().SetOrdered(true))
	if err == nil || masterIsNewer(err) {
		return nil
	}
	return fmt.Errorf("mongometa: put version %s of %s/%s: %w", v.VersionID, v.Bucket, v.Key, err)
}

// olderOrSame is the comparison that selects a master holding no newer
// version than versionID. CloudServer's version ids count down (the newest
// sorts first), but ULIDs, which S3 servers such as versitygw hand out and
// the simulator records as is, count up: with $gte alone, the master of a
// ULID-versioned key stayed on its first version forever (found by the e2e
// suite).
func olderOrSame(versionID string) string {
	if domain.IsULID(versionID) {
		return "$lte"
	}
	return "$gte"
}

// masterIsNewer reports whether a bulk write failed only on its master
// operation (index 1), with a duplicate key.
func masterIsNewer(err error) bool {
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) != 1 {
		return false
	}
	we := bwe.WriteErrors[0]
	return we.Index == 1 && we.Code == 11000
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
