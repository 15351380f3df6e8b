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
	"go.mongodb.org/mongo-driver/mongo"
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
	// The stand-in's own share: a plain change-stream reader on the same
	// collection notes when each version's first event reaches it.
	stopReader, err := b.eventTimes(ctx, name)
	if err != nil {
		return nil, err
	}
	defer stopReader() // on the error returns; stopping twice is harmless
	var mu sync.Mutex
	putAt := map[string]time.Time{}
	writtenAt := map[string]time.Time{}
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
				id, now := domain.DocumentID(s.key, s.vid, "v0"), time.Now()
				mu.Lock()
				putAt[id], writtenAt[id] = now, now
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
	var events []time.Duration
	for id, at := range stopReader() {
		if w, ok := writtenAt[id]; ok {
			events = append(events, max(at.Sub(w), 0))
		}
	}
	note := fmt.Sprintf("%d objects at %.0f/s; poll every 10 ms adds up to ~10 ms", len(lat), rate)
	if len(events) > 0 {
		note += fmt.Sprintf("; the stand-in's part: a plain change-stream reader on the same collection (5 ms between empty polls, the populator's shortest pause) got each version's event p50 %.0f ms, p99 %.0f ms after its write",
			percentile(events, 0.50), percentile(events, 0.99))
	}
	p50 := limitRow("steady load p50 put->COMPLETED", "ms", percentile(lat, 0.50), 50, true)
	p50.Note = note
	return []Result{p50, limitRow("steady load p99 put->COMPLETED", "ms", percentile(lat, 0.99), 1000, true)}, nil
}

// percentile is the p-th of ds in milliseconds (ds is sorted in place).
func percentile(ds []time.Duration, p float64) float64 {
	slices.Sort(ds)
	return float64(ds[min(len(ds)-1, int(p*float64(len(ds))))]) / float64(time.Millisecond)
}

// eventTimes reads collection name's change stream until stop is called
// and returns, from stop, when the first event of each document id came.
func (b *bench) eventTimes(ctx context.Context, name string) (stop func() map[string]time.Time, err error) {
	cs, err := b.meta.Database().Collection(name).Watch(ctx, mongo.Pipeline{}, mopts.ChangeStream().SetBatchSize(1000))
	if err != nil {
		return nil, fmt.Errorf("steady load: change stream reader: %w", err)
	}
	rctx, cancel := context.WithCancel(ctx)
	seen := map[string]time.Time{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer cs.Close(context.WithoutCancel(ctx))
		for rctx.Err() == nil {
			if !cs.TryNext(rctx) {
				time.Sleep(5 * time.Millisecond) // the populator's shortest pause
				continue
			}
			id, ok := cs.Current.Lookup("documentKey", "_id").StringValueOK()
			if !ok {
				id, ok = cs.Current.Lookup("fullDocument", "_id").StringValueOK()
			}
			if _, dup := seen[id]; ok && !dup {
				seen[id] = time.Now()
			}
		}
	}()
	return func() map[string]time.Time {
		cancel()
		<-done
		return seen
	}, nil
}
