// Command oplogtrim caps the local MongoDB stand-in's oplog as a real
// MongoDB caps its own: mongo-java-server's local.oplog.rs is an ordinary
// collection that nothing trims, every change-stream poll scans all of it,
// and the stand-in keeps it in its heap, so a long-lived stack slows down
// and finally dies of OutOfMemoryError. Every interval it deletes the
// entries beyond the newest -max-entries and those older than -max-age
// (deleteMany on ts and wall, which the stand-in supports and after which
// change streams keep working), and writes what it holds to -status, which
// `stack.sh status` prints.
//
// A change stream whose resume point was trimmed away is resumed by
// mongo-java-server as if nothing were missing; the journal
// (adapters/mongojournal) finds the event its token names gone and
// reports the history lost, as a real MongoDB whose oplog rolled over does.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// Status is what -status holds after each pass.
type Status struct {
	Entries     int64     `json:"entries"`
	Oldest      time.Time `json:"oldest,omitzero"`
	Trimmed     int64     `json:"trimmed"`
	TrimmedEver int64     `json:"trimmedEver"`
	At          time.Time `json:"at"`
}

func main() {
	uri := flag.String("uri", "mongodb://127.0.0.1:27117", "the stand-in")
	maxEntries := flag.Int64("max-entries", 50_000, "keep at most this many oplog entries (the newest)")
	maxAge := flag.Duration("max-age", 30*time.Minute, "drop entries older than this")
	interval := flag.Duration("interval", 2*time.Second, "time between passes")
	statusPath := flag.String("status", "", "write the oplog's size and oldest entry here after each pass")
	once := flag.Bool("once", false, "one pass, then exit")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	client, err := mongo.Connect(ctx, options.Client().ApplyURI(*uri).SetServerSelectionTimeout(5*time.Second))
	if err != nil {
		log.Fatalf("oplogtrim: connect %s: %v", *uri, err)
	}
	defer func() { _ = client.Disconnect(context.Background()) }()
	oplog := client.Database("local").Collection("oplog.rs")
	log.Printf("oplogtrim: keeping at most %d entries, none older than %s, every %s", *maxEntries, *maxAge, *interval)
	var ever int64
	for {
		st, err := trim(ctx, oplog, *maxEntries, *maxAge)
		if err != nil && ctx.Err() == nil {
			log.Printf("oplogtrim: %v", err)
		}
		if err == nil {
			ever += st.Trimmed
			st.TrimmedEver = ever
			if st.Trimmed > 0 {
				log.Printf("oplogtrim: trimmed %d entries, %d left, oldest %s", st.Trimmed, st.Entries, st.Oldest.Format(time.RFC3339))
			}
			writeStatus(*statusPath, st)
		}
		if *once {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(*interval):
		}
	}
}

// trim makes one pass: by age, then by count.
func trim(ctx context.Context, oplog *mongo.Collection, maxEntries int64, maxAge time.Duration) (Status, error) {
	st := Status{At: time.Now().UTC()}
	cutoff := primitive.Timestamp{T: uint32(time.Now().Add(-maxAge).Unix())}
	res, err := oplog.DeleteMany(ctx, bson.D{{Key: "ts", Value: bson.D{{Key: "$lt", Value: cutoff}}}})
	if err != nil {
		return st, fmt.Errorf("trim by age: %w", err)
	}
	st.Trimmed += res.DeletedCount
	n, err := oplog.CountDocuments(ctx, bson.D{})
	if err != nil {
		return st, fmt.Errorf("count: %w", err)
	}
	if over := n - maxEntries; over > 0 {
		// The first entry to keep, in ts order: everything before it goes.
		var keep struct {
			TS primitive.Timestamp `bson:"ts"`
		}
		err := oplog.FindOne(ctx, bson.D{}, options.FindOne().SetSort(bson.D{{Key: "ts", Value: 1}}).SetSkip(over)).Decode(&keep)
		if err != nil {
			return st, fmt.Errorf("find the oldest entry to keep: %w", err)
		}
		res, err := oplog.DeleteMany(ctx, bson.D{{Key: "ts", Value: bson.D{{Key: "$lt", Value: keep.TS}}}})
		if err != nil {
			return st, fmt.Errorf("trim by count: %w", err)
		}
		st.Trimmed += res.DeletedCount
		n -= res.DeletedCount
	}
	st.Entries = n
	var oldest struct {
		TS primitive.Timestamp `bson:"ts"`
	}
	err = oplog.FindOne(ctx, bson.D{}, options.FindOne().SetSort(bson.D{{Key: "ts", Value: 1}})).Decode(&oldest)
	if err == nil {
		st.Oldest = time.Unix(int64(oldest.TS.T), 0).UTC()
	} else if !errors.Is(err, mongo.ErrNoDocuments) {
		return st, fmt.Errorf("find the oldest entry: %w", err)
	}
	return st, nil
}

func writeStatus(path string, st Status) {
	if path == "" {
		return
	}
	data, _ := json.Marshal(st)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err == nil {
		_ = os.Rename(tmp, path)
	}
}
