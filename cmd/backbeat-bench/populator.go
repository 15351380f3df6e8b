package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"path/filepath"
	"slices"
	"time"

	"github.com/IBM/sarama"
	"go.mongodb.org/mongo-driver/bson"
	mopts "go.mongodb.org/mongo-driver/mongo/options"

	"github.com/openbackbeat/backbeat/adapters/mongometa"
	"github.com/openbackbeat/backbeat/domain"
)

// populatorOnly runs the populator alone and measures journal events to
// Kafka entries: version documents are inserted in bulk while it runs.
func (b *bench) populatorOnly(ctx context.Context) ([]Result, error) {
	n := b.o.popEvents
	db := "bench_" + b.run + "_pop"
	cfg, err := b.writeConfig("pop", db)
	if err != nil {
		return nil, err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	meta, err := mongometa.New(ctx, mongometa.Config{URI: mongoURI, Database: db, Logger: quiet, Timeout: time.Minute})
	if err != nil {
		return nil, err
	}
	defer meta.Close(context.Background())
	defer func() { _ = meta.Database().Drop(context.Background()) }()
	name := b.run + "-pop"
	bk := domain.Bucket{Name: name, VersioningEnabled: true, VFormat: "v0", Replication: &domain.ReplicationConfig{
		Role:  "arn:aws:iam::000000000000:role/bench",
		Rules: []domain.ReplicationRule{{ID: "all", Enabled: true, DestinationBucket: domain.DestinationBucketPrefix + name + "-replica", StorageClass: b.o.site}},
	}}
	if err := meta.PutBucket(ctx, bk); err != nil {
		return nil, err
	}
	s, err := startService(b.o, cfg, "populator", b.run+"-pop")
	if err != nil {
		return nil, err
	}
	defer s.stop()
	sc := sarama.NewConfig()
	client, err := sarama.NewClient([]string{kafkaBroker}, sc)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	topic := b.run + "-pop-replication"
	// Warm-up: one version through, so the journal has the bucket's stream.
	// Written again until seen: a populator still starting opens its
	// streams at the journal's end.
	warm := version(bk, seeded{key: "warmup", vid: "98000000000000999999RG001  0", size: 1})
	deadline := time.Now().Add(b.o.workloadWait)
	for {
		warm.MicroVersionID = fmt.Sprintf("%016x", mrand.Uint64())
		if err := meta.PutVersion(ctx, warm); err != nil {
			return nil, err
		}
		time.Sleep(2 * time.Second)
		c, err := topicCount(client, topic)
		if err == nil && c >= 1 {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("warm-up: topic %s has no entry after %s (%v)", topic, b.o.workloadWait, err)
		}
	}
	warmed, err := topicCount(client, topic)
	if err != nil {
		return nil, err
	}
	var tmpl bson.D
	if err := meta.Database().Collection(name).FindOne(ctx, bson.D{{Key: "_id", Value: domain.DocumentID("warmup", warm.VersionID, "v0")}}).Decode(&tmpl); err != nil {
		return nil, err
	}
	docs := make([]any, n)
	for i := range docs {
		d := slices.Clone(tmpl)
		for j := range d {
			if d[j].Key == "_id" {
				d[j].Value = domain.DocumentID(fmt.Sprintf("pop-%07d", i), warm.VersionID, "v0")
			}
		}
		docs[i] = d
	}
	// The populator is stopped while the documents go in (its checkpoint is
	// past the warm-up), then started again: it drains the backlog, so the
	// figure is the populator's rate, not the rate of the test's inserts.
	s.stop()
	logf("populator: inserting %d version documents while it is stopped", n)
	start := time.Now()
	coll := meta.Database().Collection(name)
	for i := 0; i < n; i += 1000 {
		if _, err := coll.InsertMany(ctx, docs[i:min(n, i+1000)], mopts.InsertMany().SetOrdered(false)); err != nil {
			return nil, err
		}
	}
	inserted := time.Since(start)
	if s, err = startService(b.o, cfg, "populator", b.run+"-pop-2"); err != nil {
		return nil, err
	}
	defer s.stop()
	meter := newCPUMeter(map[string]int{"populator": s.pid(), "mongo": b.stack["mongo"], "kafka": b.stack["kafka"]})
	prof := make(chan string, 1)
	go func() {
		prof <- profile(ctx, s, b.o.bin, b.o.profileSecs, filepath.Join(b.o.out, "populator.cpu.pprof"))
	}()
	restarted := time.Now()
	var first time.Time
	for deadline := restarted.Add(b.o.workloadWait); ; {
		c, err := topicCount(client, topic)
		if err == nil && c > warmed && first.IsZero() {
			first = time.Now()
		}
		if err == nil && c >= int64(n)+warmed {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("topic %s has %d of %d entries (%v)", topic, c-warmed, n, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	drained := time.Since(first)
	r := limitRow(fmt.Sprintf("populator %d events -> Kafka", n), "entries/s", float64(n)/drained.Seconds(), 20000, false)
	r.Note = fmt.Sprintf("backlog of %d inserts (written in %s, %.0f docs/s, populator stopped); first entry %s after the restart, last %s after the first; %s",
		n, inserted.Round(time.Millisecond), float64(n)/inserted.Seconds(), first.Sub(restarted).Round(time.Millisecond),
		drained.Round(time.Millisecond), meter.report())
	logf("populator: %.0f entries/s (%s)", r.Value, r.Note)
	b.notes = append(b.notes, fmt.Sprintf("\npopulator CPU profile (%d s from its restart; %s/populator.cpu.pprof):\n%s", b.o.profileSecs, b.o.out, <-prof))
	return []Result{r}, nil
}
