package objectstest

import (
	"bytes"
	"sync"
	"testing"

	"github.com/openbackbeat/backbeat/ports"
)

// progressLog records what a destination reports through
// Replica.Progress.
type progressLog struct {
	mu    sync.Mutex
	calls []int64
	sum   int64
	max   int64 // the largest sum seen at any time
}

func (p *progressLog) add(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, n)
	p.sum += n
	p.max = max(p.max, p.sum)
}

// Calls returns the bytes of each call, in order, and their sum.
func (p *progressLog) Calls() ([]int64, int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int64(nil), p.calls...), p.sum
}

// testProgress: the calls to Replica.Progress add up to the size (or to
// nothing, for a destination that writes in one request), each with some
// bytes, never beyond the size. A large object (a multipart upload where
// the adapter is tuned for it) and a small one.
func testProgress(t *testing.T, d ports.Destination, rr ports.ReplicaReader, bucket string) {
	for _, size := range []int{LargeSize, 1000} {
		key := unique("progress")
		data := randomData(size)
		r := newReplica(bucket, key, data)
		var log progressLog
		r.Progress = log.add
		vid, err := d.Put(ctxFor(t), r, streamOnly{bytes.NewReader(data)})
		if err != nil {
			t.Fatalf("Put of %d bytes: %v", size, err)
		}
		calls, sum := log.Calls()
		if sum != 0 && sum != int64(size) || log.max > int64(size) {
			t.Fatalf("Put of %d bytes reported %v (sum %d, at most %d): want the size, or nothing", size, calls, sum, log.max)
		}
		for _, n := range calls {
			if n <= 0 {
				t.Fatalf("Put of %d bytes reported %v: a call without bytes", size, calls)
			}
		}
		got := replicas(t, rr, bucket, key)
		if len(got) != 1 {
			t.Fatalf("Replicas lists %d versions, want 1", len(got))
		}
		checkReplica(t, got[0], r, vid, data)
		// Put of a replica already there writes nothing, so reports nothing.
		var again progressLog
		r.Progress = again.add
		if _, err := d.Put(ctxFor(t), r, streamOnly{bytes.NewReader(data)}); err != nil {
			t.Fatal(err)
		}
		if calls, _ := again.Calls(); len(calls) != 0 {
			t.Fatalf("Put of a replica already held reported %v", calls)
		}
	}
}
