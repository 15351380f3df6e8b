package ctl

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/adapters/apiclient"
)

// TestBarView checks the terminal bar both kinds of job share: nothing
// until the job has counted its versions, then the counts and the kind's
// description, ending on a new line with the job.
func TestBarView(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	v := &barView[apiclient.VerifyJob]{out: &out, p: verifyProgress}
	v.update(apiclient.VerifyJob{State: apiclient.JobRunning})
	if out.Len() != 0 {
		t.Fatalf("a bar before the count: %q", out.String())
	}
	v.update(apiclient.VerifyJob{State: apiclient.JobRunning, Scanned: 5, Total: 10, Compared: 4})
	v.update(apiclient.VerifyJob{State: apiclient.JobDone, Scanned: 10, Total: 10, Compared: 9, Drift: 2})
	v.close()
	got := out.String()
	if !strings.Contains(got, "10/10") || !strings.Contains(got, "compared 9, findings 2") || !strings.HasSuffix(got, "\n") {
		t.Fatalf("bar output %q", got)
	}
}

func TestRateAndETA(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		elapsed      time.Duration
		walked, left int64
		finished     bool
		want         string
	}{
		{500 * time.Millisecond, 10, 10, false, ""},
		{2 * time.Second, 0, 10, false, ""},
		{2 * time.Second, 20, 50, false, ", 10 versions/s, ETA 5s"},
		{2 * time.Second, 20, 50, true, ", 10 versions/s"},
		{2 * time.Second, 20, 0, false, ", 10 versions/s"},
	} {
		if got := rateAndETA(c.elapsed, c.walked, c.left, c.finished); got != c.want {
			t.Errorf("rateAndETA(%s, %d, %d, %v) = %q, want %q", c.elapsed, c.walked, c.left, c.finished, got, c.want)
		}
	}
}
