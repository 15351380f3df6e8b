package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/openbackbeat/backbeat/adapters/s3site"
)

// Leftovers name what a test run created on the shared stack, by prefix:
// its Mongo databases and buckets' collections, Kafka topics, Redis keys
// and S3 buckets. Purge removes them, so that a long-lived stack does not
// grow with every run (the stand-in keeps everything in its heap).
type Leftovers struct {
	// Mongo databases whose name starts with one of DatabasePrefixes are
	// dropped; in the shared "metadata" database, collections (and
	// __metastore documents) whose name starts with BucketPrefixes are.
	DatabasePrefixes, BucketPrefixes []string
	// TopicPrefixes, RedisPrefixes and S3Prefixes select Kafka topics,
	// Redis keys and S3 buckets (at every endpoint given).
	TopicPrefixes, RedisPrefixes, S3Prefixes []string
}

func hasPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if p != "" && strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// PurgeMongo drops the databases and bucket collections l selects.
func PurgeMongo(ctx context.Context, client *mongo.Client, l Leftovers) (int, error) {
	n := 0
	names, err := client.ListDatabaseNames(ctx, bson.D{})
	if err != nil {
		return n, fmt.Errorf("list databases: %w", err)
	}
	var errs []error
	for _, db := range names {
		if hasPrefix(db, l.DatabasePrefixes) {
			errs = append(errs, client.Database(db).Drop(ctx))
			n++
		}
	}
	if len(l.BucketPrefixes) > 0 {
		meta := client.Database("metadata")
		colls, err := meta.ListCollectionNames(ctx, bson.D{})
		errs = append(errs, err)
		for _, c := range colls {
			if hasPrefix(c, l.BucketPrefixes) {
				errs = append(errs, meta.Collection(c).Drop(ctx))
				n++
			}
		}
		for _, p := range l.BucketPrefixes {
			_, err := meta.Collection("__metastore").DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$regex", Value: "^" + regexQuote(p)}}}})
			errs = append(errs, err)
		}
	}
	return n, errors.Join(errs...)
}

func regexQuote(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`\.+*?()|[]{}^$`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// PurgeTopics deletes the Kafka topics l selects.
func PurgeTopics(brokers []string, l Leftovers) (int, error) {
	sc := sarama.NewConfig()
	sc.Version = sarama.V3_6_0_0
	admin, err := sarama.NewClusterAdmin(brokers, sc)
	if err != nil {
		return 0, fmt.Errorf("connect to Kafka %v: %w", brokers, err)
	}
	defer admin.Close()
	topics, err := admin.ListTopics()
	if err != nil {
		return 0, fmt.Errorf("list topics: %w", err)
	}
	n := 0
	var errs []error
	for t := range topics {
		if hasPrefix(t, l.TopicPrefixes) {
			if err := admin.DeleteTopic(t); err != nil && !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
				errs = append(errs, fmt.Errorf("delete topic %s: %w", t, err))
				continue
			}
			n++
		}
	}
	return n, errors.Join(errs...)
}

// PurgeRedis deletes the Redis keys l selects.
func PurgeRedis(ctx context.Context, rdb *redis.Client, l Leftovers) (int, error) {
	n := 0
	for _, p := range l.RedisPrefixes {
		iter := rdb.Scan(ctx, 0, p+"*", 500).Iterator()
		var batch []string
		flush := func() error {
			if len(batch) == 0 {
				return nil
			}
			err := rdb.Del(ctx, batch...).Err()
			n += len(batch)
			batch = batch[:0]
			return err
		}
		for iter.Next(ctx) {
			batch = append(batch, iter.Val())
			if len(batch) == 500 {
				if err := flush(); err != nil {
					return n, err
				}
			}
		}
		if err := errors.Join(iter.Err(), flush()); err != nil {
			return n, fmt.Errorf("delete Redis keys %s*: %w", p, err)
		}
	}
	return n, nil
}

// PurgeBuckets deletes every version of the S3 buckets l selects, then the
// buckets. Versions under object lock cannot be deleted yet; their bucket
// stays, and is reported, until a later purge.
func PurgeBuckets(ctx context.Context, c *s3.Client, l Leftovers) (int, error) {
	out, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		return 0, fmt.Errorf("list buckets: %w", err)
	}
	n := 0
	var errs []error
	for _, b := range out.Buckets {
		name := aws.ToString(b.Name)
		if !hasPrefix(name, l.S3Prefixes) {
			continue
		}
		if err := emptyBucket(ctx, c, name); err != nil {
			errs = append(errs, err)
			continue
		}
		if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(name)}); err != nil {
			errs = append(errs, fmt.Errorf("delete bucket %s: %w", name, err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// emptyBucket deletes every version, listing the first page again after
// each: paging on while deleting skips versions on versitygw.
func emptyBucket(ctx context.Context, c *s3.Client, bucket string) error {
	for {
		page, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket)})
		if err != nil {
			return fmt.Errorf("list versions of %s: %w", bucket, err)
		}
		if len(page.Versions)+len(page.DeleteMarkers) == 0 {
			return nil
		}
		var ids []types.ObjectIdentifier
		for _, v := range page.Versions {
			ids = append(ids, types.ObjectIdentifier{Key: v.Key, VersionId: v.VersionId})
		}
		for _, m := range page.DeleteMarkers {
			ids = append(ids, types.ObjectIdentifier{Key: m.Key, VersionId: m.VersionId})
		}
		for _, id := range ids {
			del := &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: id.Key, VersionId: id.VersionId, BypassGovernanceRetention: aws.Bool(true)}
			_, err := c.DeleteObject(ctx, del)
			if err != nil {
				// A legal hold is lifted first (retention in GOVERNANCE
				// mode is bypassed; COMPLIANCE cannot be).
				_, _ = c.PutObjectLegalHold(ctx, &s3.PutObjectLegalHoldInput{Bucket: aws.String(bucket), Key: id.Key, VersionId: id.VersionId,
					LegalHold: &types.ObjectLockLegalHold{Status: types.ObjectLockLegalHoldStatusOff}})
				_, err = c.DeleteObject(ctx, del)
			}
			if err != nil {
				return fmt.Errorf("delete %s/%s version %s: %w", bucket, aws.ToString(id.Key), aws.ToString(id.VersionId), err)
			}
		}
	}
}

// The local stack's services (e2e/stack/stack.sh), as PurgeStack reaches them.
var (
	stackMongoURI    = "mongodb://127.0.0.1:27117"
	stackKafka       = []string{"127.0.0.1:19092"}
	stackRedis       = "127.0.0.1:16379"
	stackS3Endpoints = []string{"http://127.0.0.1:17000", "http://127.0.0.1:17001", "http://127.0.0.1:17002"}
)

// PurgeStack removes what l selects from every service of the local
// stack, printing to out what each gave up. It goes on after a service's
// error and returns them all. `task stack:clean-tests` and
// `backbeat-bench -purge` use it.
func PurgeStack(ctx context.Context, l Leftovers, out io.Writer) error {
	var errs []error
	client, err := mongo.Connect(ctx, options.Client().ApplyURI(stackMongoURI).SetServerSelectionTimeout(5*time.Second))
	if err != nil {
		return err
	}
	defer func() { _ = client.Disconnect(context.Background()) }()
	n, err := PurgeMongo(ctx, client, l)
	fmt.Fprintf(out, "mongo: %d databases and bucket collections dropped\n", n)
	errs = append(errs, err)
	n, err = PurgeTopics(stackKafka, l)
	fmt.Fprintf(out, "kafka: %d topics deleted\n", n)
	errs = append(errs, err)
	rdb := redis.NewClient(&redis.Options{Addr: stackRedis})
	defer rdb.Close()
	n, err = PurgeRedis(ctx, rdb, l)
	fmt.Fprintf(out, "redis: %d keys deleted\n", n)
	errs = append(errs, err)
	for _, ep := range stackS3Endpoints {
		c, err := s3site.New(ctx, s3site.Config{Endpoint: ep, AccessKey: "backbeat", SecretKey: "backbeat-secret-key"})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		n, err := PurgeBuckets(ctx, c.S3(), l)
		fmt.Fprintf(out, "s3 %s: %d buckets deleted\n", ep, n)
		errs = append(errs, err)
		_ = c.Close()
	}
	return errors.Join(errs...)
}
