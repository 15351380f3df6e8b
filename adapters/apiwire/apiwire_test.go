package apiwire_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/adapters/apiwire"
)

// TestEncoding pins what the client sends and how the embedded entry
// encodes: members in order, the optional ones left out when zero.
func TestEncoding(t *testing.T) {
	t.Parallel()
	since := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, c := range []struct {
		name string
		v    any
		want string
	}{
		{"empty backfill request", apiwire.BackfillRequest{}, `{"bucket":""}`},
		{"backfill request", apiwire.BackfillRequest{Bucket: "b", Prefix: "p", Sites: []string{"s"}, IncludeFailed: true, DryRun: true, Rate: 3},
			`{"bucket":"b","prefix":"p","sites":["s"],"includeFailed":true,"dryRun":true,"rate":3}`},
		{"backfill request of pending versions", apiwire.BackfillRequest{Bucket: "b", IncludePending: true, ModifiedSince: since},
			`{"bucket":"b","includePending":true,"modifiedSince":"2030-01-02T03:04:05Z"}`},
		{"empty verify request", apiwire.VerifyRequest{}, `{"bucket":""}`},
		{"verify request", apiwire.VerifyRequest{Bucket: "b", Prefix: "p", Sites: []string{"s"}, Repair: true},
			`{"bucket":"b","prefix":"p","sites":["s"],"repair":true}`},
		{"metric of now", apiwire.Metric[int64]{Description: "d"}, `{"description":"d","results":{"count":0,"size":0}}`},
		{"metric over a window", apiwire.Metric[string]{Description: "d", Results: apiwire.Results[string]{Count: "1.00", Size: "2.00"}, WindowSeconds: 900},
			`{"description":"d","results":{"count":"1.00","size":"2.00"},"windowSeconds":900}`},
		{"retry entry", apiwire.RetryEntry{Bucket: "b", Key: "k", VersionID: "v", StorageClass: "s"},
			`{"Bucket":"b","Key":"k","VersionId":"v","StorageClass":"s"}`},
		{"failed version", apiwire.FailedVersion{VersionEntry: apiwire.VersionEntry{Bucket: "b", Key: "k", VersionID: "v", StorageClass: "s", Size: 1, LastModified: "t"}},
			`{"Bucket":"b","Key":"k","VersionId":"v","StorageClass":"s","Size":1,"LastModified":"t"}`},
		{"retried version", apiwire.RetriedVersion{VersionEntry: apiwire.VersionEntry{Bucket: "b"}, ReplicationStatus: "PENDING"},
			`{"Bucket":"b","Key":"","VersionId":"","StorageClass":"","Size":0,"LastModified":"","ReplicationStatus":"PENDING"}`},
	} {
		b, err := json.Marshal(c.v)
		if err != nil || string(b) != c.want {
			t.Errorf("%s: %s, %v; want %s", c.name, b, err, c.want)
		}
	}
}

func TestJobs(t *testing.T) {
	t.Parallel()
	for state, want := range map[string]bool{"": false, apiwire.JobRunning: false, apiwire.JobDone: true, apiwire.JobCancelled: true, apiwire.JobFailed: true} {
		if got := (apiwire.BackfillJob{State: state}).Finished(); got != want {
			t.Errorf("backfill job %q finished: %v", state, got)
		}
		if got := (apiwire.VerifyJob{State: state}).Finished(); got != want {
			t.Errorf("verify job %q finished: %v", state, got)
		}
	}
	if n := (apiwire.BackfillJob{Skipped: map[string]int64{"a": 2, "b": 3}}).SkippedTotal(); n != 5 {
		t.Errorf("SkippedTotal = %d, want 5", n)
	}
	if n := (apiwire.VerifyJob{ByKind: map[string]int64{"missing": 2, "tags": 3, "extra": 4}}).DriftIgnoring("tags", "extra"); n != 2 {
		t.Errorf("DriftIgnoring = %d, want 2", n)
	}
}
