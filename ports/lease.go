package ports

import (
	"context"
	"errors"
	"time"
)

// ErrLeaseLost says a lease grant is no longer the current one: it ran out
// and another owner took the lease, or it was released. Whatever the grant
// guarded must stop; nothing was written.
var ErrLeaseLost = errors.New("lease lost")

// Grant is one owner's hold on a lease. Epoch grows with every grant of
// the lease's name, so a later holder always has a greater one; it is the
// fencing token writes are checked against.
type Grant struct {
	Name, Owner string
	Epoch       int64
}

// LeasedCheckpoints elects one holder per checkpoint name among processes
// and fences that holder's checkpoint writes: the lease is stored with the
// checkpoint it guards, so SaveFenced and a takeover cannot interleave. An
// expired grant that nobody took over may still be renewed; expiry is
// judged by the callers' clocks, which must agree to well within the ttl.
type LeasedCheckpoints interface {
	Checkpoints
	// Acquire grants name to owner for ttl when nobody holds it or its
	// holder's time ran out (a takeover), with an epoch greater than every
	// earlier grant's. ok is false, with no error, while another owner's
	// grant runs.
	Acquire(ctx context.Context, name, owner string, ttl time.Duration) (g Grant, ok bool, err error)
	// Renew extends g by ttl from now, or fails with ErrLeaseLost.
	Renew(ctx context.Context, g Grant, ttl time.Duration) error
	// Release ends g now, so that a standby takes over at once; releasing
	// a lost grant is not an error.
	Release(ctx context.Context, g Grant) error
	// SaveFenced is Save, done only while g is the current grant of g.Name,
	// atomically with that check; else ErrLeaseLost and nothing is saved.
	SaveFenced(ctx context.Context, g Grant, pos Position) error
}
