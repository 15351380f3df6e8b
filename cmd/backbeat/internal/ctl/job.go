package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/openbackbeat/backbeat/adapters/apiclient"
)

// Backfill and verify jobs are started, followed and shown the same way:
// startJob, waitJob and the views below serve both, told by a jobKind what
// differs.

// job is what following a job needs of it: whether it ended.
type job interface{ Finished() bool }

// jobKind is how `<kind> start` starts one kind of job, reads it, shows
// its progress and reports its end.
type jobKind[J job] struct {
	// start starts the job and returns its id.
	start func(context.Context) (string, error)
	// get reads the job; printJSON prints it as the API gives it.
	get       func(ctx context.Context, id string) (J, error)
	printJSON func(ctx context.Context, id string) error
	progress  jobProgress[J]
	// summary is the line printed when a followed job ends; result is the
	// error (and exit code) of how it ended.
	summary func(J) string
	result  func(J) error
}

// jobProgress is what the views show of a job.
type jobProgress[J job] struct {
	// counts are the versions walked and the versions to walk (0 until
	// the job has counted them).
	counts func(J) (scanned, total int64)
	// desc is what the bar says beside the counts.
	desc func(J) string
	// line is one plain line of progress, given the time since the first
	// and the versions walked meanwhile.
	line func(j J, elapsed time.Duration, scannedMeanwhile int64) string
}

// unreachableFor bounds how long --wait keeps polling an API that does not
// answer (an API instance restarting: the job goes on elsewhere).
const unreachableFor = 2 * time.Minute

// startJob starts a job and prints its id; with wait, it follows the job
// to its end (a progress bar on a terminal, plain lines otherwise; with
// --json only the finished job's JSON) and returns k.result of it.
func startJob[J job](ctx context.Context, c *ctl, wait bool, k jobKind[J]) error {
	id, err := call(ctx, c, k.start)
	if err != nil {
		return err
	}
	if !wait {
		return c.printID(id)
	}
	if !c.json {
		fmt.Fprintln(c.out, id)
	}
	j, err := waitJob(ctx, c, newJobView(c, k.progress), func(ctx context.Context) (J, error) { return k.get(ctx, id) })
	if err != nil {
		return err
	}
	if c.json {
		if err := k.printJSON(ctx, id); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(c.out, k.summary(j))
	}
	return k.result(j)
}

// waitJob polls a job with get until it ends, showing its progress; it
// keeps polling an API that does not answer for unreachableFor.
func waitJob[J job](ctx context.Context, c *ctl, show jobView[J], get func(context.Context) (J, error)) (J, error) {
	defer show.close()
	var unreachableSince time.Time
	poll := c.poll
	if poll <= 0 {
		poll = 500 * time.Millisecond
	}
	for {
		j, err := call(ctx, c, get)
		var unreachable *apiclient.UnreachableError
		switch {
		case errors.As(err, &unreachable) && ctx.Err() == nil:
			if unreachableSince.IsZero() {
				unreachableSince = time.Now()
			}
			if time.Since(unreachableSince) > unreachableFor {
				return j, err
			}
		case err != nil:
			return j, err
		default:
			unreachableSince = time.Time{}
			show.update(j)
			if j.Finished() {
				return j, nil
			}
		}
		select {
		case <-ctx.Done():
			return j, ctx.Err()
		case <-time.After(poll):
		}
	}
}

// jobView shows a job's progress as waitJob reads it.
type jobView[J any] interface {
	update(j J)
	close()
}

// newJobView shows a job's progress: nothing with --json, a bar on a
// terminal, plain lines elsewhere.
func newJobView[J job](c *ctl, p jobProgress[J]) jobView[J] {
	if c.json {
		return quietView[J]{}
	}
	if f, ok := c.out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return &barView[J]{out: f, p: p}
	}
	return &lineView[J]{out: c.out, every: time.Second, p: p}
}

type quietView[J any] struct{}

func (quietView[J]) update(J) {}
func (quietView[J]) close()   {}

// barView is a progress bar of the versions walked (its rate and ETA),
// described by p.desc.
type barView[J job] struct {
	out io.Writer
	p   jobProgress[J]
	bar *progressbar.ProgressBar
}

func (v *barView[J]) update(j J) {
	scanned, total := v.p.counts(j)
	total = max(total, scanned)
	if total == 0 && !j.Finished() {
		return // not counted yet
	}
	total = max(total, 1)
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
	desc := v.p.desc(j)
	if j.Finished() {
		v.bar.Describe(desc)
		_ = v.bar.Set64(total) // renders the last line and finishes the bar
		fmt.Fprintln(v.out)
		return
	}
	// Describe renders too: the count first, so that the line shows both
	// new; the bar finishes only with the job.
	_ = v.bar.Set64(min(scanned, total-1))
	v.bar.Describe(desc)
}

func (v *barView[J]) close() {
	if v.bar != nil && !v.bar.IsFinished() {
		_ = v.bar.Exit()
	}
}

// lineView prints p.line at most every so often, and when the job ends.
type lineView[J job] struct {
	out   io.Writer
	every time.Duration
	p     jobProgress[J]

	start, last    time.Time
	startScanned   int64
	printedScanned int64
	printed        bool
}

func (v *lineView[J]) update(j J) {
	now := time.Now()
	scanned, _ := v.p.counts(j)
	if v.start.IsZero() {
		v.start, v.startScanned = now, scanned
	}
	if !j.Finished() && (now.Sub(v.last) < v.every || v.printed && scanned == v.printedScanned) {
		return
	}
	v.last, v.printedScanned, v.printed = now, scanned, true
	fmt.Fprintln(v.out, v.p.line(j, now.Sub(v.start), scanned-v.startScanned))
}

func (*lineView[J]) close() {}

// scannedText is how a progress line starts: the job, its state, and the
// versions walked of its total.
func scannedText(kind, id, state string, scanned, total int64) string {
	s := fmt.Sprintf("%s %s %s: scanned %d/%d", kind, id, state, scanned, total)
	if total > 0 {
		s += fmt.Sprintf(" (%d%%)", min(scanned*100/total, 100))
	}
	return s
}

// cancelJob cancels job id through cancel and prints the job as JSON, or
// say's line.
func cancelJob[J any](ctx context.Context, c *ctl, id string, cancel func(context.Context, string) (J, error), say func(J) string) error {
	j, err := call(ctx, c, func(ctx context.Context) (J, error) { return cancel(ctx, id) })
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(j)
	}
	fmt.Fprintln(c.out, say(j))
	return nil
}

// rateAndETA is how a progress line ends: the rate of the versions walked
// over elapsed and, while the job runs, the time the versions left take at
// it; nothing before a second has passed or a version was walked.
func rateAndETA(elapsed time.Duration, walked, left int64, finished bool) string {
	secs := elapsed.Seconds()
	if secs < 1 || walked <= 0 {
		return ""
	}
	rate := float64(walked) / secs
	s := fmt.Sprintf(", %.0f versions/s", rate)
	if left > 0 && !finished {
		s += fmt.Sprintf(", ETA %s", (time.Duration(float64(left)/rate) * time.Second).Round(time.Second))
	}
	return s
}

// printJobs prints a list of jobs: as JSON (an empty list, never null),
// as "no <kind> jobs", or as a table under header with a row for each.
func printJobs[J any](c *ctl, js []J, kind, header string, row func(J) string) error {
	if c.json {
		if js == nil {
			js = []J{}
		}
		return c.printJSON(js)
	}
	if len(js) == 0 {
		fmt.Fprintf(c.out, "no %s jobs\n", kind)
		return nil
	}
	tw := c.table()
	fmt.Fprintln(tw, header)
	for _, j := range js {
		fmt.Fprintln(tw, row(j))
	}
	return tw.Flush()
}

// orDash is s, or "-" when it is empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
