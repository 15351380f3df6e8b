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

// Checkpoint documents are {_id: name, position: BinData, savedAt: Date}, in
// Config.CheckpointCollection of the metadata database: the journal position
// lives beside the journal it describes, and the service keeps no local
// state. Durability follows the write concern of the connection string
// (w=majority in production).

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

// Save records pos as name's position, replacing the previous one.
func (s *Store) Save(ctx context.Context, name string, pos ports.Position) error {
	octx, cancel := s.op(ctx)
	defer cancel()
	doc := bson.D{
		{Key: "_id", Value: name},
		{Key: "position", Value: []byte(pos)},
		{Key: "savedAt", Value: time.Now().UTC()},
	}
	_, err := s.ckpt.ReplaceOne(octx, bson.D{{Key: "_id", Value: name}}, doc, options.Replace().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("mongometa: save checkpoint %q: %w", name, err)
	}
	return nil
}
