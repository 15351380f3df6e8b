package e2e

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/domain"
)

// load writes n small objects (keys obj-00000...) round-robin over the
// buckets with a few writers, each owning its keys, at about rate objects
// per second (0: as fast as possible). Every tenth key is written twice so
// that keys carry several versions.
func (e *Env) load(ctx context.Context, buckets []domain.Bucket, n, size int, rate float64) {
	e.t.Helper()
	const writers = 4
	var wg sync.WaitGroup
	start := time.Now()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := make([]byte, size)
			for i := w; i < n; i += writers {
				if rate > 0 {
					due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
					time.Sleep(time.Until(due))
				}
				fillRandom(data)
				b := buckets[i%len(buckets)]
				key := fmt.Sprintf("obj-%05d", i)
				e.Put(ctx, b, key, data, true)
				if i%10 == 0 {
					fillRandom(data)
					e.Put(ctx, b, key, data, true)
				}
			}
		}()
	}
	wg.Wait()
}

func fillRandom(b []byte) {
	for i := 0; i < len(b); i += 8 {
		v := mrand.Uint64()
		for j := 0; j < 8 && i+j < len(b); j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
}

// bigObject writes one multipart-sized object.
func (e *Env) bigObject(ctx context.Context, b domain.Bucket, size int) {
	data := make([]byte, size)
	fillRandom(data)
	e.Put(ctx, b, "big-object", data, true)
}

func pick[T any](short, long T) T {
	if full() {
		return long
	}
	return short
}

// Scenario 1: steady load over several buckets to two sites, with a
// multipart object.
func TestSteadyLoad(t *testing.T) {
	parallel(t)
	e := newEnv(t)
	e.StartRoles()
	ctx := context.Background()
	nb := pick(2, 3)
	var buckets []domain.Bucket
	for i := range nb {
		buckets = append(buckets, e.Bucket(fmt.Sprintf("steady-%d", i)))
	}
	start := time.Now()
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait) // loaders end before the roles stop, even on failure
	wg.Add(1)
	go func() {
		defer wg.Done()
		e.bigObject(ctx, buckets[0], 40<<20)
		if full() {
			e.bigObject(ctx, buckets[1], 72<<20)
		}
	}()
	e.load(ctx, buckets, pick(300, 5000), 1024, 0)
	wg.Wait()
	t.Logf("wrote %d versions in %s", len(e.Ledger.All()), time.Since(start).Round(time.Millisecond))
	e.WaitDone(e.Ledger.All(), pick(2*time.Minute, 10*time.Minute))
	e.Verify()
}
