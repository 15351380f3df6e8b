package main

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"golang.org/x/sync/errgroup"

	"github.com/openbackbeat/backbeat/domain"
)

// statusDrain starts the status applier on the outcomes on the status
// topic and times it from its first COMPLETED version to its last; then
// runs the baseline, casLoop, on the same documents.
func (b *bench) statusDrain(ctx context.Context, bk domain.Bucket, objs []seeded) (Result, error) {
	n := len(objs)
	if err := b.start("status"); err != nil {
		return Result{}, err
	}
	s := b.svc["status"]
	prof := b.profileRole(ctx, "status", n)
	started := time.Now()
	var first time.Time
	var meter *cpuMeter
	for {
		// The warm-up version is COMPLETED already.
		c, err := b.completed(ctx, bk.Name)
		if err != nil {
			return Result{}, err
		}
		if c > 1 && meter == nil {
			first, meter = time.Now(), newCPUMeter(map[string]int{"status": s.pid(), "mongo": b.stack["mongo"], "kafka": b.stack["kafka"]})
		}
		if c >= int64(n)+1 {
			break
		}
		if time.Since(started) > b.o.workloadWait {
			return Result{}, fmt.Errorf("%d of %d versions COMPLETED after %s", c-1, n, b.o.workloadWait)
		}
		time.Sleep(200 * time.Millisecond)
	}
	el := time.Since(first)
	report := meter.report()
	b.notes = append(b.notes, <-prof)
	rate := float64(n-1) / el.Seconds()
	logf("status drain: %.0f outcomes/s; baseline next", rate)
	b.stopAll() // the baseline alone, as the applier was
	base, err := b.casLoop(ctx, bk, objs)
	if err != nil {
		return Result{}, fmt.Errorf("read+CAS loop: %w", err)
	}
	r := ratioRow(fmt.Sprintf("status write-back drain %d outcomes vs plain read+CAS loop", n), "outcomes/s", rate, base.rate, 0.9)
	r.Note = fmt.Sprintf("first COMPLETED %s after the applier's start (polled every 200 ms), the last %s later; %s. Baseline: the applier's reads and CAS (read version, CAS it, read master, read version, CAS master) by %d workers in %s; %s",
		first.Sub(started).Round(time.Millisecond), el.Round(time.Millisecond), report, b.o.concurrency, base.took.Round(time.Millisecond), base.cpu)
	logf("status drain: %.0f outcomes/s (read+CAS loop %.0f)", rate, base.rate)
	return r, nil
}

type casRun struct {
	rate float64
	took time.Duration
	cpu  string
}

// casLoop does, for each version of objs at the applier's concurrency,
// what the status write-back does to MongoDB: read the version, CAS its
// value (the whole value, filtered on the value as read), read the
// master, read the version again and CAS the master to it.
func (b *bench) casLoop(ctx context.Context, bk domain.Bucket, objs []seeded) (casRun, error) {
	coll := b.meta.Database().Collection(bk.Name)
	find := func(ctx context.Context, id string) (bson.Raw, error) {
		return coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Raw()
	}
	cas := func(ctx context.Context, id string, expected bson.RawValue, value any) error {
		res, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "value", Value: expected}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "_id", Value: id}, {Key: "value", Value: value}}}})
		if err != nil {
			return err
		}
		if res.MatchedCount != 1 {
			return fmt.Errorf("CAS of %s matched %d documents", id, res.MatchedCount)
		}
		return nil
	}
	meter := newCPUMeter(map[string]int{"mongo": b.stack["mongo"]})
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(b.o.concurrency)
	for i, s := range objs {
		g.Go(func() error {
			id, mid := domain.DocumentID(s.key, s.vid, "v0"), domain.DocumentID(s.key, "", "v0")
			doc, err := find(gctx, id)
			if err != nil {
				return err
			}
			expected := doc.Lookup("value")
			var value bson.D
			if err := expected.Unmarshal(&value); err != nil {
				return err
			}
			value = append(value, bson.E{Key: "x-bench-cas", Value: i}) // a real change, never a no-op
			if err := cas(gctx, id, expected, value); err != nil {
				return err
			}
			master, err := find(gctx, mid)
			if err != nil {
				return err
			}
			if doc, err = find(gctx, id); err != nil {
				return err
			}
			return cas(gctx, mid, master.Lookup("value"), doc.Lookup("value"))
		})
	}
	if err := g.Wait(); err != nil {
		return casRun{}, err
	}
	took := time.Since(start)
	meter.stop()
	b.baseCPU["read+CAS loop"] = meter.machineSeconds() * 1000 / float64(len(objs))
	return casRun{rate: float64(len(objs)) / took.Seconds(), took: took, cpu: meter.report()}, nil
}

type e2eRun struct {
	n              int
	rate           float64
	note           string
	cpuAll, cpuRep float64 // CPU seconds of our roles, of the replicator
}

// e2eDrain writes the versions of objs with every role stopped, then
// starts them all and times until the last version is COMPLETED.
func (b *bench) e2eDrain(ctx context.Context, bk domain.Bucket, objs []seeded) (e2eRun, error) {
	n := len(objs)
	logf("end-to-end drain: writing %d versions, every role stopped", n)
	wstart := time.Now()
	if err := b.writeVersions(ctx, bk, objs); err != nil {
		return e2eRun{}, err
	}
	written := time.Since(wstart)
	if err := b.start("populator", "replicator", "status"); err != nil {
		return e2eRun{}, err
	}
	meter := newCPUMeter(b.pids())
	start := time.Now()
	if err := b.waitCompleted(ctx, bk.Name, int64(n)+1, 250*time.Millisecond); err != nil {
		return e2eRun{}, err
	}
	el := time.Since(start)
	r := e2eRun{n: n, rate: float64(n) / el.Seconds()}
	for role, s := range b.svc {
		sec := float64(cpuTicks(s.pid())) / 100
		r.cpuAll += sec
		if role == "replicator" {
			r.cpuRep = sec
		}
	}
	r.note = fmt.Sprintf("versions written in %s with every role stopped, then all started: the last COMPLETED %s later (polled every 250 ms); our roles used %.2f CPU s (replicator %.2f) including their start; %s",
		written.Round(time.Millisecond), el.Round(time.Millisecond), r.cpuAll, r.cpuRep, meter.report())
	b.stopAll()
	logf("end-to-end drain %d: %.0f objects/s", n, r.rate)
	return r, nil
}

// cpuRow compares CPU seconds per 1,000 objects with rclone's: met below
// want times rclone's
// (strict: below it).
func (r e2eRun) cpuRow(label string, sec float64, rc rcloneRun, want float64, strict bool) Result {
	per := func(s float64) float64 { return s * 1000 / float64(r.n) }
	op := "<="
	if strict {
		op = "<"
	}
	row := Result{Name: "CPU per 1000 objects, " + label + " vs rclone", Unit: "CPU s", Value: per(sec), Target: fmt.Sprintf("%s %gx", op, want)}
	if rc.cpu <= 0 {
		row.Note = "no rclone baseline: " + rc.err
		return row
	}
	row.Baseline = per(rc.cpu)
	row.Ratio = row.Value / row.Baseline
	row.Met = row.Ratio <= want && (!strict || row.Ratio < want)
	row.Note = fmt.Sprintf("end-to-end drain of %d objects; rclone copy of %d other objects of the same size (user+system of its process)", r.n, r.n)
	return row
}
