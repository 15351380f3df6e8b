package main

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves goroutines behind: every
// role, client and exporter the binary starts must stop on shutdown.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// go-metrics (Sarama's metrics library) starts one package-level
		// ticker goroutine for meters, on first use, that never ends.
		goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"),
	)
}

// must is v, for a constructor that cannot fail in a test's wiring; it
// stops the test binary when it does.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
