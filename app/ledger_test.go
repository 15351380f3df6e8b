package app

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/ports"
)

func TestLedgerAcksOnlyAFinishedPrefix(t *testing.T) {
	var mu sync.Mutex
	var acked []int64
	mk := func(p int32, off int64) *ports.Delivery {
		return ports.NewDelivery(ports.Message{}, p, off, func() { mu.Lock(); acked = append(acked, int64(p)*100+off); mu.Unlock() })
	}
	l := NewLedger()
	d := []*ports.Delivery{mk(0, 1), mk(0, 2), mk(0, 3), mk(1, 1)}
	for _, x := range d {
		l.Track(x)
	}
	steps := []struct {
		done *ports.Delivery
		want []int64
	}{
		{d[2], nil},                   // offset 3 done, 1 and 2 are not: nothing acked
		{d[3], []int64{101}},          // other partition is independent
		{d[1], []int64{101}},          // still waiting for offset 1
		{d[0], []int64{101, 1, 2, 3}}, // prefix complete: acked in order
	}
	for i, s := range steps {
		l.Done(s.done)
		mu.Lock()
		got := slices.Clone(acked)
		mu.Unlock()
		if !slices.Equal(got, s.want) {
			t.Fatalf("step %d: acked %v, want %v", i, got, s.want)
		}
	}
	if n := l.Outstanding(); n != 0 {
		t.Fatalf("outstanding = %d, want 0", n)
	}
}

func TestKeyedRunnerSerialisesAKeyAndRunsKeysConcurrently(t *testing.T) {
	r := NewKeyedRunner(4)
	var mu sync.Mutex
	var order []string
	release := make(chan struct{})
	var running atomic.Int32
	var peak atomic.Int32
	job := func(name string, block bool) func() {
		return func() {
			n := running.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			if block {
				<-release
			}
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			running.Add(-1)
		}
	}
	r.Submit("k1", "k1-v1", job("k1-v1", true))
	r.Submit("k1", "k1-v2", job("k1-v2", false))
	r.Submit("k1", "k1-v3", job("k1-v3", false))
	r.Submit("k2", "k2-v1", job("k2-v1", true))
	if r.Submit("k1", "k1-v2", job("dup", false)) {
		t.Fatal("an entry identical to one queued was accepted")
	}
	deadline := time.Now().Add(5 * time.Second)
	for peak.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if peak.Load() < 2 {
		t.Fatal("different keys did not run concurrently")
	}
	close(release)
	r.Wait()
	var k1 []string
	for _, n := range order {
		if n != "k2-v1" {
			k1 = append(k1, n)
		}
	}
	if !slices.Equal(k1, []string{"k1-v1", "k1-v2", "k1-v3"}) {
		t.Fatalf("key k1 ran in order %v, want FIFO", k1)
	}
	if !r.Submit("k1", "k1-v2", func() {}) {
		t.Fatal("an id that finished could not run again")
	}
	r.Wait()
}

func TestGatePausesAndResumes(t *testing.T) {
	g := NewGate()
	if err := g.Wait(context.Background()); err != nil {
		t.Fatalf("open gate: %v", err)
	}
	g.Set(true)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := g.Wait(ctx); err == nil {
		t.Fatal("paused gate let a consumer through")
	}
	done := make(chan error, 1)
	go func() { done <- g.Wait(context.Background()) }()
	g.Set(false)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("resumed gate did not release its waiter")
	}
}
