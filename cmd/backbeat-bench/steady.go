package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	mopts "go.mongodb.org/mongo-driver/mongo/options"

	"github.com/openbackbeat/backbeat/domain"
)

// steady writes objects at rate per second for the configured duration
// and measures, per object, the time from its metadata write (the end of
// CloudServer's PUT) to its COMPLETED status.
func (b *bench) steady(ctx context.Context, rate float64) ([]Result, error) {
	n := int(math.Max(50, rate*b.o.steadyFor.Seconds()))
	name := fmt.Sprintf("%s-steady", b.run)
	bk, err := b.newBucket(ctx, name)
	if err != nil {
		return nil, err
	}
	objs, err := b.seed(ctx, name, "obj-", n, b.o.smallSize)
	if err != nil {
		return nil, err
	}
	if err := b.warmUp(ctx, bk); err != nil {
		return nil, err
	}
	logf("steady load: %d objects at %.0f/s", n, rate)
	coll := b.meta.Database().Collection(name)
	var mu sync.Mutex
	putAt := map[string]time.Time{}
	var lat []time.Duration
	var writeErr atomic.Value
	done := make(chan struct{})
	go func() {
		defer close(done)
		interval := time.Duration(float64(time.Second) / rate)
		next := time.Now()
		var wg sync.WaitGroup
		sem := make(chan struct{}, b.o.concurrency)
		for _, s := range objs {
			if d := time.Until(next); d > 0 {
				time.Sleep(d)
			}
			next = next.Add(interval)
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				if err := b.meta.PutVersion(ctx, version(bk, s)); err != nil {
					writeErr.Store(err)
					return
				}
				mu.Lock()
				putAt[domain.DocumentID(s.key, s.vid, "v0")] = time.Now()
				mu.Unlock()
			}()
		}
		wg.Wait()
	}()
	deadline := time.Now().Add(b.o.steadyFor + b.o.workloadWait)
	writing := true
	for writing || len(putAt) > 0 {
		select {
		case <-done:
			writing = false
		case <-time.After(10 * time.Millisecond):
		}
		if err, _ := writeErr.Load().(error); err != nil {
			return nil, err
		}
		mu.Lock()
		ids := make([]string, 0, len(putAt))
		for id := range putAt {
			ids = append(ids, id)
		}
		mu.Unlock()
		for len(ids) > 0 {
			chunk := ids[:min(len(ids), 500)]
			ids = ids[len(chunk):]
			cur, err := coll.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: chunk}}},
				{Key: "value.replicationInfo.status", Value: string(domain.StatusCompleted)}}, mopts.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
			if err != nil {
				return nil, err
			}
			var docs []struct {
				ID string `bson:"_id"`
			}
			if err := cur.All(ctx, &docs); err != nil {
				return nil, err
			}
			now := time.Now()
			mu.Lock()
			for _, d := range docs {
				if at, ok := putAt[d.ID]; ok {
					lat = append(lat, now.Sub(at))
					delete(putAt, d.ID)
				}
			}
			mu.Unlock()
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d objects not COMPLETED in time", len(putAt))
		}
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / float64(time.Millisecond)
	}
	note := fmt.Sprintf("%d objects at %.0f/s; poll every 10 ms adds up to ~10 ms", len(lat), rate)
	p50 := limitRow("steady load p50 put->COMPLETED", "ms", pct(0.50), 50, true)
	p50.Note = note
	return []Result{p50, limitRow("steady load p99 put->COMPLETED", "ms", pct(0.99), 1000, true)}, nil
}
