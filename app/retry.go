package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/openbackbeat/backbeat/domain"
)

// retryForever retries fn with capped backoff until it succeeds, fails
// with an error that retrying cannot fix (returned as is), or ctx ends. It
// serves effects that must happen (a status write, a publish) where giving
// up on a transient failure would lose work.
func retryForever(ctx context.Context, fn func() error, log *slog.Logger, what string) error {
	delay := 50 * time.Millisecond
	for {
		err := fn()
		if err == nil || domain.Classify(err) != domain.Transient {
			return err
		}
		log.WarnContext(ctx, "retrying", "what", what, "err", err, "in", delay)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (last error: %v)", what, ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(delay*2, 5*time.Second)
	}
}
