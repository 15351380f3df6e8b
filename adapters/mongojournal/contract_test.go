package mongojournal

import (
	"context"
	"testing"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/openbackbeat/backbeat/ports"
	"github.com/openbackbeat/backbeat/ports/journaltest"
)

func TestJournalContract(t *testing.T) {
	journaltest.Run(t, func(t *testing.T) (ports.Journal, ports.MetadataWriter) {
		f := newFixture(t)
		return f.journal(), f.store
	})
}

// The stand-in's oplog is shared by every test: the trim drops only the
// entries of the case's own bucket, as a trimmer that rolled past them.
func TestJournalHistoryLostContract(t *testing.T) {
	journaltest.RunHistoryLost(t, func(t *testing.T) (ports.Journal, ports.MetadataWriter, journaltest.Trim) {
		f := newFixture(t)
		return f.journal(), f.store, func(t *testing.T, bucket string) {
			oplog := f.store.Database().Client().Database("local").Collection("oplog.rs")
			res, err := oplog.DeleteMany(context.Background(), bson.D{{Key: "ns", Value: f.db + "." + bucket}})
			if err != nil {
				t.Fatalf("trim the oplog of %s: %v", bucket, err)
			}
			if res.DeletedCount == 0 {
				t.Fatalf("trim the oplog of %s: no entry to drop", bucket)
			}
		}
	})
}
