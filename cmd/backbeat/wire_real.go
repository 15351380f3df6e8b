package main

import (
	"context"
	"fmt"
	"log/slog"
)

// wireReal builds every port on the real services the configuration names.
func wireReal(ctx context.Context, cfg Config, log *slog.Logger) (*wiring, error) {
	return nil, fmt.Errorf("real backend: not wired yet")
}
