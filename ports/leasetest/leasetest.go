// Package leasetest is the contract suite of ports.LeasedCheckpoints, run
// by every adapter of the port:
//
//	leasetest.Run(t, func(t *testing.T) ports.LeasedCheckpoints { return newStore(t) })
//
// Each case uses names of its own and runs in parallel. Expiry cases wait
// for real time to pass: ttls are a few hundred milliseconds.
package leasetest

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	shared "github.com/openbackbeat/backbeat/ports/internal/suite"

	"github.com/openbackbeat/backbeat/ports"
)

const opTimeout = 20 * time.Second

// ttl is the short grant of the expiry cases: they wait for it to pass,
// and a slow store only makes it more surely past. long is the grant that
// must still run when a case checks it, however slow the store (calls to
// the stand-in under a loaded CI machine have taken over a second).
const (
	ttl  = 700 * time.Millisecond
	long = time.Minute
)

// Run checks the ports.LeasedCheckpoints contract.
func Run(t *testing.T, newStore func(t *testing.T) ports.LeasedCheckpoints) {
	t.Helper()
	shared.Run(t, newStore, []shared.Case[ports.LeasedCheckpoints]{
		{Name: "OneHolderAtATime", Fn: testOneHolder},
		{Name: "ExpiryLetsAnotherTakeOver", Fn: testTakeover},
		{Name: "RenewKeepsTheLease", Fn: testRenew},
		{Name: "FencedSaveOfTheHolder", Fn: testFencedSave},
		{Name: "FencedSaveAfterTakeoverIsRefused", Fn: testFencedAfterTakeover},
		{Name: "PausedHolderCannotWriteAfterExpiry", Fn: testPausedHolder},
		{Name: "ReleaseHandsOver", Fn: testRelease},
		{Name: "ConcurrentAcquireElectsOne", Fn: testConcurrentAcquire},
		{Name: "UnfencedSaveKeepsTheLease", Fn: testUnfencedSave},
	})
}

func ctxFor(t *testing.T) context.Context { return shared.Context(t, opTimeout) }

func acquire(t *testing.T, s ports.LeasedCheckpoints, name, owner string) (ports.Grant, bool) {
	t.Helper()
	return acquireFor(t, s, name, owner, ttl)
}

func acquireFor(t *testing.T, s ports.LeasedCheckpoints, name, owner string, d time.Duration) (ports.Grant, bool) {
	t.Helper()
	g, ok, err := s.Acquire(ctxFor(t), name, owner, d)
	if err != nil {
		t.Fatalf("Acquire(%q, %q): %v", name, owner, err)
	}
	if ok && (g.Name != name || g.Owner != owner || g.Epoch <= 0) {
		t.Fatalf("Acquire(%q, %q) granted %+v", name, owner, g)
	}
	return g, ok
}

func mustHold(t *testing.T, s ports.LeasedCheckpoints, name, owner string) ports.Grant {
	t.Helper()
	return mustHoldFor(t, s, name, owner, ttl)
}

func mustHoldFor(t *testing.T, s ports.LeasedCheckpoints, name, owner string, d time.Duration) ports.Grant {
	t.Helper()
	g, ok := acquireFor(t, s, name, owner, d)
	if !ok {
		t.Fatalf("%s could not take the free lease %q", owner, name)
	}
	return g
}

func load(t *testing.T, s ports.LeasedCheckpoints, name string) ports.Position {
	t.Helper()
	p, err := s.Load(ctxFor(t), name)
	if err != nil {
		t.Fatalf("Load(%q): %v", name, err)
	}
	return p
}

func testOneHolder(t *testing.T, s ports.LeasedCheckpoints) {
	name := shared.Unique("lease")
	mustHoldFor(t, s, name, "a", long)
	if _, ok := acquire(t, s, name, "b"); ok {
		t.Fatal("b was granted a lease that a holds")
	}
	if _, ok := acquire(t, s, shared.Unique("other"), "b"); !ok {
		t.Fatal("b could not take another, free name")
	}
}

func testTakeover(t *testing.T, s ports.LeasedCheckpoints) {
	name := shared.Unique("lease")
	a := mustHold(t, s, name, "a")
	time.Sleep(ttl + 200*time.Millisecond)
	b, ok := acquire(t, s, name, "b")
	if !ok {
		t.Fatal("b could not take over an expired lease")
	}
	if b.Epoch <= a.Epoch {
		t.Fatalf("takeover epoch %d is not greater than %d", b.Epoch, a.Epoch)
	}
	if err := s.Renew(ctxFor(t), a, ttl); !errors.Is(err, ports.ErrLeaseLost) {
		t.Fatalf("Renew of the grant taken over: %v, want ErrLeaseLost", err)
	}
}

func testRenew(t *testing.T, s ports.LeasedCheckpoints) {
	// A short grant renewed for long outlives its first expiry.
	name := shared.Unique("lease")
	a := mustHold(t, s, name, "a")
	if err := s.Renew(ctxFor(t), a, long); err != nil {
		t.Fatalf("Renew: %v", err)
	}
	time.Sleep(ttl + 200*time.Millisecond)
	if _, ok := acquire(t, s, name, "b"); ok {
		t.Fatal("b took a lease renewed before it ran out")
	}
	if err := s.Renew(ctxFor(t), a, long); err != nil {
		t.Fatalf("Renew again: %v", err)
	}
}

func testFencedSave(t *testing.T, s ports.LeasedCheckpoints) {
	name := shared.Unique("lease")
	a := mustHold(t, s, name, "a")
	pos := ports.Position{0, 1, 2, 0xff}
	if err := s.SaveFenced(ctxFor(t), a, pos); err != nil {
		t.Fatalf("SaveFenced by the holder: %v", err)
	}
	if got := load(t, s, name); !bytes.Equal(got, pos) {
		t.Fatalf("Load = %x, want %x", got, pos)
	}
}

func testFencedAfterTakeover(t *testing.T, s ports.LeasedCheckpoints) {
	name := shared.Unique("lease")
	a := mustHold(t, s, name, "a")
	if err := s.SaveFenced(ctxFor(t), a, ports.Position{1}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(ttl + 200*time.Millisecond)
	b := mustHoldFor(t, s, name, "b", long)
	if err := s.SaveFenced(ctxFor(t), a, ports.Position{9}); !errors.Is(err, ports.ErrLeaseLost) {
		t.Fatalf("SaveFenced by the fenced holder: %v, want ErrLeaseLost", err)
	}
	if got := load(t, s, name); !bytes.Equal(got, ports.Position{1}) {
		t.Fatalf("after a refused save Load = %x, want 01", got)
	}
	if err := s.SaveFenced(ctxFor(t), b, ports.Position{2}); err != nil {
		t.Fatalf("SaveFenced by the new holder: %v", err)
	}
	if got := load(t, s, name); !bytes.Equal(got, ports.Position{2}) {
		t.Fatalf("Load = %x, want 02", got)
	}
}

func testPausedHolder(t *testing.T, s ports.LeasedCheckpoints) {
	// a stops (a GC pause, SIGSTOP) past its expiry; b takes over; a
	// resumes and tries to go on as if nothing happened.
	name := shared.Unique("lease")
	a := mustHold(t, s, name, "a")
	time.Sleep(ttl + 200*time.Millisecond)
	mustHoldFor(t, s, name, "b", long)
	if err := s.Renew(ctxFor(t), a, ttl); !errors.Is(err, ports.ErrLeaseLost) {
		t.Fatalf("Renew by the resumed holder: %v, want ErrLeaseLost", err)
	}
	if err := s.SaveFenced(ctxFor(t), a, ports.Position{7}); !errors.Is(err, ports.ErrLeaseLost) {
		t.Fatalf("SaveFenced by the resumed holder: %v, want ErrLeaseLost", err)
	}
	if _, ok := acquire(t, s, name, "a"); ok {
		t.Fatal("the resumed holder took the lease back from b's running grant")
	}
}

func testRelease(t *testing.T, s ports.LeasedCheckpoints) {
	name := shared.Unique("lease")
	a := mustHold(t, s, name, "a")
	if err := s.Release(ctxFor(t), a); err != nil {
		t.Fatalf("Release: %v", err)
	}
	b, ok := acquireFor(t, s, name, "b", long)
	if !ok || b.Epoch <= a.Epoch {
		t.Fatalf("after a release b got %+v, %v; want a grant with an epoch above %d", b, ok, a.Epoch)
	}
	if err := s.Release(ctxFor(t), a); err != nil {
		t.Fatalf("Release of a lost grant: %v", err)
	}
	if _, ok := acquire(t, s, name, "c"); ok {
		t.Fatal("releasing a lost grant released the current one")
	}
}

func testConcurrentAcquire(t *testing.T, s ports.LeasedCheckpoints) {
	name := shared.Unique("lease")
	var wg sync.WaitGroup
	var granted atomic.Int32
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, ok, err := s.Acquire(ctxFor(t), name, string(rune('a'+i)), 10*time.Second)
			if err != nil {
				t.Errorf("Acquire: %v", err)
			}
			if ok {
				granted.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := granted.Load(); n != 1 {
		t.Fatalf("%d of 8 concurrent Acquire calls were granted the lease, want 1", n)
	}
}

func testUnfencedSave(t *testing.T, s ports.LeasedCheckpoints) {
	name := shared.Unique("lease")
	a := mustHoldFor(t, s, name, "a", long)
	if err := s.Save(ctxFor(t), name, ports.Position{3}); err != nil {
		t.Fatal(err)
	}
	if _, ok := acquire(t, s, name, "b"); ok {
		t.Fatal("a plain Save dropped the lease")
	}
	if err := s.SaveFenced(ctxFor(t), a, ports.Position{4}); err != nil {
		t.Fatalf("SaveFenced after a plain Save: %v", err)
	}
}
