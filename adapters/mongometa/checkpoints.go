package mongometa

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/openbackbeat/backbeat/ports"
)

// Checkpoint documents are {_id: name, position: BinData, savedAt: Date,
// lease: {owner, epoch: Int64, expires: Date}}, in
// Config.CheckpointCollection of the metadata database: the journal position
// lives beside the journal it describes, and the service keeps no local
// state. Durability follows the write concern of the connection string
// (w=majority in production). The lease, when a populator takes one, sits
// in the checkpoint's own document, so a fenced save is one conditional
// update of one document: it cannot interleave with a takeover.

// Load returns the position saved under name, or nil when there is none.
func (s *Store) Load(ctx context.Context, name string) (ports.Position, error) {
	octx, cancel := s.op(ctx)
	defer cancel()
	raw, err := s.ckpt.FindOne(octx, bson.D{{Key: "_id", Value: name}}).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("mongometa: load checkpoint %q: %w", name, err)
	}
	v := raw.Lookup("position")
	if v.Type == bson.TypeNull || v.Type == 0 {
		return nil, nil
	}
	_, data, ok := v.BinaryOK()
	if !ok {
		return nil, fmt.Errorf("mongometa: load checkpoint %q: position is BSON %s, not binary", name, v.Type)
	}
	if len(data) == 0 {
		return nil, nil
	}
	return ports.Position(append([]byte(nil), data...)), nil
}

// Save records pos as name's position, replacing the previous one and
// keeping its lease.
func (s *Store) Save(ctx context.Context, name string, pos ports.Position) error {
	octx, cancel := s.op(ctx)
	defer cancel()
	_, err := s.ckpt.UpdateOne(octx, bson.D{{Key: "_id", Value: name}}, setPosition(pos), options.Update().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("mongometa: save checkpoint %q: %w", name, err)
	}
	return nil
}

func setPosition(pos ports.Position) bson.D {
	return bson.D{{Key: "$set", Value: bson.D{{Key: "position", Value: []byte(pos)}, {Key: "savedAt", Value: time.Now().UTC()}}}}
}

// grantFilter matches name's document while g is its current grant.
func grantFilter(g ports.Grant) bson.D {
	return bson.D{{Key: "_id", Value: g.Name}, {Key: "lease.owner", Value: g.Owner}, {Key: "lease.epoch", Value: g.Epoch}}
}

// Acquire reads name's lease and, when it is free or ran out, replaces it
// with a grant of the next epoch by a compare-and-swap on the epoch and
// owner read: of concurrent takers, one wins.
func (s *Store) Acquire(ctx context.Context, name, owner string, ttl time.Duration) (ports.Grant, bool, error) {
	octx, cancel := s.op(ctx)
	defer cancel()
	raw, err := s.ckpt.FindOne(octx, bson.D{{Key: "_id", Value: name}}).Raw()
	if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		return ports.Grant{}, false, fmt.Errorf("mongometa: read lease %q: %w", name, err)
	}
	now := time.Now().UTC()
	var filter bson.D
	var epoch int64
	switch l, ok := raw.Lookup("lease").DocumentOK(); {
	case raw == nil:
	case !ok:
		filter = bson.D{{Key: "_id", Value: name}, {Key: "lease", Value: bson.D{{Key: "$exists", Value: false}}}}
	default:
		held, _ := l.Lookup("owner").StringValueOK()
		epoch, _ = l.Lookup("epoch").AsInt64OK()
		expires, _ := l.Lookup("expires").TimeOK()
		if held != "" && now.Before(expires) {
			return ports.Grant{}, false, nil
		}
		filter = bson.D{{Key: "_id", Value: name}, {Key: "lease.owner", Value: held}, {Key: "lease.epoch", Value: epoch}}
	}
	g := ports.Grant{Name: name, Owner: owner, Epoch: epoch + 1}
	lease := bson.D{{Key: "owner", Value: owner}, {Key: "epoch", Value: g.Epoch}, {Key: "expires", Value: now.Add(ttl)}}
	if filter == nil {
		_, err := s.ckpt.InsertOne(octx, bson.D{{Key: "_id", Value: name}, {Key: "lease", Value: lease}})
		if mongo.IsDuplicateKeyError(err) {
			return ports.Grant{}, false, nil // another taker was first
		}
		if err != nil {
			return ports.Grant{}, false, fmt.Errorf("mongometa: take lease %q: %w", name, err)
		}
		return g, true, nil
	}
	res, err := s.ckpt.UpdateOne(octx, filter, bson.D{{Key: "$set", Value: bson.D{{Key: "lease", Value: lease}}}})
	if err != nil {
		return ports.Grant{}, false, fmt.Errorf("mongometa: take lease %q: %w", name, err)
	}
	return g, res.MatchedCount == 1, nil
}

// Renew extends g while it is current.
func (s *Store) Renew(ctx context.Context, g ports.Grant, ttl time.Duration) error {
	return s.updateGrant(ctx, g, "renew lease", bson.D{{Key: "lease.expires", Value: time.Now().UTC().Add(ttl)}})
}

// Release ends g while it is current; a lost grant is left alone.
func (s *Store) Release(ctx context.Context, g ports.Grant) error {
	err := s.updateGrant(ctx, g, "release lease", bson.D{{Key: "lease.owner", Value: ""}, {Key: "lease.expires", Value: time.Now().UTC()}})
	if errors.Is(err, ports.ErrLeaseLost) {
		return nil
	}
	return err
}

// SaveFenced saves pos while g is current, in the same update.
func (s *Store) SaveFenced(ctx context.Context, g ports.Grant, pos ports.Position) error {
	return s.updateGrant(ctx, g, "save checkpoint", setPosition(pos)[0].Value.(bson.D))
}

// updateGrant sets fields of g's document while g is current.
func (s *Store) updateGrant(ctx context.Context, g ports.Grant, what string, set bson.D) error {
	octx, cancel := s.op(ctx)
	defer cancel()
	res, err := s.ckpt.UpdateOne(octx, grantFilter(g), bson.D{{Key: "$set", Value: set}})
	if err != nil {
		return fmt.Errorf("mongometa: %s %q: %w", what, g.Name, err)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("mongometa: %s %q epoch %d: %w", what, g.Name, g.Epoch, ports.ErrLeaseLost)
	}
	return nil
}

var _ ports.LeasedCheckpoints = (*Store)(nil)
