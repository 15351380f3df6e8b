package app_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves goroutines behind: every
// role must stop when its context ends.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
