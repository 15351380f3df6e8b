package s3site

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves goroutines behind: part
// uploaders, or connections a closed client did not release.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
