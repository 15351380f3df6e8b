package s3site

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"testing"
)

// A multipart copy reports each part once the site has it, as upstream's
// ReplicateObject publishes each part's bytes when its PUT completes
// (scality/backbeat extensions/replication/tasks/ReplicateObject.js,
// _publishDataWriteMetrics), so the API can show the object's progress
// mid-copy; a single PUT reports nothing (the replicator counts it when
// Put returns).
func TestPutReportsEachPart(t *testing.T) {
	c := newTestClient(t, siteAAddr, func(c *Config) { c.MultipartThreshold = 6 * MiB; c.PartSize = 5 * MiB; c.MaxPartsInFlight = 2 })
	bucket := testBucket(t, c)
	data := bytes.Repeat([]byte("0123456789abcdef"), 12*MiB/16)
	r := replicaOf(bucket, "parts", "s1", data)
	var mu sync.Mutex
	var calls []int64
	r.Progress = func(n int64) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, n)
	}
	if _, err := c.Destination().Put(context.Background(), r, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	slices.Sort(calls)
	got := slices.Clone(calls)
	mu.Unlock()
	if want := []int64{2 * MiB, 5 * MiB, 5 * MiB}; !slices.Equal(got, want) {
		t.Fatalf("reported %v, want one call per part %v", got, want)
	}

	small := replicaOf(bucket, "single", "s1", []byte("small"))
	small.Progress = func(n int64) { t.Errorf("a single PUT reported %d bytes", n) }
	if _, err := c.Destination().Put(context.Background(), small, bytes.NewReader([]byte("small"))); err != nil {
		t.Fatal(err)
	}
}
