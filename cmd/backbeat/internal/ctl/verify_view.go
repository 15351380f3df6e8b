package ctl

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/openbackbeat/backbeat/adapters/apiclient"
)

// verifyProgress shows the source versions walked, and the versions
// compared and findings so far.
var verifyProgress = jobProgress[apiclient.VerifyJob]{
	counts: func(j apiclient.VerifyJob) (int64, int64) { return j.Scanned, j.Total },
	desc: func(j apiclient.VerifyJob) string {
		return fmt.Sprintf("compared %d, findings %d", j.Compared, j.Drift)
	},
	line: verifyLine,
}

// verifyLine is one plain line of progress: versions walked of total,
// compared, findings so far, the rate seen over elapsed and the time left
// at it.
func verifyLine(j apiclient.VerifyJob, elapsed time.Duration, scannedMeanwhile int64) string {
	var b strings.Builder
	b.WriteString(scannedText("verify", j.ID, j.State, j.Scanned, j.Total))
	fmt.Fprintf(&b, ", compared %d, findings %d", j.Compared, j.Drift)
	b.WriteString(rateAndETA(elapsed, scannedMeanwhile, j.Total-j.Scanned, j.Finished()))
	return b.String()
}

// verifySummary is the line printed when a waited job ends.
func verifySummary(j apiclient.VerifyJob) string {
	s := fmt.Sprintf("verify %s %s: compared=%d findings=%d heads=%d", j.ID, j.State, j.Compared, j.Drift, j.Heads)
	if j.Repair {
		s += fmt.Sprintf(" requeued=%d", j.Requeued)
	}
	if j.Drift > 0 {
		s += " (" + kindsText(j.ByKind, nil) + ")"
	}
	if j.Error != "" {
		s += ": " + j.Error
	}
	return s
}

// kindsText lists the counts of kinds in report order, marking those
// ignored.
func kindsText(m map[string]int64, ignore []string) string {
	var parts []string
	for _, k := range verifyKinds {
		if n := m[k]; n > 0 {
			p := fmt.Sprintf("%s %d", k, n)
			if slices.Contains(ignore, k) {
				p += " ignored"
			}
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, ", ")
}
