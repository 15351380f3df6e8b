package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/openbackbeat/backbeat/adapters/apiclient"
)

// backfillOptions are the flags of `backbeat ctl backfill start`.
type backfillOptions struct {
	bucket, prefix string
	sites          []string
	includeFailed  bool
	dryRun         bool
	rate           float64
	wait           bool
}

// backfillUnreachableFor bounds how long --wait keeps polling an API that
// does not answer (an API instance restarting: the job goes on elsewhere).
const backfillUnreachableFor = 2 * time.Minute

// backfillStart starts a job and prints its id; with wait, it follows the
// job to its end (a progress bar on a terminal, plain lines otherwise;
// with --json only the finished job's JSON), failing when the job did not
// end done.
func (c *ctl) backfillStart(ctx context.Context, o backfillOptions) error {
	if o.bucket == "" {
		return errors.New("ctl: backfill start needs --bucket")
	}
	if o.rate < 0 {
		return fmt.Errorf("ctl: --rate must not be negative (0: unbounded), got %v", o.rate)
	}
	req := apiclient.BackfillRequest{Bucket: o.bucket, Prefix: o.prefix, Sites: o.sites, IncludeFailed: o.includeFailed, DryRun: o.dryRun, Rate: o.rate}
	id, err := call(ctx, c, func(ctx context.Context) (string, error) { return c.client.StartBackfill(ctx, req) })
	if err != nil {
		return err
	}
	if !o.wait {
		return c.printID(id)
	}
	if !c.json {
		fmt.Fprintln(c.out, id)
	}
	j, err := c.waitBackfill(ctx, id)
	if err != nil {
		return err
	}
	if c.json {
		if err := c.printBackfillJSON(ctx, id); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(c.out, backfillSummary(j))
	}
	return backfillResult(j)
}

func (c *ctl) printBackfillJSON(ctx context.Context, id string) error {
	return c.printAPIJSON(ctx, "/_/backfill/"+id, func(ctx context.Context) ([]byte, error) { return c.client.BackfillJSON(ctx, id) })
}

// backfillResult is the error of a job that did not end done.
func backfillResult(j apiclient.BackfillJob) error {
	switch j.State {
	case apiclient.JobDone:
		return nil
	case apiclient.JobFailed:
		return fmt.Errorf("backfill job %s failed: %s", j.ID, j.Error)
	}
	return fmt.Errorf("backfill job %s ended %s", j.ID, j.State)
}

// waitBackfill polls the job until it ends, showing its progress.
func (c *ctl) waitBackfill(ctx context.Context, id string) (apiclient.BackfillJob, error) {
	return waitJob(ctx, c, c.progressView(), func(ctx context.Context) (apiclient.BackfillJob, error) { return c.client.Backfill(ctx, id) })
}

// waitJob polls a job with get until it ends, showing its progress; it
// keeps polling an API that does not answer for backfillUnreachableFor.
func waitJob[J interface{ Finished() bool }](ctx context.Context, c *ctl, show jobView[J], get func(context.Context) (J, error)) (J, error) {
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
			if time.Since(unreachableSince) > backfillUnreachableFor {
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

// progressView shows a backfill job's progress: nothing with --json, a
// bar on a terminal, plain lines elsewhere.
func (c *ctl) progressView() jobView[apiclient.BackfillJob] {
	if c.json {
		return quietView{}
	}
	if f, ok := c.out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return &barView{out: f}
	}
	return &lineView[apiclient.BackfillJob]{out: c.out, every: time.Second, line: backfillLine,
		scanned: func(j apiclient.BackfillJob) int64 { return j.Scanned }}
}

type quietView struct{}

func (quietView) update(apiclient.BackfillJob) {}
func (quietView) close()                       {}

// barView is a progress bar of the versions scanned, described by what
// was queued and skipped.
type barView struct {
	out io.Writer
	bar *progressbar.ProgressBar
}

func (v *barView) update(j apiclient.BackfillJob) {
	total := max(j.Total, j.Scanned)
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
	desc := fmt.Sprintf("queued %d, skipped %d, %s", j.Queued, j.SkippedTotal(), humanBytes(j.BytesQueued))
	if j.Finished() {
		v.bar.Describe(desc)
		_ = v.bar.Set64(total) // renders the last line and finishes the bar
		fmt.Fprintln(v.out)
		return
	}
	// Describe renders too: the count first, so that the line shows both
	// new; the bar finishes only with the job.
	_ = v.bar.Set64(min(j.Scanned, total-1))
	v.bar.Describe(desc)
}

func (v *barView) close() {
	if v.bar != nil && !v.bar.IsFinished() {
		_ = v.bar.Exit()
	}
}

// lineView prints a line of progress at most every so often, and when the
// job ends: line(j, elapsed, scanned meanwhile) of scanned(j).
type lineView[J interface{ Finished() bool }] struct {
	out     io.Writer
	every   time.Duration
	scanned func(J) int64
	line    func(j J, elapsed time.Duration, scannedMeanwhile int64) string

	start, last    time.Time
	startScanned   int64
	printedScanned int64
	printed        bool
}

func (v *lineView[J]) update(j J) {
	now, scanned := time.Now(), v.scanned(j)
	if v.start.IsZero() {
		v.start, v.startScanned = now, scanned
	}
	if !j.Finished() && (now.Sub(v.last) < v.every || v.printed && scanned == v.printedScanned) {
		return
	}
	v.last, v.printedScanned, v.printed = now, scanned, true
	fmt.Fprintln(v.out, v.line(j, now.Sub(v.start), scanned-v.startScanned))
}

func (*lineView[J]) close() {}

// backfillLine is one plain line of progress: scanned of total, what was
// queued and skipped, the rate seen over elapsed, and the time left at it.
func backfillLine(j apiclient.BackfillJob, elapsed time.Duration, scannedMeanwhile int64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "backfill %s %s: scanned %d/%d", j.ID, j.State, j.Scanned, j.Total)
	if j.Total > 0 {
		fmt.Fprintf(&b, " (%d%%)", min(j.Scanned*100/j.Total, 100))
	}
	fmt.Fprintf(&b, ", queued %d, skipped %d, %s queued", j.Queued, j.SkippedTotal(), humanBytes(j.BytesQueued))
	if secs := elapsed.Seconds(); secs >= 1 && scannedMeanwhile > 0 {
		rate := float64(scannedMeanwhile) / secs
		fmt.Fprintf(&b, ", %.0f versions/s", rate)
		if left := j.Total - j.Scanned; left > 0 && !j.Finished() {
			fmt.Fprintf(&b, ", ETA %s", (time.Duration(float64(left)/rate) * time.Second).Round(time.Second))
		}
	}
	return b.String()
}

// backfillSummary is the line printed when a waited job ends.
func backfillSummary(j apiclient.BackfillJob) string {
	s := fmt.Sprintf("backfill %s %s: queued=%d skipped=%d bytes=%d", j.ID, j.State, j.Queued, j.SkippedTotal(), j.BytesQueued)
	if len(j.Skipped) > 0 {
		s += " (" + skippedText(j.Skipped) + ")"
	}
	if j.DryRun {
		s += " [dry run: nothing written]"
	}
	if j.Error != "" {
		s += ": " + j.Error
	}
	return s
}

func skippedText(m map[string]int64) string {
	var parts []string
	for _, r := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", r, m[r]))
	}
	return strings.Join(parts, ", ")
}

// backfillStatus shows one job in detail, or lists every job.
func (c *ctl) backfillStatus(ctx context.Context, id string) error {
	if id == "" {
		js, err := call(ctx, c, c.client.Backfills)
		if err != nil {
			return err
		}
		if c.json {
			if js == nil {
				js = []apiclient.BackfillJob{}
			}
			return c.printJSON(js)
		}
		if len(js) == 0 {
			fmt.Fprintln(c.out, "no backfill jobs")
			return nil
		}
		tw := c.table()
		fmt.Fprintln(tw, "ID\tSTATE\tBUCKET\tPREFIX\tSCANNED\tTOTAL\tQUEUED\tSKIPPED\tBYTES QUEUED\tSTARTED")
		for _, j := range js {
			prefix := j.Prefix
			if prefix == "" {
				prefix = "-"
			}
			state := j.State
			if j.DryRun {
				state += " (dry run)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\n", j.ID, state, j.Bucket, prefix, j.Scanned, j.Total,
				j.Queued, j.SkippedTotal(), humanBytes(j.BytesQueued), j.StartedAt.UTC().Format(time.RFC3339))
		}
		return tw.Flush()
	}
	if c.json {
		return c.printBackfillJSON(ctx, id)
	}
	j, err := call(ctx, c, func(ctx context.Context) (apiclient.BackfillJob, error) { return c.client.Backfill(ctx, id) })
	if err != nil {
		return err
	}
	sites := "every site of the rules"
	if len(j.Sites) > 0 {
		sites = strings.Join(j.Sites, ", ")
	}
	tw := c.table()
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("id", j.ID)
	row("state", j.State)
	row("bucket", j.Bucket)
	row("prefix", j.Prefix)
	row("sites", sites)
	row("options", fmt.Sprintf("include failed: %v, dry run: %v, rate: %s", j.IncludeFailed, j.DryRun, rateText(j.Rate)))
	row("scanned", fmt.Sprintf("%d of %d (%.0f%%)", j.Scanned, j.Total, j.Progress*100))
	row("queued", fmt.Sprintf("%d versions, %s", j.Queued, humanBytes(j.BytesQueued)))
	for _, s := range slices.Sorted(maps.Keys(j.PerSite)) {
		row("  "+s, fmt.Sprintf("%d versions, %s", j.PerSite[s].Versions, humanBytes(j.PerSite[s].Bytes)))
	}
	row("skipped", fmt.Sprintf("%d", j.SkippedTotal()))
	for _, r := range slices.Sorted(maps.Keys(j.Skipped)) {
		row("  "+r, fmt.Sprintf("%d", j.Skipped[r]))
	}
	row("started", j.StartedAt.UTC().Format(time.RFC3339))
	row("updated", j.UpdatedAt.UTC().Format(time.RFC3339))
	if j.Error != "" {
		row("error", j.Error)
	}
	return tw.Flush()
}

func rateText(r float64) string {
	if r <= 0 {
		return "unbounded"
	}
	return fmt.Sprintf("%g versions/s", r)
}

func (c *ctl) backfillCancel(ctx context.Context, id string) error {
	j, err := call(ctx, c, func(ctx context.Context) (apiclient.BackfillJob, error) { return c.client.CancelBackfill(ctx, id) })
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(j)
	}
	fmt.Fprintf(c.out, "cancelled backfill job %s; its runner stops within the batch it is on (scanned %d, queued %d so far)\n", j.ID, j.Scanned, j.Queued)
	return nil
}

// sitesFlag is a flag given any number of times.
type sitesFlag []string

func (f *sitesFlag) String() string { return strings.Join(*f, ",") }

func (f *sitesFlag) Set(v string) error {
	if v == "" {
		return errors.New("empty site name")
	}
	*f = append(*f, v)
	return nil
}
