package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/adapters/kafkabus"
	"github.com/openbackbeat/backbeat/app"
	"github.com/openbackbeat/backbeat/domain"
)

// leaseTTL is the populators' lease in the e2e environment (newEnv).
const leaseTTL = 6 * time.Second

// leaseEpoch returns the epoch of the last lease p's log says it took, or 0.
func leaseEpoch(p *Proc) int64 {
	data, err := os.ReadFile(p.logPath)
	if err != nil {
		return 0
	}
	var epoch int64
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.Contains(line, `"lease taken: active"`) {
			continue
		}
		var rec struct {
			Epoch int64 `json:"epoch"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Epoch > epoch {
			epoch = rec.Epoch
		}
	}
	return epoch
}

// activePopulator waits for one of ps to take a lease with an epoch above
// after, and returns it with its epoch.
func activePopulator(t *testing.T, ps []*Proc, after int64, timeout time.Duration) (*Proc, int64) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, p := range ps {
			if e := leaseEpoch(p); e > after {
				return p, e
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no populator took the lease above epoch %d within %s", after, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// signalProc sends sig to p's process.
func signalProc(p *Proc, sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(sig)
	}
}

// Scenario 13: populator failover. Two populators run; the active one is
// killed three times during load (and restarted as a standby), then
// frozen with SIGSTOP past its lease and resumed. Each takeover happens
// within the lease + 2 s; in every partition of the entries topic the
// publishers' epochs never go down, so a fenced populator published
// nothing after its successor began; nothing is lost or duplicated.
func TestPopulatorFailover(t *testing.T) {
	parallel(t)
	e := newEnv(t)
	r := e.StartRoles()
	standby := e.Start("populator-2", "populator")
	pops := []*Proc{r.Populator, standby}
	active, epoch := activePopulator(t, pops, 0, 10*time.Second)

	ctx := context.Background()
	b := e.Bucket("failover")
	n, rate := pick(300, 2000), pick(30.0, 100.0)
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	wg.Add(1)
	go func() {
		defer wg.Done()
		e.load(ctx, []domain.Bucket{b}, n, 512, rate)
	}()

	loadTime := time.Duration(float64(n) / rate * float64(time.Second))
	var gaps []time.Duration
	takeover := func(what string, at time.Time) {
		next, e2 := activePopulator(t, pops, epoch, leaseTTL+10*time.Second)
		gap := time.Since(at)
		t.Logf("%s %s (epoch %d): %s took over at epoch %d after %s", what, active.Name, epoch, next.Name, e2, gap.Round(time.Millisecond))
		gaps = append(gaps, gap)
		active, epoch = next, e2
	}
	for range 3 {
		time.Sleep(loadTime / 5)
		victim := active
		at := time.Now()
		victim.Kill()
		takeover("killed", at)
		if err := victim.Start(); err != nil { // back as a standby
			t.Fatal(err)
		}
	}
	time.Sleep(loadTime / 10)
	frozen := active
	at := time.Now()
	signalProc(frozen, syscall.SIGSTOP)
	takeover("froze", at)
	time.Sleep(time.Second)
	signalProc(frozen, syscall.SIGCONT)

	wg.Wait()
	e.WaitDone(e.Ledger.All(), pick(3*time.Minute, 10*time.Minute))
	e.Verify()

	maxGap := time.Duration(0)
	for _, g := range gaps {
		maxGap = max(maxGap, g)
		if g > leaseTTL+2*time.Second {
			t.Errorf("a takeover took %s, over the lease (%s) + 2 s", g.Round(time.Millisecond), leaseTTL)
		}
	}
	fmt.Printf("SCENARIO %s: failover takeovers=%d max-gap=%.2f\n", t.Name(), len(gaps), maxGap.Seconds())
	t.Logf("failover takeovers=%d max-gap=%.2f", len(gaps), maxGap.Seconds())
	e.checkEpochsNeverGoDown(len(e.Ledger.All()))
}

// checkEpochsNeverGoDown reads the entries topic from its start and fails
// the test when an entry of a lower populator epoch follows one of a
// higher epoch in a partition: a fenced populator went on publishing.
func (e *Env) checkEpochsNeverGoDown(atLeast int) {
	e.t.Helper()
	sub, err := kafkabus.NewSubscriber(kafkabus.Config{Brokers: []string{kafkaBroker}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		e.t.Fatal(err)
	}
	defer sub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ch, err := sub.Subscribe(ctx, e.Topics.Entries, e.Run+"-epoch-reader-"+randomHex(2))
	if err != nil {
		e.t.Fatal(err)
	}
	highest := map[int32]string{}
	seen, regressions := 0, 0
	idle := time.NewTimer(5 * time.Second)
	defer idle.Stop()
	for {
		select {
		case <-ctx.Done():
			e.t.Fatalf("read %d entries, want at least %d: %v", seen, atLeast, ctx.Err())
		case <-idle.C:
			if seen < atLeast {
				e.t.Fatalf("read %d entries, want at least %d", seen, atLeast)
			}
			if regressions > 0 {
				e.t.Errorf("%d entries were published by a populator whose lease had passed to another", regressions)
			}
			e.t.Logf("%d entries: populator epochs never go down in any partition", seen)
			return
		case d := <-ch:
			d.Ack()
			seen++
			ep := d.Headers[app.EpochHeader]
			if len(ep) < len(highest[d.Partition]) || (len(ep) == len(highest[d.Partition]) && ep < highest[d.Partition]) {
				regressions++
				e.t.Logf("partition %d offset %d: epoch %s after %s", d.Partition, d.Offset, ep, highest[d.Partition])
			} else {
				highest[d.Partition] = ep
			}
			idle.Reset(5 * time.Second)
		}
	}
}
