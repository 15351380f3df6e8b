package ports

import (
	"context"
	"errors"
	"time"

	"github.com/openbackbeat/backbeat/domain"
)

// JobFilter selects jobs; a zero field selects every value.
type JobFilter struct {
	Kind  domain.JobKind
	State domain.JobState
}

// JobStore keeps jobs (their state, counters and checkpoint) where every
// process of the service reads the same ones.
type JobStore interface {
	// CreateJob stores a new job. A job with the same id exists already:
	// an error wrapping ErrConflict, and nothing is written.
	CreateJob(ctx context.Context, j domain.Job) error
	// Job returns one job, or an error wrapping ErrNotFound.
	Job(ctx context.Context, id string) (domain.Job, error)
	// Jobs returns the jobs f selects, newest first (by StartedAt, then
	// id).
	Jobs(ctx context.Context, f JobFilter) ([]domain.Job, error)
	// UpdateJob reads the job, calls update on a copy and, if update
	// returns nil, stores the copy only if the stored job has not changed
	// since it was read (compare-and-swap); on a lost race it reads again
	// and calls update again, so concurrent updaters (a runner saving its
	// progress, an operator cancelling) never lose a change. An error from
	// update aborts without a write and is returned as is. The job's id
	// cannot change. A missing job: an error wrapping ErrNotFound.
	UpdateJob(ctx context.Context, id string, update func(*domain.Job) error) (domain.Job, error)
}

// ErrLockLost says a held lock expired and may be someone else's now:
// whatever it guarded must stop.
var ErrLockLost = errors.New("lock lost")

// RenewableLocker takes named locks that expire unless their holder
// renews them, shared by all processes: a long task holds one for as long
// as it runs, and its lock frees itself when its process dies.
type RenewableLocker interface {
	// TryHold takes name for ttl if nobody holds it; ok is false, with no
	// error, while someone else does.
	TryHold(ctx context.Context, name string, ttl time.Duration) (h HeldLock, ok bool, err error)
}

// HeldLock is one holder's hold on a lock.
type HeldLock interface {
	// Renew extends the hold to ttl from now. Once the lock expired (and
	// whether or not someone took it since) it fails with an error
	// wrapping ErrLockLost and changes nothing.
	Renew(ctx context.Context, ttl time.Duration) error
	// Release frees the lock if this holder still has it; after expiry it
	// does nothing. It is safe to call more than once.
	Release(ctx context.Context) error
}
