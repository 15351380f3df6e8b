package app_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/adapters/memory"
	"github.com/openbackbeat/backbeat/app"
	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// downable fails every call while down, as Redis does in an outage.
type downable struct{ down atomic.Bool }

var errRedisDown = errors.New("redis: connection refused")

func (d *downable) check() error {
	if d.down.Load() {
		return errRedisDown
	}
	return nil
}

type downFailures struct {
	*downable
	ports.FailureStore
}

func (f downFailures) Add(ctx context.Context, e ports.FailedEntry) error {
	if err := f.check(); err != nil {
		return err
	}
	return f.FailureStore.Add(ctx, e)
}

func (f downFailures) Remove(ctx context.Context, e ports.FailedEntry) (bool, error) {
	if err := f.check(); err != nil {
		return false, err
	}
	return f.FailureStore.Remove(ctx, e)
}

// downMetrics also loses the replies of its next `lose` counts: they are
// counted, and the caller sees an error, as when Redis stops between the
// two.
type downMetrics struct {
	*downable
	ports.MetricsRecorder
	lose *atomic.Int32
}

func (m downMetrics) Record(ctx context.Context, site string, kind ports.MetricKind, ops, bytes int64, op ports.Op) error {
	if err := m.check(); err != nil {
		return err
	}
	if err := m.MetricsRecorder.Record(ctx, site, kind, ops, bytes, op); err != nil {
		return err
	}
	if m.lose.Add(-1) >= 0 {
		return errors.New("redis: connection reset by peer: reply lost")
	}
	return nil
}

// While Redis is down, outcomes still reach MongoDB, every one of them;
// the failure store and the counters catch up when it is back.
func TestStatusesAreWrittenWhileRedisIsDown(t *testing.T) {
	meta := memory.NewMetadata()
	bus, err := memory.NewBus(memory.BusConfig{Partitions: 4})
	if err != nil {
		t.Fatal(err)
	}
	failures, err := memory.NewFailures(memory.FailuresConfig{})
	if err != nil {
		t.Fatal(err)
	}
	metrics, err := memory.NewMetrics(memory.MetricsConfig{})
	if err != nil {
		t.Fatal(err)
	}
	redis := &downable{}
	lose := &atomic.Int32{}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelError}))
	const concurrency = 4
	ap, err := app.NewStatusApplier(app.StatusApplierDeps{Subscriber: bus, Publisher: bus, Metadata: meta, Failures: downFailures{redis, failures},
		Metrics: downMetrics{redis, metrics, lose}, Topics: app.DefaultTopics, Log: log}, app.ReplicationConfig{Concurrency: concurrency})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := ap.Run(ctx); err != nil {
			t.Errorf("status applier: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })

	sim := &app.Simulator{Metadata: meta, Objects: memory.NewObjects().Writer()}
	b := domain.Bucket{Name: "rd", VersioningEnabled: true, VFormat: "v0", Replication: &domain.ReplicationConfig{
		Role:  "arn:aws:iam::1:role/r",
		Rules: []domain.ReplicationRule{{ID: "r", Enabled: true, DestinationBucket: "arn:aws:s3:::rd-replica", StorageClass: "site-a"}},
	}}
	if err := sim.CreateBucket(ctx, b); err != nil {
		t.Fatal(err)
	}
	redis.down.Store(true)
	// Many more outcomes than workers: with Redis on the path, the applier
	// would write `concurrency` statuses and then wait.
	const n = 40
	var vs []domain.ObjectVersion
	for i := range n {
		v, err := sim.PutObject(ctx, b, fmt.Sprintf("k-%02d", i), []byte("x"), "text/plain", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
		st := domain.StatusCompleted
		if i%4 == 0 {
			st = domain.StatusFailed
		}
		out := domain.NewOutcome(v, "site-a", st)
		if st == domain.StatusCompleted {
			out.Completed(domain.ActionCopied, "dst", v.Size)
		} else {
			out.Reason = "refused"
		}
		if err := bus.Publish(ctx, app.DefaultTopics.Status, ports.Message{Key: out.OrderingKey(), Payload: out.Encode()}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, v := range vs {
		for {
			cur, err := meta.Version(ctx, v.Bucket, v.Key, v.VersionID)
			if err == nil && (cur.Replication.Status == domain.StatusCompleted || cur.Replication.Status == domain.StatusFailed) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("with Redis down, %s never got its status: %+v (%v)", v.Key, cur.Replication, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if m, _ := metrics.Site(ctx, "site-a", time.Hour); m.Completed.Ops+m.Failed.Ops != 0 {
		t.Fatalf("counters moved while Redis was down: %+v", m)
	}

	lose.Store(6) // the first counts after the outage are in, their replies lost
	redis.down.Store(false)
	deadline = time.Now().Add(15 * time.Second)
	for {
		m, _ := metrics.Site(ctx, "site-a", time.Hour)
		page, _ := failures.List(ctx, "site-a", 0, 100)
		if m.Completed.Ops == 30 && m.Failed.Ops == 10 && len(page.Entries) == 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after Redis came back: completed %d failed %d listed %d, want 30, 10, 10", m.Completed.Ops, m.Failed.Ops, len(page.Entries))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The retries of the counts whose replies were lost (50 ms later) count
	// nothing more.
	time.Sleep(500 * time.Millisecond)
	if m, _ := metrics.Site(ctx, "site-a", time.Hour); m.Completed.Ops != 30 || m.Failed.Ops != 10 {
		t.Fatalf("a count whose reply was lost was counted again: completed %d failed %d, want 30, 10", m.Completed.Ops, m.Failed.Ops)
	}
}
