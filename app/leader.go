package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/openbackbeat/backbeat/ports"
)

// Leadership keeps one process active among several for a named lease:
// the others wait as warm standbys, trying every Renew, and one takes over
// within TTL + Renew of the active one's death. The active one renews
// every Renew and ends its term (cancels the work's context) when it
// cannot renew before its grant runs out, so it stops before a standby may
// take over; the work must also fence its writes with the grant.
type Leadership struct {
	Leases ports.LeasedCheckpoints
	Name   string
	// Owner names this instance (host, pid, a random part): unique.
	Owner      string
	TTL, Renew time.Duration
	Log        *slog.Logger
	// OnRole is told of every change of role (optional): metrics, health.
	OnRole func(active bool, epoch int64)

	state atomic.Pointer[LeaseState]
}

// LeaseState is an instance's role, for health and metrics.
type LeaseState struct {
	Active bool  `json:"active"`
	Epoch  int64 `json:"epoch,omitempty"`
	// Owner is this instance's name.
	Owner string `json:"owner"`
}

// State returns the instance's current role.
func (l *Leadership) State() LeaseState {
	if s := l.state.Load(); s != nil {
		return *s
	}
	return LeaseState{Owner: l.Owner}
}

func (l *Leadership) setRole(active bool, epoch int64) {
	l.state.Store(&LeaseState{Active: active, Epoch: epoch, Owner: l.Owner})
	if l.OnRole != nil {
		l.OnRole(active, epoch)
	}
}

// Term is one grant of the lease, valid until its deadline.
type Term struct {
	Grant    ports.Grant
	deadline atomic.Int64 // Unix ns; work must stop at it
}

// Valid reports whether the term's deadline is still ahead: checked
// before each effect, so that a process resumed after a long stop (a GC
// pause, SIGSTOP) does not act on a grant that ran out meanwhile, even
// before its renewer has noticed.
func (t *Term) Valid() bool { return t == nil || time.Now().UnixNano() < t.deadline.Load() }

// Run waits for the lease and runs work under it, term after term, until
// ctx ends; work gets a context that ends with its term. A term ends when
// the lease is lost (work's error then wraps ports.ErrLeaseLost, or is
// ctx's) and Run goes back to waiting; any other error from work ends Run.
// On the way out Run releases the lease, so a standby takes over at once.
func (l *Leadership) Run(ctx context.Context, work func(ctx context.Context, t *Term) error) error {
	if l.TTL <= 0 || l.Renew <= 0 || l.Renew >= l.TTL {
		return fmt.Errorf("lease %q: renewal every %s must be shorter than the lease's %s", l.Name, l.Renew, l.TTL)
	}
	l.setRole(false, 0)
	tick := time.NewTicker(l.Renew)
	defer tick.Stop()
	for {
		g, ok, err := l.Leases.Acquire(ctx, l.Name, l.Owner, l.TTL)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			l.Log.WarnContext(ctx, "lease: cannot reach the lease store", "lease", l.Name, "err", err)
		case ok:
			l.Log.InfoContext(ctx, "lease taken: active", "lease", l.Name, "owner", l.Owner, "epoch", g.Epoch)
			err := l.term(ctx, g, time.Now(), work)
			l.setRole(false, 0)
			if ctx.Err() != nil {
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
				_ = l.Leases.Release(rctx, g)
				cancel()
				return nil
			}
			if err != nil && !errors.Is(err, ports.ErrLeaseLost) && !errors.Is(err, context.Canceled) {
				return err
			}
			l.Log.WarnContext(ctx, "lease lost: standby", "lease", l.Name, "owner", l.Owner, "epoch", g.Epoch, "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// term runs work for grant g, taken at start, renewing it until work
// returns or the grant is lost.
func (l *Leadership) term(ctx context.Context, g ports.Grant, start time.Time, work func(context.Context, *Term) error) error {
	t := &Term{Grant: g}
	// A grant asked for at start runs out at start+TTL by the store's
	// reckoning; stop a little before, leaving room for clock drift.
	margin := min(l.Renew, l.TTL/5)
	t.deadline.Store(start.Add(l.TTL - margin).UnixNano())
	l.setRole(true, g.Epoch)
	tctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.renew(tctx, t, margin, cancel)
	}()
	err := work(tctx, t)
	cancel(nil)
	<-done
	if cause := context.Cause(tctx); errors.Is(cause, ports.ErrLeaseLost) && ctx.Err() == nil {
		return cause
	}
	return err
}

// renew extends t every Renew and ends the term (cancel) when the grant
// is lost or its deadline passes before a renewal succeeds.
func (l *Leadership) renew(ctx context.Context, t *Term, margin time.Duration, cancel context.CancelCauseFunc) {
	tick := time.NewTicker(l.Renew)
	defer tick.Stop()
	for {
		left := time.Until(time.Unix(0, t.deadline.Load()))
		if left <= 0 {
			cancel(fmt.Errorf("%w: not renewed before the grant ran out", ports.ErrLeaseLost))
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(left):
			continue // the deadline: checked above
		case <-tick.C:
		}
		start := time.Now()
		rctx, rcancel := context.WithDeadline(ctx, time.Unix(0, t.deadline.Load()))
		err := l.Leases.Renew(rctx, t.Grant, l.TTL)
		rcancel()
		switch {
		case err == nil:
			t.deadline.Store(start.Add(l.TTL - margin).UnixNano())
		case errors.Is(err, ports.ErrLeaseLost):
			cancel(err)
			return
		case ctx.Err() == nil:
			l.Log.WarnContext(ctx, "lease: renewal failed; retrying until the grant runs out", "lease", t.Grant.Name, "epoch", t.Grant.Epoch, "err", err)
		}
	}
}
