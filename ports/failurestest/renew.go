package failurestest

import (
	"errors"
	"sync"
	"testing"
	"time"

	shared "github.com/openbackbeat/backbeat/ports/internal/suite"

	"github.com/openbackbeat/backbeat/ports"
)

// RunRenewableLocker checks the ports.RenewableLocker contract. newLocker
// is called once per case and registers its own cleanup with t.
func RunRenewableLocker(t *testing.T, newLocker func(t *testing.T) ports.RenewableLocker) {
	t.Helper()
	shared.Run(t, newLocker, []shared.Case[ports.RenewableLocker]{
		{Name: "HeldLockRefused", Fn: testHoldHeld},
		{Name: "ReleaseFrees", Fn: testHoldRelease},
		{Name: "RenewKeepsIt", Fn: testHoldRenew},
		{Name: "ExpiredHoldCannotRenew", Fn: testHoldExpiredRenew},
		{Name: "StaleReleaseKeepsNewHolder", Fn: testHoldStaleRelease},
		{Name: "OneWinnerAmongMany", Fn: testHoldOneWinner},
	})
}

func tryHold(t *testing.T, l ports.RenewableLocker, name string, ttl time.Duration) (ports.HeldLock, bool) {
	t.Helper()
	h, ok, err := l.TryHold(ctxFor(t), name, ttl)
	if err != nil {
		t.Fatalf("TryHold(%q): %v", name, err)
	}
	if ok && h == nil {
		t.Fatalf("TryHold(%q) succeeded with a nil hold", name)
	}
	return h, ok
}

func mustHold(t *testing.T, l ports.RenewableLocker, name string, ttl time.Duration) ports.HeldLock {
	t.Helper()
	h, ok := tryHold(t, l, name, ttl)
	if !ok {
		t.Fatalf("TryHold(%q) of a free lock failed", name)
	}
	return h
}

func release(t *testing.T, h ports.HeldLock) {
	t.Helper()
	if err := h.Release(ctxFor(t)); err != nil {
		t.Fatalf("Release: %v", err)
	}
}

func testHoldHeld(t *testing.T, l ports.RenewableLocker) {
	name := unique("hold")
	h := mustHold(t, l, name, time.Minute)
	defer release(t, h)
	if _, ok := tryHold(t, l, name, time.Minute); ok {
		t.Fatal("TryHold of a held lock succeeded")
	}
	release(t, mustHold(t, l, unique("hold"), time.Minute))
}

func testHoldRelease(t *testing.T, l ports.RenewableLocker) {
	name := unique("hold")
	h := mustHold(t, l, name, time.Minute)
	release(t, h)
	release(t, h) // twice is harmless
	if err := h.Renew(ctxFor(t), time.Minute); !errors.Is(err, ports.ErrLockLost) {
		t.Fatalf("Renew after Release: %v, want ErrLockLost", err)
	}
	release(t, mustHold(t, l, name, time.Minute))
}

func testHoldRenew(t *testing.T, l ports.RenewableLocker) {
	name := unique("hold")
	h := mustHold(t, l, name, 400*time.Millisecond)
	defer release(t, h)
	// Renewed every 100 ms for well past its first ttl, it stays held.
	for end := time.Now().Add(time.Second); time.Now().Before(end); {
		if err := h.Renew(ctxFor(t), 400*time.Millisecond); err != nil {
			t.Fatalf("Renew: %v", err)
		}
		if _, ok := tryHold(t, l, name, time.Minute); ok {
			t.Fatal("a renewed lock was taken by someone else")
		}
		time.Sleep(100 * time.Millisecond) // the renewal period under test
	}
}

func testHoldExpiredRenew(t *testing.T, l ports.RenewableLocker) {
	name := unique("hold")
	h := mustHold(t, l, name, 150*time.Millisecond)
	time.Sleep(400 * time.Millisecond) // past its ttl
	if err := h.Renew(ctxFor(t), time.Minute); !errors.Is(err, ports.ErrLockLost) {
		t.Fatalf("Renew after expiry: %v, want ErrLockLost", err)
	}
	next := mustHold(t, l, name, time.Minute)
	defer release(t, next)
	if err := h.Renew(ctxFor(t), time.Minute); !errors.Is(err, ports.ErrLockLost) {
		t.Fatalf("Renew of a lock someone else took: %v, want ErrLockLost", err)
	}
}

func testHoldStaleRelease(t *testing.T, l ports.RenewableLocker) {
	name := unique("hold")
	stale := mustHold(t, l, name, 150*time.Millisecond)
	deadline := time.Now().Add(20 * time.Second)
	var next ports.HeldLock
	for {
		h, ok := tryHold(t, l, name, time.Minute)
		if ok {
			next = h
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("lock still held 20 s after its ttl")
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
	defer release(t, next)
	release(t, stale)
	if _, ok := tryHold(t, l, name, time.Minute); ok {
		t.Fatal("a stale release freed the next holder's lock")
	}
	if err := next.Renew(ctxFor(t), time.Minute); err != nil {
		t.Fatalf("the next holder's Renew after a stale release: %v", err)
	}
}

func testHoldOneWinner(t *testing.T, l ports.RenewableLocker) {
	const n = 20
	name := unique("hold")
	var wg sync.WaitGroup
	var mu sync.Mutex
	var winners []ports.HeldLock
	ctx := ctxFor(t)
	for range n {
		wg.Go(func() {
			h, ok, err := l.TryHold(ctx, name, time.Minute)
			if err != nil {
				t.Errorf("TryHold: %v", err)
			}
			if ok {
				mu.Lock()
				winners = append(winners, h)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(winners) != 1 {
		t.Fatalf("%d of %d concurrent TryHold calls took the lock, want exactly 1", len(winners), n)
	}
	release(t, winners[0])
}
