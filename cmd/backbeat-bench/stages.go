package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	mopts "go.mongodb.org/mongo-driver/mongo/options"

	"github.com/openbackbeat/backbeat/adapters/mongometa"
	"github.com/openbackbeat/backbeat/domain"
)

// stageRun holds the figures of the per-stage workload: each stage drains
// a backlog with the stages after it stopped, against the limit of what
// it uses, measured in the same run on the same data.
type stageRun struct {
	results []Result
	e2eRate float64 // end-to-end drain of -objects, objects/s
}

// stages measures, on its own database, topics and groups:
//   - populator drain: N versions written with every role stopped, then the
//     populator alone started, against a plain change-stream reader of the
//     same events decoding only _id;
//   - replicator drain: then the replicator alone, against the raw
//     GET+PUT copy of the same objects at the same concurrency;
//   - status write-back drain: then the status applier, against a plain
//     loop of the applier's reads and CAS updates at its concurrency;
//   - end-to-end drain: N other versions with every role stopped, then all
//     started, against the slowest of the three baselines; with the CPU
//     of our roles per 1,000 objects against rclone's;
//   - scaling: the end-to-end drain's time per object at -small and
//     -objects.
func (b *bench) stages(ctx context.Context) (stageRun, error) {
	var out stageRun
	n, small := b.o.objects, b.o.small
	db := "bench_" + b.run + "_stg"
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	store, err := mongometa.New(ctx, mongometa.Config{URI: mongoURI, Database: db, Logger: quiet, Timeout: time.Minute})
	if err != nil {
		return out, err
	}
	defer store.Close(context.Background())
	defer func() { _ = store.Database().Drop(context.Background()) }()
	cfg, err := b.writeConfig("stg", db)
	if err != nil {
		return out, err
	}
	c := *b
	c.meta, c.cfg, c.tag, c.svc, c.baseCPU = store, cfg, b.run+"-stg", map[string]*service{}, map[string]float64{}
	defer c.stopAll()

	bkA, objsA, err := c.seeded(ctx, "stga", n)
	if err != nil {
		return out, err
	}
	bkB, objsB, err := c.seeded(ctx, "stgb", n)
	if err != nil {
		return out, err
	}
	bkC, objsC, err := c.seeded(ctx, "stgc", small)
	if err != nil {
		return out, err
	}
	rawMeter := newCPUMeter(map[string]int{"bench (the raw copy)": os.Getpid(), "s3-source": b.stack["s3-source"], "s3-" + b.o.site: b.stack["s3-"+b.o.site]})
	raw, err := c.rawCopySmall(ctx, bkA.Name, objsA)
	if err != nil {
		return out, err
	}
	rawMeter.stop()
	c.baseCPU["raw copy"] = rawMeter.machineSeconds() * 1000 / float64(n)
	logf("stages: raw copy %.0f objects/s", raw)
	rc := rcloneRun{}
	if !b.o.skipRclone {
		rc = c.rcloneCopy(ctx, bkB.Name, n)
		if rc.err != "" {
			logf("rclone skipped: %s", rc.err)
		} else {
			logf("stages: rclone %.0f objects/s, %.2f CPU s", rc.rate, rc.cpu)
		}
	}
	// One object through each bucket: the populator's checkpoint then
	// holds every bucket's stream, so a restart resumes them where they
	// were, not at the journal's end.
	if err := c.startAll(ctx); err != nil {
		return out, err
	}
	for _, bk := range []domain.Bucket{bkA, bkB, bkC} {
		if err := c.warmUp(ctx, bk); err != nil {
			return out, fmt.Errorf("warm-up of %s: %w", bk.Name, err)
		}
	}
	c.stopAll()

	// The end-to-end drains first: after the stage drains, a restarted
	// populator would first read the status write-backs of their bucket.
	e2eSmall, err := c.e2eDrain(ctx, bkC, objsC)
	if err != nil {
		return out, fmt.Errorf("end-to-end drain of %d: %w", small, err)
	}
	e2e, err := c.e2eDrain(ctx, bkB, objsB)
	if err != nil {
		return out, fmt.Errorf("end-to-end drain: %w", err)
	}
	out.e2eRate = e2e.rate

	// Each stage alone, the others stopped.
	pop, popBase, err := c.populatorDrain(ctx, bkA, objsA)
	if err != nil {
		return out, fmt.Errorf("populator drain: %w", err)
	}
	c.stopAll()
	rep, err := c.replicatorDrain(ctx, n, raw, rawMeter)
	if err != nil {
		return out, fmt.Errorf("replicator drain: %w", err)
	}
	c.stopAll()
	sta, err := c.statusDrain(ctx, bkA, objsA)
	if err != nil {
		return out, fmt.Errorf("status write-back drain: %w", err)
	}
	out.results = append(out.results, pop, popBase, rep, sta)
	defer func() { b.notes = c.notes }()

	slowest := min(pop.Baseline, rep.Baseline, sta.Baseline)
	r := ratioRow(fmt.Sprintf("end-to-end drain %d objects vs slowest stage baseline", n), "objects/s", e2e.rate, slowest, 0.8)
	r.Note = e2e.note + "; " + c.pipelineCeiling(slowest)
	out.results = append(out.results, r, e2e.cpuRow("all roles", e2e.cpuAll, rc, 1.0, true), e2e.cpuRow("replicator", e2e.cpuRep, rc, 0.5, false))

	flat := Result{Name: fmt.Sprintf("scaling: end-to-end time/object %d vs %d", n, small), Unit: "ms/object",
		Value: 1000 / e2e.rate, Baseline: 1000 / e2eSmall.rate, Target: "<= 1.2x"}
	flat.Ratio = flat.Value / flat.Baseline
	flat.Met = flat.Ratio <= 1.2
	flat.Note = fmt.Sprintf("%d objects: %s", small, e2eSmall.note)
	out.results = append(out.results, flat)
	return out, nil
}

// pipelineCeiling says how fast the three stages could run together on
// this machine at their baselines' cost: the machine's cores over the sum
// of the baselines' machine CPU per object (every process's, the stack's
// included), against slowest, the slowest baseline alone.
func (b *bench) pipelineCeiling(slowest float64) string {
	sum := 0.0
	var parts []string
	for _, stage := range []string{"change-stream reader", "raw copy", "read+CAS loop"} {
		ms, ok := b.baseCPU[stage]
		if !ok {
			return "no ceiling: the " + stage + " was not measured"
		}
		sum += ms
		parts = append(parts, fmt.Sprintf("%s %.3f", stage, ms))
	}
	ceiling := float64(runtime.NumCPU()) * 1000 / sum
	return fmt.Sprintf("the stage baselines cost the machine %s ms of CPU per object (%.3f in all), so on its %d cores the three at their baselines' cost could do at most %.0f objects/s together, %.2fx of the slowest baseline",
		strings.Join(parts, " + "), sum, runtime.NumCPU(), ceiling, ceiling/slowest)
}

// seeded makes bucket <run>-<suffix> and n objects of -size in its source.
func (b *bench) seeded(ctx context.Context, suffix string, n int) (domain.Bucket, []seeded, error) {
	bk, err := b.newBucket(ctx, b.run+"-"+suffix)
	if err != nil {
		return bk, nil, err
	}
	logf("stages: seeding %d objects in %s", n, bk.Name)
	objs, err := b.seed(ctx, bk.Name, "obj-", n, b.o.smallSize)
	return bk, objs, err
}

// start runs the given roles of the bench's configuration.
func (b *bench) start(roles ...string) error {
	for _, role := range roles {
		s, err := startService(b.o, b.cfg, role, fmt.Sprintf("%s-%d", b.tag, time.Now().UnixNano()%1e6))
		if err != nil {
			return err
		}
		b.svc[role] = s
	}
	return nil
}

func (b *bench) stopAll() {
	for role, s := range b.svc {
		s.stop()
		delete(b.svc, role)
	}
}

// topics of the bench's configuration.
func (b *bench) entriesTopic() string { return b.tag + "-replication" }
func (b *bench) statusTopic() string  { return b.tag + "-status" }

// populatorDrain writes the versions of objs with the populator stopped,
// then drains the same change events with a plain reader decoding only
// _id (the baseline), then starts the populator and times it from its
// first entry in Kafka to its last. It returns the row and the row of the
// populator's CPU per entry.
func (b *bench) populatorDrain(ctx context.Context, bk domain.Bucket, objs []seeded) (Result, Result, error) {
	n := len(objs)
	coll := b.meta.Database().Collection(bk.Name)
	pipeline := mongo.Pipeline{{{Key: "$match", Value: bson.D{{Key: "operationType", Value: bson.D{{Key: "$in",
		Value: bson.A{"insert", "update", "replace", "drop", "rename", "dropDatabase", "invalidate"}}}}}}}}
	cs, err := coll.Watch(ctx, pipeline, mopts.ChangeStream().SetBatchSize(1000).SetMaxAwaitTime(100*time.Millisecond))
	if err != nil {
		return Result{}, Result{}, err
	}
	defer cs.Close(context.WithoutCancel(ctx))
	base, err := topicCount(b.kafka, b.entriesTopic())
	if err != nil {
		return Result{}, Result{}, err
	}
	logf("populator drain: writing %d versions, every role stopped", n)
	start := time.Now()
	if err := b.writeVersions(ctx, bk, objs); err != nil {
		return Result{}, Result{}, err
	}
	written := time.Since(start)

	// The baseline, from its first read: each PUT is two events (version,
	// master).
	events := 0
	begin := time.Now()
	readerMeter := newCPUMeter(map[string]int{"mongo": b.stack["mongo"]})
	deadline := begin.Add(b.o.workloadWait)
	for events < 2*n {
		if !cs.TryNext(ctx) {
			if err := cs.Err(); err != nil {
				return Result{}, Result{}, err
			}
			if time.Now().After(deadline) {
				return Result{}, Result{}, fmt.Errorf("change stream reader: %d of %d events", events, 2*n)
			}
			continue
		}
		var ev struct {
			ID bson.Raw `bson:"_id"`
		}
		if err := cs.Decode(&ev); err != nil {
			return Result{}, Result{}, err
		}
		events++
	}
	readFor := time.Since(begin)
	readerMeter.stop()
	b.baseCPU["change-stream reader"] = readerMeter.machineSeconds() * 1000 / float64(n)
	baseline := float64(n) / readFor.Seconds()
	logf("populator drain: plain change-stream reader %.0f versions/s", baseline)

	// The populator, from its start (process start, connections, its
	// checkpoint and streams included) to its last entry in Kafka.
	if err := b.start("populator"); err != nil {
		return Result{}, Result{}, err
	}
	s := b.svc["populator"]
	prof := b.profileRole(ctx, "populator", n)
	first, el, meter, err := b.waitTopic(ctx, b.entriesTopic(), base, n, map[string]int{"populator": s.pid(), "mongo": b.stack["mongo"], "kafka": b.stack["kafka"]})
	if err != nil {
		return Result{}, Result{}, err
	}
	took := first + el
	us := float64(cpuTicks(s.pid())) * 1e4 / float64(n)
	b.notes = append(b.notes, <-prof)
	r := ratioRow(fmt.Sprintf("populator drain %d versions vs plain change-stream reader", n), "entries/s", float64(n)/took.Seconds(), baseline, 0.9)
	r.Note = fmt.Sprintf("versions written in %s (%.0f/s) with every role stopped; the reader (batch 1000, decodes _id only) read their %d events in %s from its first read; the populator's first entry was in Kafka %s after its process started, the last %s later; %s",
		written.Round(time.Millisecond), float64(n)/written.Seconds(), 2*n, readFor.Round(time.Millisecond), first.Round(time.Millisecond), el.Round(time.Millisecond), meter.report())
	cpu := limitRow("populator CPU per entry", "µs/entry", us, 20, true)
	cpu.Note = "the populator process's whole CPU (its start included) over the entries, /proc/<pid>/stat"
	logf("populator drain: %.0f entries/s, %.0f µs CPU per entry", r.Value, us)
	return r, cpu, nil
}

// replicatorDrain starts the replicator on the n entries in Kafka and
// times it from its first outcome on the status topic to its last, against
// raw, the raw copy of the same objects.
func (b *bench) replicatorDrain(ctx context.Context, n int, raw float64, rawMeter *cpuMeter) (Result, error) {
	base, err := topicCount(b.kafka, b.statusTopic())
	if err != nil {
		return Result{}, err
	}
	if err := b.start("replicator"); err != nil {
		return Result{}, err
	}
	s := b.svc["replicator"]
	prof := b.profileRole(ctx, "replicator", n)
	first, el, meter, err := b.waitTopic(ctx, b.statusTopic(), base, n, map[string]int{"replicator": s.pid(), "s3-source": b.stack["s3-source"], "s3-" + b.o.site: b.stack["s3-"+b.o.site], "kafka": b.stack["kafka"]})
	if err != nil {
		return Result{}, err
	}
	b.notes = append(b.notes, <-prof)
	r := ratioRow(fmt.Sprintf("replicator drain %d objects vs raw GET+PUT", n), "objects/s", float64(n-1)/el.Seconds(), raw, 0.9)
	r.Note = fmt.Sprintf("first outcome %s after the replicator's start, the last %s later; %s. Raw copy at concurrency %d: %s",
		first.Round(time.Millisecond), el.Round(time.Millisecond), meter.report(), b.o.concurrency, rawMeter.report())
	logf("replicator drain: %.0f objects/s (raw %.0f)", r.Value, raw)
	return r, nil
}

// profileRole takes a CPU profile of role, just started, for
// -profile-seconds; the channel gets the note to print.
func (b *bench) profileRole(ctx context.Context, role string, n int) <-chan string {
	c := make(chan string, 1)
	if b.o.profileSecs <= 0 {
		c <- ""
		return c
	}
	s := b.svc[role]
	go func() {
		path := filepath.Join(b.o.out, "drain-"+role+".cpu.pprof")
		top := profile(ctx, s, b.o.bin, b.o.profileSecs, path)
		c <- fmt.Sprintf("\n%s CPU profile (%d s from its start, draining %d; %s):\n%s", role, b.o.profileSecs, n, path, top)
	}()
	return c
}

// waitTopic waits until topic holds base+n messages and returns when the
// first arrived (after the call), the time from the first to the last,
// and the CPU meter of pids started at the first.
func (b *bench) waitTopic(ctx context.Context, topic string, base int64, n int, pids map[string]int) (time.Duration, time.Duration, *cpuMeter, error) {
	started := time.Now()
	var first time.Time
	var meter *cpuMeter
	for {
		c, err := topicCount(b.kafka, topic)
		if err == nil && c > base && meter == nil {
			first, meter = time.Now(), newCPUMeter(pids)
		}
		if err == nil && c >= base+int64(n) {
			meter.stop()
			return first.Sub(started), time.Since(first), meter, nil
		}
		if time.Since(started) > b.o.workloadWait {
			return 0, 0, nil, fmt.Errorf("topic %s has %d of %d messages (%v)", topic, c-base, n, err)
		}
		if err := ctx.Err(); err != nil {
			return 0, 0, nil, err
		}
		time.Sleep(10 * time.Millisecond)
	}
}
