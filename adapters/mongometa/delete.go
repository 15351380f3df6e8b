package mongometa

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// DeleteVersion removes a version document, then repairs the master if it
// held that version, as Arsenal's deleteObjectVer does: the master takes
// the newest version left, or goes with the last one. The master is only
// touched while it still holds the deleted version, so a newer version
// written meanwhile is never replaced.
func (s *Store) DeleteVersion(ctx context.Context, bucket, key, versionID string) error {
	if bucket == "" || key == "" || versionID == "" {
		return fmt.Errorf("mongometa: delete version: %w: bucket, key and versionId are required (got %q, %q, %q)", domain.ErrPermanent, bucket, key, versionID)
	}
	vFormat, err := s.VFormat(ctx, bucket)
	if err != nil {
		return err
	}
	coll := s.db.Collection(bucket)
	octx, cancel := s.op(ctx)
	res, err := coll.DeleteOne(octx, bson.D{{Key: "_id", Value: domain.DocumentID(key, versionID, vFormat)}})
	cancel()
	if err != nil {
		return fmt.Errorf("mongometa: delete version %s of %s/%s: %w", versionID, bucket, key, err)
	}
	if res.DeletedCount == 0 {
		return fmt.Errorf("mongometa: delete version %s of %s/%s: %w", versionID, bucket, key, ports.ErrNotFound)
	}
	if err := s.repairMaster(ctx, coll, key, versionID, vFormat); err != nil {
		return fmt.Errorf("mongometa: delete version %s of %s/%s: master: %w", versionID, bucket, key, err)
	}
	return nil
}

// repairMaster points the master of key, if it still holds deleted, at the
// newest version left, or removes it.
func (s *Store) repairMaster(ctx context.Context, coll *mongo.Collection, key, deleted, vFormat string) error {
	holds := bson.D{{Key: "_id", Value: domain.DocumentID(key, "", vFormat)}, {Key: "value.versionId", Value: deleted}}
	newest, err := s.newestVersion(ctx, coll, key, deleted, vFormat)
	if err != nil {
		return err
	}
	octx, cancel := s.op(ctx)
	defer cancel()
	if newest == nil {
		_, err = coll.DeleteOne(octx, holds)
		return err
	}
	value := newest.Lookup("value")
	if dm, _ := value.Document().Lookup("isDeleteMarker").BooleanOK(); dm && vFormat == "v1" {
		_, err = coll.DeleteOne(octx, holds) // v1 masters never hold a delete marker
		return err
	}
	_, err = coll.UpdateOne(octx, holds, setValue(domain.DocumentID(key, "", vFormat), value))
	return err
}

// newestVersion returns key's newest version document, nil when none is
// left. Version ids of CloudServer sort newest first, ULIDs newest last:
// the deleted id tells which kind the key uses.
func (s *Store) newestVersion(ctx context.Context, coll *mongo.Collection, key, deleted, vFormat string) (bson.Raw, error) {
	vp := versionIDPrefix(vFormat)
	filter := bson.D{{Key: "_id", Value: bson.D{
		{Key: "$gt", Value: vp + key + domain.VersionSeparator},
		{Key: "$lt", Value: vp + key + "\x01"},
	}}}
	order := 1
	if domain.IsULID(deleted) {
		order = -1
	}
	octx, cancel := s.op(ctx)
	defer cancel()
	raw, err := coll.FindOne(octx, filter, options.FindOne().SetSort(bson.D{{Key: "_id", Value: order}})).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	return raw, err
}
