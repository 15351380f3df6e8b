package e2e

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/domain"
)

// completions reads site's completion count through the API (-1 on error).
func (e *Env) completions(ctx context.Context, site string) int64 {
	m, err := e.API.SiteMetric(ctx, site, "completions")
	if err != nil || m.Completions == nil {
		return -1
	}
	return m.Completions.Results.Count.Int64()
}

// Scenario 14: elastic replicators. During a load, a second and a third
// replicator process join site-a's consumer group, then one leaves with
// SIGTERM and one is killed with SIGKILL. Nothing is lost or duplicated,
// and the longest time without a completion at site-a, measured while
// work was waiting, stays under 5 s.
func TestElasticReplicators(t *testing.T) {
	parallel(t)
	// A SIGKILLed member's partitions wait for its session to time out: 2 s
	// here (heartbeats every 500 ms), so that gap is bounded too.
	e := newEnv(t, "BACKBEAT_KAFKA_SESSIONTIMEOUT=2s", "BACKBEAT_KAFKA_HEARTBEATINTERVAL=500ms")
	r := e.StartRoles()
	ctx := context.Background()
	b := e.Bucket("elastic")
	n, rate := pick(400, 5000), pick(40.0, 100.0)
	loadTime := time.Duration(float64(n) / rate * float64(time.Second))
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	loading := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(loading)
		e.load(ctx, []domain.Bucket{b}, n, 512, rate)
	}()

	// Watch completions at site-a: the longest stretch without one while
	// the load runs, before and after the SIGKILL.
	var maxGap, killGap time.Duration
	var killedAt atomic.Int64
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		last, lastAt := e.completions(ctx, "site-a"), time.Now()
		for {
			select {
			case <-loading:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if c := e.completions(ctx, "site-a"); c > last {
				if k := killedAt.Load(); k != 0 && lastAt.UnixNano() >= k {
					killGap = max(killGap, time.Since(lastAt))
				} else {
					maxGap = max(maxGap, time.Since(lastAt))
				}
				last, lastAt = c, time.Now()
			}
		}
	}()

	step := loadTime / 5
	time.Sleep(step)
	second := e.Start("replicator-site-a-2", "replicator", "--site", "site-a")
	time.Sleep(step)
	e.Start("replicator-site-a-3", "replicator", "--site", "site-a")
	time.Sleep(step)
	if err := second.Stop(20 * time.Second); err != nil {
		t.Errorf("the second replicator did not stop cleanly: %v", err)
	}
	time.Sleep(step)
	killedAt.Store(time.Now().UnixNano())
	r.Replicators["site-a"].Kill()
	<-watchDone
	wg.Wait()
	e.WaitDone(e.Ledger.All(), pick(3*time.Minute, 10*time.Minute))
	e.Verify()
	fmt.Printf("SCENARIO %s: elastic max-completion-gap=%.2f after-sigkill-gap=%.2f\n", t.Name(), maxGap.Seconds(), killGap.Seconds())
	t.Logf("longest gap between completions at site-a while replicators joined and one left: %s; after the SIGKILL: %s", maxGap.Round(time.Millisecond), killGap.Round(time.Millisecond))
	if maxGap > 5*time.Second {
		t.Errorf("completions at site-a stopped for %s while replicators joined and left, want under 5 s", maxGap.Round(time.Millisecond))
	}
	if killGap > 5*time.Second {
		t.Errorf("completions at site-a stopped for %s after a replicator's SIGKILL, want under 5 s (kafka.sessionTimeout 2 s)", killGap.Round(time.Millisecond))
	}
}
