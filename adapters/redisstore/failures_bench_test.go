package redisstore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/ports"
)

// BenchmarkFailuresRemove unlists versions that were never listed, as the
// status applier does for every COMPLETED outcome: every hour of the
// retention window is looked in.
func BenchmarkFailuresRemove(b *testing.B) {
	f := newEnv(b).store(b).Failures()
	i := 0
	for b.Loop() {
		i++
		if _, err := f.Remove(b.Context(), ports.FailedEntry{Site: "site-a", Bucket: "b", Key: fmt.Sprint("k", i), VersionID: "v", FailedAt: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
}
