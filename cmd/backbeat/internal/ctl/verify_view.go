package ctl

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/openbackbeat/backbeat/adapters/apiclient"
)

// verifyView shows a verify job's progress: nothing with --json, a bar
// on a terminal, plain lines elsewhere.
func (c *ctl) verifyView() jobView[apiclient.VerifyJob] {
	if c.json {
		return quietVerifyView{}
	}
	if f, ok := c.out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return &verifyBarView{out: f}
	}
	return &lineView[apiclient.VerifyJob]{out: c.out, every: time.Second, line: verifyLine,
		scanned: func(j apiclient.VerifyJob) int64 { return j.Scanned }}
}

type quietVerifyView struct{}

func (quietVerifyView) update(apiclient.VerifyJob) {}
func (quietVerifyView) close()                     {}

// verifyBarView is a progress bar of the source versions walked (its
// rate and ETA), described by the versions compared and findings so far.
type verifyBarView struct {
	out io.Writer
	bar *progressbar.ProgressBar
}

func (v *verifyBarView) update(j apiclient.VerifyJob) {
	total := max(j.Total, j.Scanned, 1)
	if v.bar == nil {
		v.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(v.out), progressbar.OptionSetWidth(30),
			progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("versions"),
			progressbar.OptionSetPredictTime(true), progressbar.OptionShowElapsedTimeOnFinish(),
			progressbar.OptionShowDescriptionAtLineEnd())
	}
	if total != v.bar.GetMax64() {
		v.bar.ChangeMax64(total)
	}
	desc := fmt.Sprintf("compared %d, findings %d", j.Compared, j.Drift)
	if j.Finished() {
		v.bar.Describe(desc)
		_ = v.bar.Set64(total)
		fmt.Fprintln(v.out)
		return
	}
	_ = v.bar.Set64(min(j.Scanned, total-1))
	v.bar.Describe(desc)
}

func (v *verifyBarView) close() {
	if v.bar != nil && !v.bar.IsFinished() {
		_ = v.bar.Exit()
	}
}

// verifyLine is one plain line of progress: versions walked of total,
// compared, findings so far, the rate seen over elapsed and the time left
// at it.
func verifyLine(j apiclient.VerifyJob, elapsed time.Duration, scannedMeanwhile int64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "verify %s %s: scanned %d/%d", j.ID, j.State, j.Scanned, j.Total)
	if j.Total > 0 {
		fmt.Fprintf(&b, " (%d%%)", min(j.Scanned*100/j.Total, 100))
	}
	fmt.Fprintf(&b, ", compared %d, findings %d", j.Compared, j.Drift)
	if secs := elapsed.Seconds(); secs >= 1 && scannedMeanwhile > 0 {
		rate := float64(scannedMeanwhile) / secs
		fmt.Fprintf(&b, ", %.0f versions/s", rate)
		if left := j.Total - j.Scanned; left > 0 && !j.Finished() {
			fmt.Fprintf(&b, ", ETA %s", (time.Duration(float64(left)/rate) * time.Second).Round(time.Second))
		}
	}
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
