package mongojournal

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves a goroutine behind: the
// cursor runs none of its own, and closing journals must stop the driver's.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
