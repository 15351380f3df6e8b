package app_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/adapters/memory"
	"github.com/openbackbeat/backbeat/app"
	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// partsDestination writes like a multipart upload: it reads the body part
// after part, reports each through Replica.Progress, and holds after half
// of them until released, so a test can look at a copy in flight.
type partsDestination struct {
	*memory.Objects
	part    int
	halfway chan struct{} // closed once half the parts are reported
	release chan struct{}
	once    sync.Once
}

func (d *partsDestination) Put(ctx context.Context, r ports.Replica, body io.Reader) (string, error) {
	var all bytes.Buffer
	buf := make([]byte, d.part)
	parts := (int(r.Size) + d.part - 1) / d.part
	for i := 0; i < parts; i++ {
		n, err := io.ReadFull(body, buf[:min(d.part, int(r.Size)-i*d.part)])
		if err != nil {
			return "", err
		}
		all.Write(buf[:n])
		r.Progress(int64(n))
		if i+1 == parts/2 {
			d.once.Do(func() { close(d.halfway) })
			select {
			case <-d.release:
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
	}
	r.Progress = nil
	return d.Objects.Put(ctx, r, &all)
}

// pipeline is a replicator and a status applier for one site on the
// in-memory adapters, with the entry of each version published by hand.
type pipeline struct {
	t     *testing.T
	meta  *memory.Metadata
	bus   *memory.Bus
	sim   *app.Simulator
	store ports.ProgressStore
	b     domain.Bucket
}

func newPipeline(t *testing.T, dst ports.Destination, store ports.ProgressStore, replica *memory.Objects) *pipeline {
	t.Helper()
	bus, err := memory.NewBus(memory.BusConfig{Partitions: 4})
	if err != nil {
		t.Fatal(err)
	}
	failures, err := memory.NewFailures(memory.FailuresConfig{})
	if err != nil {
		t.Fatal(err)
	}
	source := memory.NewObjects()
	p := &pipeline{t: t, meta: memory.NewMetadata(), bus: bus, store: store}
	p.sim = &app.Simulator{Metadata: p.meta, Objects: source.Writer(), Versions: p.meta}
	p.b = domain.Bucket{Name: "prog", VersioningEnabled: true, VFormat: "v0", Replication: &domain.ReplicationConfig{
		Role: "arn:aws:iam::123456789012:role/crr", Rules: []domain.ReplicationRule{{ID: "all", Enabled: true, DestinationBucket: "arn:aws:s3:::prog-replica", StorageClass: "site-a"}},
	}}
	if err := p.sim.CreateBucket(context.Background(), p.b); err != nil {
		t.Fatal(err)
	}
	replica.CreateBucket("prog-replica")
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	r, err := app.NewReplicator("site-a", app.ReplicatorDeps{Subscriber: bus, Publisher: bus, Source: source, Destination: dst,
		Topics: app.DefaultTopics, Log: log, Progress: store}, quickReplication(app.ReplicationConfig{Concurrency: 4}))
	if err != nil {
		t.Fatal(err)
	}
	ap, err := app.NewStatusApplier(app.StatusApplierDeps{Subscriber: bus, Publisher: bus, Metadata: p.meta, Failures: failures,
		Topics: app.DefaultTopics, Log: log}, app.ReplicationConfig{Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, run := range []func(context.Context) error{r.Run, ap.Run} {
		wg.Go(func() {
			if err := run(ctx); err != nil {
				t.Errorf("role stopped: %v", err)
			}
		})
	}
	t.Cleanup(func() { cancel(); wg.Wait(); _ = bus.Close() })
	return p
}

// put writes a version and publishes its entry, as the populator would.
func (p *pipeline) put(key string, size int) domain.ObjectVersion {
	p.t.Helper()
	v, err := p.sim.PutObject(context.Background(), p.b, key, bytes.Repeat([]byte("x"), size), "text/plain", nil, nil)
	if err != nil {
		p.t.Fatal(err)
	}
	value, err := domain.MarshalObjectMD(v)
	if err != nil {
		p.t.Fatal(err)
	}
	e := domain.NewEntry(v.Bucket, domain.VersionedKey(v.Key, v.VersionID), value)
	if err := p.bus.Publish(context.Background(), app.DefaultTopics.Entries, ports.Message{Key: e.OrderingKey(), Payload: e.Encode()}); err != nil {
		p.t.Fatal(err)
	}
	return v
}

// waitProgress polls the store until cond holds for v's copy to site-a.
func (p *pipeline) waitProgress(v domain.ObjectVersion, what string, cond func(ports.CopyProgress) bool) ports.CopyProgress {
	p.t.Helper()
	ref := ports.CopyRef{Site: "site-a", Bucket: v.Bucket, Key: v.Key, VersionID: v.VersionID}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := p.store.Progress(context.Background(), ref)
		if err == nil && cond(got) {
			return got
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("progress of %s never %s; last %+v (err %v)", v.Key, what, got, err)
		}
		time.Sleep(time.Millisecond)
	}
}

func (p *pipeline) waitCompleted(v domain.ObjectVersion) {
	p.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		cur, err := p.meta.Version(context.Background(), v.Bucket, v.Key, v.VersionID)
		if b, _ := cur.Site("site-a"); err == nil && b.Status == domain.StatusCompleted {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s never COMPLETED: %+v %v", v.Key, cur.Replication, err)
		}
		time.Sleep(time.Millisecond)
	}
}

// The replicator reports a multipart copy part by part while it runs, as
// upstream counts each part once written (scality/backbeat
// extensions/replication/tasks/ReplicateObject.js _getAndPutData and
// _publishDataWriteMetrics, read back by lib/api/Metrics.js
// getObjectProgress): mid-copy the store holds the bytes done so far.
func TestReplicatorReportsProgressPartByPart(t *testing.T) {
	store, err := memory.NewProgress(memory.ProgressConfig{})
	if err != nil {
		t.Fatal(err)
	}
	dst := &partsDestination{Objects: memory.NewObjects(), part: 1000, halfway: make(chan struct{}), release: make(chan struct{})}
	p := newPipeline(t, dst, store, dst.Objects)
	start := time.Now().Truncate(time.Millisecond)
	v := p.put("big", 4500) // five parts: 1000 x 4 + 500

	select {
	case <-dst.halfway:
	case <-time.After(10 * time.Second):
		t.Fatal("the copy never started")
	}
	mid := p.waitProgress(v, "at 2000 of 4500 bytes", func(c ports.CopyProgress) bool { return c.Done == 2000 })
	if mid.Total != 4500 || mid.Started.Before(start) || mid.Updated.Before(mid.Started) {
		t.Fatalf("mid-copy progress %+v", mid)
	}
	close(dst.release)
	p.waitCompleted(v)
	p.waitProgress(v, "complete", func(c ports.CopyProgress) bool { return c.Done == 4500 && c.Total == 4500 })

	// A destination that writes in one request reports nothing itself:
	// the replicator counts the whole object once Put returns.
	one := memory.NewObjects()
	q := newPipeline(t, silentDestination{one}, store, one)
	w := q.put("small", 300)
	q.waitCompleted(w)
	q.waitProgress(w, "complete", func(c ports.CopyProgress) bool { return c.Done == 300 && c.Total == 300 })
}

// silentDestination reports no progress at all.
type silentDestination struct{ *memory.Objects }

func (d silentDestination) Put(ctx context.Context, r ports.Replica, body io.Reader) (string, error) {
	r.Progress = nil
	return d.Objects.Put(ctx, r, body)
}

// hangingStore never answers before its context ends, as a Redis that is
// down.
type hangingStore struct{ calls chan struct{} }

func (s hangingStore) wait(ctx context.Context) error {
	select {
	case s.calls <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return fmt.Errorf("redis: %w", ctx.Err())
}

func (s hangingStore) Begin(ctx context.Context, _ ports.CopyRef, _ int64, _ time.Time) error {
	return s.wait(ctx)
}

func (s hangingStore) Advance(ctx context.Context, _ ports.CopyRef, _ time.Time, _ int64, _ time.Time) error {
	return s.wait(ctx)
}

func (s hangingStore) Progress(context.Context, ports.CopyRef) (ports.CopyProgress, error) {
	return ports.CopyProgress{}, errors.New("down")
}

// Progress is off the copy's path: a store that does not answer delays
// no copy (the replicator's stop included, which the cleanup waits for).
func TestProgressStoreDownDoesNotSlowCopies(t *testing.T) {
	store := hangingStore{calls: make(chan struct{}, 1)}
	dst := memory.NewObjects()
	p := newPipeline(t, dst, store, dst)
	start := time.Now()
	var vs []domain.ObjectVersion
	for i := range 20 {
		vs = append(vs, p.put(fmt.Sprintf("k%d", i), 100))
	}
	for _, v := range vs {
		p.waitCompleted(v)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("20 copies took %s with the progress store down", d)
	}
	select {
	case <-store.calls:
	default:
		t.Fatal("the store was never called")
	}
}
