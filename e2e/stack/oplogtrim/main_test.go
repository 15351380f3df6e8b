package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// scratch returns a collection of its own on the local stand-in, shaped
// like an oplog: the trimmer works on any collection, and the real oplog
// must not be trimmed under the other tests' feet.
func scratch(t *testing.T) *mongo.Collection {
	t.Helper()
	if c, err := net.DialTimeout("tcp", "127.0.0.1:27117", time.Second); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("MongoDB stand-in at 127.0.0.1:27117 is not running (CI=true): start it with `bash e2e/stack/stack.sh start mongo`")
		}
		t.Skip("SKIPPED: MongoDB stand-in at 127.0.0.1:27117 is not running; start it with `go tool task stack:up`")
	} else {
		c.Close()
	}
	ctx := context.Background()
	client, err := mongo.Connect(ctx, options.Client().ApplyURI("mongodb://127.0.0.1:27117"))
	if err != nil {
		t.Fatal(err)
	}
	db := client.Database(fmt.Sprintf("oplogtrim_test_%d", time.Now().UnixNano()))
	t.Cleanup(func() {
		_ = db.Drop(context.Background())
		_ = client.Disconnect(context.Background())
	})
	return db.Collection("oplog")
}

func fill(t *testing.T, c *mongo.Collection, from time.Time, n int) {
	t.Helper()
	docs := make([]any, n)
	for i := range docs {
		docs[i] = bson.D{{Key: "ts", Value: primitive.Timestamp{T: uint32(from.Unix()), I: uint32(i + 1)}}, {Key: "op", Value: "i"}}
	}
	if _, err := c.InsertMany(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
}

func TestTrimKeepsTheBoundUnderABurst(t *testing.T) {
	c := scratch(t)
	now := time.Now()
	fill(t, c, now.Add(-2*time.Hour), 300) // older than the age bound
	fill(t, c, now, 2500)                  // a burst
	st, err := trim(context.Background(), c, 1000, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if st.Entries != 1000 || st.Trimmed != 1800 {
		t.Fatalf("after a pass: %d entries, %d trimmed; want 1000 and 1800 (300 by age, 1500 by count)", st.Entries, st.Trimmed)
	}
	n, _ := c.CountDocuments(context.Background(), bson.D{})
	if n != 1000 {
		t.Fatalf("%d entries left, want 1000", n)
	}
	var first struct {
		TS primitive.Timestamp `bson:"ts"`
	}
	if err := c.FindOne(context.Background(), bson.D{}, options.FindOne().SetSort(bson.D{{Key: "ts", Value: 1}})).Decode(&first); err != nil {
		t.Fatal(err)
	}
	if first.TS.I != 1501 {
		t.Fatalf("the oldest entry kept is #%d, want #1501: the newest are kept", first.TS.I)
	}
	if st, err := trim(context.Background(), c, 1000, time.Hour); err != nil || st.Trimmed != 0 {
		t.Fatalf("a second pass trimmed %d (%v), want 0", st.Trimmed, err)
	}
}
