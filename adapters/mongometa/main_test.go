package mongometa_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves a goroutine behind:
// closing a store must stop the driver's.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
