package domain

import (
	"errors"
	"math/rand/v2"
	"time"
)

// ErrorClass tells the pipeline what to do with an error.
type ErrorClass int

// Error classes. Transient errors are retried with backoff; permanent ones
// fail the site at once with the reason; poison input goes to the
// dead-letter topic.
const (
	Transient ErrorClass = iota
	Permanent
	Poison
)

func (c ErrorClass) String() string {
	switch c {
	case Permanent:
		return "permanent"
	case Poison:
		return "poison"
	}
	return "transient"
}

// ErrPermanent marks errors that retrying cannot fix (access denied, missing
// bucket, bad role, replication disabled).
var ErrPermanent = errors.New("permanent error")

// Classify returns the class of err. Errors wrapping ErrPoison or
// ErrPermanent are classified so; anything else is presumed transient, so
// an unknown failure is retried before it is given up on, never dropped.
func Classify(err error) ErrorClass {
	switch {
	case errors.Is(err, ErrPoison):
		return Poison
	case errors.Is(err, ErrPermanent):
		return Permanent
	}
	return Transient
}

// RetryPolicy is exponential backoff with full jitter, bounded by a number
// of attempts and by the time elapsed since the first attempt.
type RetryPolicy struct {
	MaxAttempts int
	MaxElapsed  time.Duration
	BaseDelay   time.Duration
	MaxDelay    time.Duration
}

// DefaultRetryPolicy mirrors upstream's scality defaults (5 retries, 300 s),
// with a shorter first delay.
var DefaultRetryPolicy = RetryPolicy{MaxAttempts: 6, MaxElapsed: 5 * time.Minute, BaseDelay: 100 * time.Millisecond, MaxDelay: 30 * time.Second}

// Delay is the wait before retry number attempt (1 for the first retry):
// a uniformly random duration in [0, min(MaxDelay, BaseDelay*2^(attempt-1))).
func (p RetryPolicy) Delay(attempt int) time.Duration {
	ceiling := p.BaseDelay
	for i := 1; i < attempt && ceiling < p.MaxDelay; i++ {
		ceiling *= 2
	}
	if ceiling > p.MaxDelay {
		ceiling = p.MaxDelay
	}
	if ceiling <= 0 {
		return 0
	}
	return rand.N(ceiling)
}

// ShouldRetry reports whether err, met after `attempts` attempts and
// `elapsed` time, deserves another attempt.
func (p RetryPolicy) ShouldRetry(err error, attempts int, elapsed time.Duration) bool {
	if err == nil || Classify(err) != Transient {
		return false
	}
	if p.MaxAttempts > 0 && attempts >= p.MaxAttempts {
		return false
	}
	if p.MaxElapsed > 0 && elapsed >= p.MaxElapsed {
		return false
	}
	return true
}
