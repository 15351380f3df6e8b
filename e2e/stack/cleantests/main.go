// Command cleantests removes what interrupted test and bench runs left on
// the local stack: Mongo databases e2e_* and bench_*, Kafka topics, Redis
// keys and S3 buckets named e2e-* and bench*. A finished run removes its
// own (e2e's Env cleanup, the bench's deferred drops); a killed one cannot.
// `go tool task stack:clean-tests` runs it. Do not run it while tests run.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/openbackbeat/backbeat/e2e"
)

func main() {
	// -h prints this and removes nothing; so do stray arguments.
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: cleantests (no arguments): removes e2e_*/bench_* databases, e2e-*/bench* topics, Redis keys and buckets from the local stack; not while tests run")
	}
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	l := e2e.Leftovers{
		DatabasePrefixes: []string{"e2e_", "bench_"},
		BucketPrefixes:   []string{"e2e-", "bench"},
		TopicPrefixes:    []string{"e2e-", "bench"},
		RedisPrefixes:    []string{"e2e-", "bench"},
		S3Prefixes:       []string{"e2e-", "bench"},
	}
	// What cannot go (versions under object lock) is reported, not fatal.
	if err := e2e.PurgeStack(ctx, l, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "clean-tests: left behind:", err)
	}
}
