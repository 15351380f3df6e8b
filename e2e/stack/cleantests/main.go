// Command cleantests removes what interrupted test and bench runs left on
// the local stack: Mongo databases e2e_* and bench_*, Kafka topics, Redis
// keys and S3 buckets named e2e-* and bench*. A finished run removes its
// own (e2e's Env cleanup, the bench's deferred drops); a killed one cannot.
// `go tool task stack:clean-tests` runs it. Do not run it while tests run.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/openbackbeat/backbeat/adapters/s3site"
	"github.com/openbackbeat/backbeat/e2e"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "clean-tests:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	l := e2e.Leftovers{
		DatabasePrefixes: []string{"e2e_", "bench_"},
		BucketPrefixes:   []string{"e2e-", "bench"},
		TopicPrefixes:    []string{"e2e-", "bench"},
		RedisPrefixes:    []string{"e2e-", "bench"},
		S3Prefixes:       []string{"e2e-", "bench"},
	}
	client, err := mongo.Connect(ctx, options.Client().ApplyURI("mongodb://127.0.0.1:27117").SetServerSelectionTimeout(5*time.Second))
	if err != nil {
		return err
	}
	defer func() { _ = client.Disconnect(context.Background()) }()
	n, err := e2e.PurgeMongo(ctx, client, l)
	fmt.Printf("mongo: %d databases and bucket collections dropped\n", n)
	report(err)
	n, err = e2e.PurgeTopics([]string{"127.0.0.1:19092"}, l)
	fmt.Printf("kafka: %d topics deleted\n", n)
	report(err)
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:16379"})
	defer rdb.Close()
	n, err = e2e.PurgeRedis(ctx, rdb, l)
	fmt.Printf("redis: %d keys deleted\n", n)
	report(err)
	for _, ep := range []string{"http://127.0.0.1:17000", "http://127.0.0.1:17001", "http://127.0.0.1:17002"} {
		c, err := s3site.New(ctx, s3site.Config{Endpoint: ep, AccessKey: "backbeat", SecretKey: "backbeat-secret-key"})
		if err != nil {
			return err
		}
		n, err := e2e.PurgeBuckets(ctx, c.S3(), l)
		fmt.Printf("s3 %s: %d buckets deleted\n", ep, n)
		report(err)
		_ = c.Close()
	}
	return nil
}

func report(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "  left behind:", err)
	}
}
