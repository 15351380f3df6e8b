package domain_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/domain"
)

func TestClassify(t *testing.T) {
	_, _, poisonEntry := domain.DecodeEntry([]byte(`{`))
	tests := []struct {
		name string
		err  error
		want domain.ErrorClass
	}{
		{"nil", nil, domain.Transient},
		{"unknown error", errors.New("connection reset"), domain.Transient},
		{"deadline", context.DeadlineExceeded, domain.Transient},
		{"wrapped unknown", fmt.Errorf("put object: %w", errors.New("503 SlowDown")), domain.Transient},
		{"poison", domain.ErrPoison, domain.Poison},
		{"wrapped poison", fmt.Errorf("decode: %w", domain.ErrPoison), domain.Poison},
		{"twice wrapped poison", fmt.Errorf("consume: %w", fmt.Errorf("decode: %w", domain.ErrPoison)), domain.Poison},
		{"entry decode error", poisonEntry, domain.Poison},
		{"permanent", domain.ErrPermanent, domain.Permanent},
		{"wrapped permanent", fmt.Errorf("AccessDenied: %w", domain.ErrPermanent), domain.Permanent},
		{"twice wrapped permanent", fmt.Errorf("site a: %w", fmt.Errorf("NoSuchBucket: %w", domain.ErrPermanent)), domain.Permanent},
		{"joined permanent", errors.Join(errors.New("x"), domain.ErrPermanent), domain.Permanent},
		{"poison beats permanent", fmt.Errorf("%w and %w", domain.ErrPermanent, domain.ErrPoison), domain.Poison},
		{"text alone is not a class", errors.New(domain.ErrPermanent.Error()), domain.Transient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := domain.Classify(tt.err); got != tt.want {
				t.Errorf("Classify(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestErrorClassString(t *testing.T) {
	for c, want := range map[domain.ErrorClass]string{domain.Transient: "transient", domain.Permanent: "permanent", domain.Poison: "poison"} {
		if got := c.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", c, got, want)
		}
	}
}

func TestRetryPolicyDelay(t *testing.T) {
	p := domain.RetryPolicy{BaseDelay: 100 * time.Millisecond, MaxDelay: 3 * time.Second}
	const samples = 4000
	prevMean := time.Duration(-1)
	for attempt := 1; attempt <= 10; attempt++ {
		ceiling := min(p.MaxDelay, p.BaseDelay<<(attempt-1))
		var sum, maxSeen time.Duration
		for range samples {
			d := p.Delay(attempt)
			if d < 0 || d >= ceiling {
				t.Fatalf("Delay(%d) = %v, outside [0, %v)", attempt, d, ceiling)
			}
			sum += d
			maxSeen = max(maxSeen, d)
		}
		mean := sum / samples
		// Full jitter is uniform over [0, ceiling): its mean is ceiling/2.
		if mean < ceiling*4/10 || mean > ceiling*6/10 {
			t.Errorf("Delay(%d) mean %v, want about %v", attempt, mean, ceiling/2)
		}
		if maxSeen < ceiling*9/10 {
			t.Errorf("Delay(%d) never came near its ceiling %v (max %v)", attempt, ceiling, maxSeen)
		}
		if ceiling < p.MaxDelay && mean <= prevMean {
			t.Errorf("Delay(%d) mean %v did not grow from %v", attempt, mean, prevMean)
		}
		prevMean = mean
	}
}

func TestRetryPolicyDelayEdges(t *testing.T) {
	tests := []struct {
		name    string
		p       domain.RetryPolicy
		attempt int
		ceiling time.Duration // 0: the delay must be 0
	}{
		{"no base delay", domain.RetryPolicy{MaxDelay: time.Second}, 5, 0},
		{"no max delay", domain.RetryPolicy{BaseDelay: time.Second}, 5, 0},
		{"attempt 0 is like the first retry", domain.RetryPolicy{BaseDelay: time.Second, MaxDelay: time.Minute}, 0, time.Second},
		{"negative attempt", domain.RetryPolicy{BaseDelay: time.Second, MaxDelay: time.Minute}, -3, time.Second},
		{"base above max is capped", domain.RetryPolicy{BaseDelay: time.Hour, MaxDelay: time.Second}, 1, time.Second},
		{"huge attempt does not overflow", domain.RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: time.Minute}, 1 << 30, time.Minute},
		{"default policy first retry", domain.DefaultRetryPolicy, 1, domain.DefaultRetryPolicy.BaseDelay},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 500 {
				d := tt.p.Delay(tt.attempt)
				if tt.ceiling == 0 && d != 0 || tt.ceiling > 0 && (d < 0 || d >= tt.ceiling) {
					t.Fatalf("Delay(%d) = %v, want within [0, %v)", tt.attempt, d, tt.ceiling)
				}
			}
		})
	}
}

func TestRetryPolicyShouldRetry(t *testing.T) {
	p := domain.RetryPolicy{MaxAttempts: 3, MaxElapsed: time.Minute, BaseDelay: time.Millisecond, MaxDelay: time.Second}
	transient := errors.New("timeout")
	tests := []struct {
		name     string
		p        domain.RetryPolicy
		err      error
		attempts int
		elapsed  time.Duration
		want     bool
	}{
		{"no error", p, nil, 1, 0, false},
		{"transient, first attempt", p, transient, 1, 0, true},
		{"transient, below the attempt limit", p, transient, 2, 59 * time.Second, true},
		{"attempts used up", p, transient, 3, 0, false},
		{"attempts over the limit", p, transient, 4, 0, false},
		{"time used up", p, transient, 1, time.Minute, false},
		{"time over", p, transient, 1, time.Hour, false},
		{"permanent", p, fmt.Errorf("403: %w", domain.ErrPermanent), 1, 0, false},
		{"poison", p, fmt.Errorf("decode: %w", domain.ErrPoison), 1, 0, false},
		{"no attempt limit", domain.RetryPolicy{MaxElapsed: time.Minute}, transient, 1000, 0, true},
		{"no time limit", domain.RetryPolicy{MaxAttempts: 3}, transient, 1, 1000 * time.Hour, true},
		{"no limits", domain.RetryPolicy{}, transient, 1 << 20, 1 << 50, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.ShouldRetry(tt.err, tt.attempts, tt.elapsed); got != tt.want {
				t.Errorf("ShouldRetry(%v, %d, %v) = %v, want %v", tt.err, tt.attempts, tt.elapsed, got, tt.want)
			}
		})
	}
}

func TestDefaultRetryPolicy(t *testing.T) {
	p := domain.DefaultRetryPolicy
	if p.MaxAttempts <= 1 || p.MaxElapsed <= 0 || p.BaseDelay <= 0 || p.MaxDelay < p.BaseDelay {
		t.Errorf("DefaultRetryPolicy = %+v is not a usable policy", p)
	}
	if !p.ShouldRetry(errors.New("x"), 1, 0) {
		t.Error("DefaultRetryPolicy does not retry a transient error")
	}
}
