package main

// Component tests of the whole pipeline on the real local stack (MongoDB
// wire server, Kafka, Redis, S3 servers), every role in this process. They
// skip when the stack is not running, unless CI=true.

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/adapters/s3site"
	"github.com/openbackbeat/backbeat/app"
	"github.com/openbackbeat/backbeat/domain"
)

// realStack returns a configuration of the local stack isolated from any
// other user of it (own topics, groups, Redis keys), or skips.
func realStack(t *testing.T) Config {
	t.Helper()
	cfg := defaults()
	for _, addr := range []string{"127.0.0.1:27117", "127.0.0.1:19092", "127.0.0.1:16379", "127.0.0.1:17000", "127.0.0.1:17001", "127.0.0.1:17002"} {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("local stack service %s is not running (CI=true): %v", addr, err)
			}
			t.Skipf("SKIPPED: local stack service %s is not running; start it with `go tool task stack:up`", addr)
		}
		c.Close()
	}
	run := fmt.Sprintf("t%d", time.Now().UnixNano()%1e9)
	cfg.Topics = app.Topics{Entries: run + "-replication", Status: run + "-status", Replay: run + "-replay", DeadLetter: run + "-dead-letter"}
	cfg.Replication.GroupPrefix = run
	cfg.Populator.CheckpointName = run
	cfg.Redis.KeyPrefix = run + ":"
	cfg.Mongo.Journal.BucketPrefix = run
	cfg.API.Listen = "127.0.0.1:0"
	cfg.Log.Level = "warn"
	return cfg
}

// startService runs every role until the test ends.
func startService(t *testing.T, cfg Config) *wiring {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	done := make(chan error, 1)
	go func() { done <- runRoles(ctx, cfg, log, "all", "", 0) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("service stopped with: %v", err)
		}
	})
	w, err := wire(ctx, cfg, log) // a second set of clients, for the test's own reads and writes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.close)
	// A first start reads the journal from its end: wait until a canary
	// replicates, so the journal is open before the test writes. A canary
	// written before the journal opened is never seen; write another.
	var out strings.Builder
	canary := simulateOptions{objects: 1, size: 16, buckets: 1, wait: 5 * time.Second}
	for attempt := 1; ; attempt++ {
		_, err := simulateInto(context.Background(), w, cfg, &out, fmt.Sprintf("%s-canary%d", cfg.Mongo.Journal.BucketPrefix, attempt), canary)
		if err == nil {
			return w
		}
		if attempt == 12 {
			t.Fatalf("the service did not replicate a canary object: %v\n%s", err, out.String())
		}
	}
}

func TestPipelineOnTheRealStack(t *testing.T) {
	cfg := realStack(t)
	w := startService(t, cfg)
	ctx := context.Background()
	bucket := cfg.Mongo.Journal.BucketPrefix + "-pipe"
	var out strings.Builder
	sims := simulateOptions{objects: 200, size: 2048, buckets: 1, wait: 3 * time.Minute}
	written, err := simulateInto(ctx, w, cfg, &out, bucket, sims)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Logf("progress:\n%s", out.String())
	for _, site := range cfg.SiteNames() {
		c, err := s3site.New(ctx, siteConfig(cfg, site).S3)
		if err != nil {
			t.Fatal(err)
		}
		src := c.Source()
		for _, v := range written {
			cur, err := w.metadata.Version(ctx, v.Bucket, v.Key, v.VersionID)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := cur.Site(site)
			if cur.Replication.Status != domain.StatusCompleted || b.Status != domain.StatusCompleted || b.DataStoreVersionID == "" {
				t.Fatalf("%s/%s: status %s, site %s %+v", v.Bucket, v.Key, cur.Replication.Status, site, b)
			}
			got := digest(t, src, v.Bucket+"-replica", v.Key, b.DataStoreVersionID)
			want := digest(t, w.source, v.Bucket, v.Key, v.VersionID)
			if got != want {
				t.Fatalf("%s/%s at %s: bytes differ from the source", v.Bucket, v.Key, site)
			}
		}
		_ = c.Close()
	}
}

func TestLargeObjectIsCopiedWithFlatMemory(t *testing.T) {
	cfg := realStack(t)
	cfg.Sites = cfg.Sites[:1]
	w := startService(t, cfg)
	ctx := context.Background()
	const size = 256 << 20
	bucket := cfg.Mongo.Journal.BucketPrefix + "-big"
	b := demoBucket(bucket, cfg.SiteNames())
	if err := createBuckets(ctx, w, b, cfg.SiteNames()); err != nil {
		t.Fatal(err)
	}
	seed := mrand.Uint64()
	vid, err := w.sourceObjects.PutObject(ctx, bucket, "big", newPattern(seed, size), size, "application/octet-stream", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rule, _ := b.RuleFor("big")
	v := domain.ObjectVersion{Bucket: bucket, Key: "big", VersionID: vid, MicroVersionID: "g1", Size: size,
		LastModified: time.Now().UTC(), Replication: domain.NewReplicationInfo(rule, b.Replication.Role, true)}
	// The heap is the whole test process's (the roles, and what earlier
	// tests left running): the copy is judged by how far it grows above
	// what was in use before it.
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	if err := w.writer.PutVersion(ctx, v); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Minute)
	var cur domain.ObjectVersion
	for {
		cur, err = w.metadata.Version(ctx, bucket, "big", vid)
		if err == nil && cur.Replication.Status == domain.StatusCompleted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("256 MiB object not replicated in time: %+v (%v)", cur.Replication, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	<-sampled
	growth := int64(peak.Load()) - int64(before.HeapInuse)
	t.Logf("256 MiB object replicated; peak Go heap in use during the copy: %.1f MiB, %.1f MiB above the %.1f MiB before it",
		float64(peak.Load())/(1<<20), float64(growth)/(1<<20), float64(before.HeapInuse)/(1<<20))
	if growth > 48<<20 {
		t.Fatalf("the heap grew by %.1f MiB during the copy of 256 MiB, want at most 48 MiB (5 MiB parts, 4 in flight)", float64(growth)/(1<<20))
	}
	site, _ := cur.Site(cfg.Sites[0].Name)
	c, err := s3site.New(ctx, cfg.Sites[0].S3)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := digest(t, c.Source(), bucket+"-replica", "big", site.DataStoreVersionID)
	want := sha256.New()
	_, _ = io.Copy(want, newPattern(seed, size))
	if got != fmt.Sprintf("%x", want.Sum(nil)) {
		t.Fatal("the 256 MiB replica differs from the source")
	}
}

func siteConfig(cfg Config, name string) SiteConfig {
	for _, s := range cfg.Sites {
		if s.Name == name {
			return s
		}
	}
	return SiteConfig{}
}

type opener interface {
	Open(ctx context.Context, bucket, key, versionID string) (io.ReadCloser, error)
}

func digest(t *testing.T, src opener, bucket, key, vid string) string {
	t.Helper()
	rc, err := src.Open(context.Background(), bucket, key, vid)
	if err != nil {
		t.Fatalf("open %s/%s %s: %v", bucket, key, vid, err)
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// pattern is a reproducible stream of pseudo-random bytes.
type pattern struct {
	rng  *mrand.ChaCha8
	left int64
}

func newPattern(seed uint64, n int64) io.Reader {
	var s [32]byte
	for i := range 4 {
		s[i*8] = byte(seed >> (8 * i))
	}
	return &pattern{rng: mrand.NewChaCha8(s), left: n}
}

func (p *pattern) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	n, _ := p.rng.Read(b)
	p.left -= int64(n)
	return n, nil
}

// A wiring that fails part way closes what it opened and says what
// failed; it used to panic on its nil result instead.
func TestWiringFailureIsAnError(t *testing.T) {
	cfg := realStack(t)
	cfg.Kafka.Brokers = []string{"127.0.0.1:1"} // nothing listens there
	cfg.Kafka.DialTimeout = 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w, err := wireReal(ctx, cfg, slog.New(slog.DiscardHandler))
	if err == nil {
		w.close()
		t.Fatal("wiring with an unreachable Kafka succeeded")
	}
	if !strings.Contains(err.Error(), "kafka topics") {
		t.Fatalf("error does not name the Kafka topics step: %v", err)
	}
}
