package mongometa

import (
	"context"
	"fmt"
	"strings"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

var _ ports.VersionScanner = (*Store)(nil)

// countBatch is the cursor batch of CountVersions, which reads ids only.
const countBatch = 5000

// ScanVersions walks bucket's version documents by _id, which orders them
// as domain.VersionRef does in both key formats. The query names the _id
// alone (a range from the prefix or the ref resumed after, sorted by
// _id), which MongoDB serves from the _id index; it has no upper bound,
// since a bound past a prefix need not be valid UTF-8: the walk stops at
// the first id outside the prefix instead. In a v0 bucket the masters
// interleave with the versions and are read and dropped, so a query asks
// for up to twice the versions wanted.
func (s *Store) ScanVersions(ctx context.Context, bucket, prefix string, after domain.VersionRef, limit int) ([]ports.ScannedVersion, error) {
	if limit < 1 {
		return nil, fmt.Errorf("mongometa: scan %s: %w: limit %d, want at least 1", bucket, domain.ErrPermanent, limit)
	}
	vFormat, err := s.VFormat(ctx, bucket)
	if err != nil {
		return nil, fmt.Errorf("mongometa: scan %s: %w", bucket, err)
	}
	vp := versionIDPrefix(vFormat)
	from := scanStart(vp, prefix, after)
	coll := s.db.Collection(bucket)
	var out []ports.ScannedVersion
	for len(out) < limit {
		fetch := limit - len(out)
		if vp == "" {
			fetch = 2*fetch + 1
		}
		n, lastID, end, err := s.scanPage(ctx, coll, from, int64(fetch), func(key, vid string, doc bson.Raw) bool {
			if len(out) == limit {
				return false
			}
			v, _, err := decodeVersion(bucket, key, vid, doc)
			if err != nil {
				v = domain.ObjectVersion{Bucket: bucket, Key: key, VersionID: vid}
			}
			out = append(out, ports.ScannedVersion{ObjectVersion: v, Err: err})
			return true
		}, vp, prefix)
		if err != nil {
			return nil, fmt.Errorf("mongometa: scan %s: %w", bucket, err)
		}
		if end || n < fetch {
			break
		}
		from = bson.D{{Key: "$gt", Value: lastID}}
	}
	return out, nil
}

// scanPage reads up to fetch documents from the _id range from, in order,
// calling version for each version document of the prefix until it
// returns false. It returns the documents read, the last id read, and
// whether the walk is over (an id past the prefix).
func (s *Store) scanPage(ctx context.Context, coll *mongo.Collection, from bson.D, fetch int64, version func(key, vid string, doc bson.Raw) bool, vp, prefix string) (int, string, bool, error) {
	octx, cancel := s.op(ctx)
	defer cancel()
	// The whole page in one reply: each getMore would be one more command
	// queued behind the others on a busy server (the stand-in runs them
	// one at a time).
	cur, err := coll.Find(octx, bson.D{{Key: "_id", Value: from}}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(fetch).SetBatchSize(int32(min(fetch, 10000))))
	if err != nil {
		return 0, "", false, err
	}
	defer cur.Close(context.WithoutCancel(octx))
	n, lastID := 0, ""
	for cur.Next(octx) {
		id, ok := cur.Current.Lookup("_id").StringValueOK()
		if !ok {
			n++
			continue // not a CloudServer document
		}
		key, vid, isVersion, inRange := splitScanID(id, vp, prefix)
		if !inRange {
			return n, lastID, true, nil
		}
		if isVersion && !version(key, vid, cur.Current) {
			return n, lastID, true, nil
		}
		n++
		lastID = id
	}
	return n, lastID, false, cur.Err()
}

// CountVersions counts bucket's versions under prefix, reading their ids
// only.
func (s *Store) CountVersions(ctx context.Context, bucket, prefix string) (int64, error) {
	vFormat, err := s.VFormat(ctx, bucket)
	if err != nil {
		return 0, fmt.Errorf("mongometa: count versions of %s: %w", bucket, err)
	}
	vp := versionIDPrefix(vFormat)
	octx, cancel := s.op(ctx)
	defer cancel()
	opts := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetProjection(bson.D{{Key: "_id", Value: 1}}).SetBatchSize(countBatch)
	cur, err := s.db.Collection(bucket).Find(octx, bson.D{{Key: "_id", Value: scanStart(vp, prefix, domain.VersionRef{})}}, opts)
	if err != nil {
		return 0, fmt.Errorf("mongometa: count versions of %s: %w", bucket, err)
	}
	defer cur.Close(context.WithoutCancel(octx))
	var n int64
	for cur.Next(octx) {
		id, ok := cur.Current.Lookup("_id").StringValueOK()
		if !ok {
			continue
		}
		_, _, isVersion, inRange := splitScanID(id, vp, prefix)
		if !inRange {
			break
		}
		if isVersion {
			n++
		}
	}
	if err := cur.Err(); err != nil {
		return 0, fmt.Errorf("mongometa: count versions of %s: %w", bucket, err)
	}
	return n, nil
}

// versionIDPrefix starts every version document id of the key format.
func versionIDPrefix(vFormat string) string {
	if vFormat == "v1" {
		return domain.V1VersionPrefix
	}
	return ""
}

// scanStart is the _id condition of a walk of prefix resumed after after.
func scanStart(vp, prefix string, after domain.VersionRef) bson.D {
	lower := vp + prefix
	if !after.IsZero() {
		if id := vp + domain.VersionedKey(after.Key, after.VersionID); id >= lower {
			return bson.D{{Key: "$gt", Value: id}}
		}
	}
	return bson.D{{Key: "$gte", Value: lower}}
}

// splitScanID reads a document id met by a walk: whether it is still in
// the walk's range (its key has the prefix) and whether it is a version.
func splitScanID(id, vp, prefix string) (key, vid string, isVersion, inRange bool) {
	rest, ok := strings.CutPrefix(id, vp)
	if !ok {
		return "", "", false, false
	}
	key, vid, isVersion = domain.SplitVersionedKey(rest)
	if !strings.HasPrefix(key, prefix) {
		return "", "", false, false
	}
	return key, vid, isVersion, true
}
