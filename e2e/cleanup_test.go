package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/bson"

	"github.com/openbackbeat/backbeat/adapters/kafkabus"
	"github.com/openbackbeat/backbeat/adapters/mongometa"
)

// TestPurgeRemovesWhatARunCreated creates one of each kind of leftover
// under a prefix of its own and purges them: nothing of the prefix is left.
func TestPurgeRemovesWhatARunCreated(t *testing.T) {
	needStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run := "e2e-purge-" + randomHex(3)
	db := strings.ReplaceAll(run, "-", "_")
	client, err := mongometa.Connect(ctx, mongoURI, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = client.Disconnect(context.Background()) }()
	if _, err := client.Database(db).Collection("c").InsertOne(ctx, bson.D{{Key: "x", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := kafkabus.EnsureTopics(ctx, kafkabus.Config{Brokers: []string{kafkaBroker}}, run+"-topic"); err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rdb.Close()
	if err := rdb.Set(ctx, run+":k", "v", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	src := newS3(t, sourceEndpoint)
	locked := run + "-locked"
	if err := src.EnsureVersionedBucket(ctx, run+"-b"); err != nil {
		t.Fatal(err)
	}
	if _, err := src.S3().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(run + "-b"), Key: aws.String("k"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	if err := src.EnsureLockedBucket(ctx, locked); err != nil {
		t.Fatal(err)
	}
	if _, err := src.S3().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(locked), Key: aws.String("held"), Body: strings.NewReader("x"),
		ObjectLockLegalHoldStatus: "ON"}); err != nil {
		t.Fatal(err)
	}

	l := Leftovers{DatabasePrefixes: []string{db}, TopicPrefixes: []string{run + "-"}, RedisPrefixes: []string{run + ":"}, S3Prefixes: []string{run + "-"}}
	if n, err := PurgeMongo(ctx, client, l); err != nil || n != 1 {
		t.Errorf("PurgeMongo = %d, %v; want 1 database", n, err)
	}
	if n, err := PurgeTopics([]string{kafkaBroker}, l); err != nil || n != 1 {
		t.Errorf("PurgeTopics = %d, %v; want 1 topic", n, err)
	}
	if n, err := PurgeRedis(ctx, rdb, l); err != nil || n != 1 {
		t.Errorf("PurgeRedis = %d, %v; want 1 key", n, err)
	}
	if n, err := PurgeBuckets(ctx, src.S3(), l); err != nil || n != 2 {
		t.Errorf("PurgeBuckets = %d, %v; want 2 buckets (one with a legal hold)", n, err)
	}
	names, _ := client.ListDatabaseNames(ctx, bson.D{})
	for _, n := range names {
		if n == db {
			t.Errorf("database %s is still there", db)
		}
	}
	if n, _ := rdb.Exists(ctx, run+":k").Result(); n != 0 {
		t.Error("the Redis key is still there")
	}
	out, err := src.S3().ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range out.Buckets {
		if strings.HasPrefix(aws.ToString(b.Name), run) {
			t.Errorf("bucket %s is still there", aws.ToString(b.Name))
		}
	}
}
