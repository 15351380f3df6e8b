package memory_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves a goroutine behind: every
// subscription and watch must end with its context or Close.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
