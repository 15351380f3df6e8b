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

// cutLeases is a lease store that can be cut off, as a network partition
// or a frozen process would cut one instance off.
type cutLeases struct {
	ports.LeasedCheckpoints
	cut atomic.Bool
}

var errCut = errors.New("partitioned")

func (c *cutLeases) Acquire(ctx context.Context, name, owner string, ttl time.Duration) (ports.Grant, bool, error) {
	if c.cut.Load() {
		return ports.Grant{}, false, errCut
	}
	return c.LeasedCheckpoints.Acquire(ctx, name, owner, ttl)
}

func (c *cutLeases) Renew(ctx context.Context, g ports.Grant, ttl time.Duration) error {
	if c.cut.Load() {
		return errCut
	}
	return c.LeasedCheckpoints.Renew(ctx, g, ttl)
}

func (c *cutLeases) SaveFenced(ctx context.Context, g ports.Grant, pos ports.Position) error {
	if c.cut.Load() {
		return errCut
	}
	return c.LeasedCheckpoints.SaveFenced(ctx, g, pos)
}

// countingPublisher records when its populator published entries.
type countingPublisher struct {
	ports.Publisher
	mu   sync.Mutex
	at   []time.Time
	keys map[string]int
}

func (p *countingPublisher) Publish(ctx context.Context, topic string, msgs ...ports.Message) error {
	if err := p.Publisher.Publish(ctx, topic, msgs...); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range msgs {
		p.at = append(p.at, time.Now())
		e, _, err := domain.DecodeEntry(m.Payload)
		if err == nil {
			p.keys[e.Key]++
		}
	}
	return nil
}

func (p *countingPublisher) after(t time.Time) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, at := range p.at {
		if at.After(t) {
			n++
		}
	}
	return n
}

func TestOnePopulatorPublishesAndAStandbyTakesOver(t *testing.T) {
	meta := memory.NewMetadata()
	bus, err := memory.NewBus(memory.BusConfig{Partitions: 4})
	if err != nil {
		t.Fatal(err)
	}
	ckpts := memory.NewCheckpoints()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	const ttl, renew = 400 * time.Millisecond, 100 * time.Millisecond
	type instance struct {
		pop    *app.Populator
		lease  *app.Leadership
		leases *cutLeases
		pub    *countingPublisher
	}
	var insts []*instance
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	for i := range 2 {
		in := &instance{leases: &cutLeases{LeasedCheckpoints: ckpts}, pub: &countingPublisher{Publisher: bus, keys: map[string]int{}}}
		in.lease = &app.Leadership{Leases: in.leases, Owner: fmt.Sprint("populator-", i), TTL: ttl, Renew: renew, Log: log}
		pop, err := app.NewPopulator(app.PopulatorDeps{Journal: meta, Checkpoints: in.leases, Metadata: meta, Publisher: in.pub, Topics: app.DefaultTopics,
			Sites: []string{"site-a"}, Log: log, Lease: in.lease}, app.PopulatorConfig{CheckpointName: "ha", BatchSize: 10, BucketCacheTTL: time.Nanosecond})
		if err != nil {
			t.Fatal(err)
		}
		in.pop = pop
		insts = append(insts, in)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := in.pop.Run(ctx); err != nil {
				t.Errorf("populator %d: %v", i, err)
			}
		}()
	}
	active := func() *instance {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			var on []*instance
			for _, in := range insts {
				if in.lease.State().Active {
					on = append(on, in)
				}
			}
			if len(on) > 1 {
				t.Fatalf("%d populators are active at once", len(on))
			}
			if len(on) == 1 {
				return on[0]
			}
			if time.Now().After(deadline) {
				t.Fatal("no populator became active")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	first := active()
	<-first.pop.Ready()

	sim := &app.Simulator{Metadata: meta, Objects: memory.NewObjects().Writer()}
	b := domain.Bucket{Name: "ha", VersioningEnabled: true, VFormat: "v0", Replication: &domain.ReplicationConfig{
		Role:  "arn:aws:iam::1:role/r",
		Rules: []domain.ReplicationRule{{ID: "r", Enabled: true, DestinationBucket: "arn:aws:s3:::ha-replica", StorageClass: "site-a"}},
	}}
	if err := sim.CreateBucket(ctx, b); err != nil {
		t.Fatal(err)
	}
	put := func(n int, from int) []domain.ObjectVersion {
		var vs []domain.ObjectVersion
		for i := range n {
			v, err := sim.PutObject(ctx, b, fmt.Sprintf("k-%03d", from+i), []byte("x"), "text/plain", nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			vs = append(vs, v)
		}
		return vs
	}
	written := put(50, 0)

	// The active one is cut off: it must stop before its grant runs out,
	// and the standby takes over within ttl + renew.
	time.Sleep(50 * time.Millisecond)
	cutAt := time.Now()
	first.leases.cut.Store(true)
	var second *instance
	for second == nil || second == first {
		time.Sleep(5 * time.Millisecond)
		second = nil
		for _, in := range insts {
			if in != first && in.lease.State().Active {
				second = in
			}
		}
		if time.Since(cutAt) > ttl+renew+time.Second {
			t.Fatalf("no takeover %s after the active populator was cut off", time.Since(cutAt))
		}
	}
	takeover := time.Since(cutAt)
	if first.lease.State().Active {
		t.Fatal("the cut-off populator still says it is active after the takeover")
	}
	written = append(written, put(50, 50)...)
	deadline := time.Now().Add(5 * time.Second)
	for {
		missing := 0
		for _, v := range written {
			k := domain.VersionedKey(v.Key, v.VersionID)
			first.pub.mu.Lock()
			n := first.pub.keys[k]
			first.pub.mu.Unlock()
			second.pub.mu.Lock()
			n += second.pub.keys[k]
			second.pub.mu.Unlock()
			if n == 0 {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d versions were never published", missing, len(written))
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The standby published nothing before it took over.
	if n := second.pub.after(time.Time{}) - second.pub.after(cutAt); n != 0 {
		t.Fatalf("the standby published %d entries while the other populator was active", n)
	}
	// Nothing from the cut-off one once its term could have run out.
	if n := first.pub.after(cutAt.Add(ttl)); n != 0 {
		t.Fatalf("the cut-off populator published %d entries after its grant ran out", n)
	}
	t.Logf("takeover %s after the cut (lease %s, renew %s)", takeover.Round(time.Millisecond), ttl, renew)
}
