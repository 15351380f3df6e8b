package ctl

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

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

// backfillStart starts a job and prints its id; with wait, it follows the
// job to its end, failing when the job did not end done.
func (c *ctl) backfillStart(ctx context.Context, o backfillOptions) error {
	if o.bucket == "" {
		return errors.New("ctl: backfill start needs --bucket")
	}
	if o.rate < 0 {
		return fmt.Errorf("ctl: --rate must not be negative (0: unbounded), got %v", o.rate)
	}
	req := apiclient.BackfillRequest{Bucket: o.bucket, Prefix: o.prefix, Sites: o.sites, IncludeFailed: o.includeFailed, DryRun: o.dryRun, Rate: o.rate}
	return startJob(ctx, c, o.wait, jobKind[apiclient.BackfillJob]{
		start:     func(ctx context.Context) (string, error) { return c.client.StartBackfill(ctx, req) },
		get:       c.client.Backfill,
		printJSON: c.printBackfillJSON,
		progress:  backfillProgress,
		summary:   backfillSummary,
		result:    backfillResult,
	})
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

// backfillProgress shows the versions scanned, and what was queued and
// skipped.
var backfillProgress = jobProgress[apiclient.BackfillJob]{
	counts: func(j apiclient.BackfillJob) (int64, int64) { return j.Scanned, j.Total },
	desc: func(j apiclient.BackfillJob) string {
		return fmt.Sprintf("queued %d, skipped %d, %s", j.Queued, j.SkippedTotal(), humanBytes(j.BytesQueued))
	},
	line: backfillLine,
}

// backfillLine is one plain line of progress: scanned of total, what was
// queued and skipped, the rate seen over elapsed, and the time left at it.
func backfillLine(j apiclient.BackfillJob, elapsed time.Duration, scannedMeanwhile int64) string {
	var b strings.Builder
	b.WriteString(scannedText("backfill", j.ID, j.State, j.Scanned, j.Total))
	fmt.Fprintf(&b, ", queued %d, skipped %d, %s queued", j.Queued, j.SkippedTotal(), humanBytes(j.BytesQueued))
	b.WriteString(rateAndETA(elapsed, scannedMeanwhile, j.Total-j.Scanned, j.Finished()))
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
		return printJobs(c, js, "backfill", "ID\tSTATE\tBUCKET\tPREFIX\tSCANNED\tTOTAL\tQUEUED\tSKIPPED\tBYTES QUEUED\tSTARTED",
			func(j apiclient.BackfillJob) string {
				state := j.State
				if j.DryRun {
					state += " (dry run)"
				}
				return fmt.Sprintf("%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s", j.ID, state, j.Bucket, orDash(j.Prefix), j.Scanned, j.Total,
					j.Queued, j.SkippedTotal(), humanBytes(j.BytesQueued), j.StartedAt.UTC().Format(time.RFC3339))
			})
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
	return cancelJob(ctx, c, id, c.client.CancelBackfill, func(j apiclient.BackfillJob) string {
		return fmt.Sprintf("cancelled backfill job %s; its runner stops within the batch it is on (scanned %d, queued %d so far)", j.ID, j.Scanned, j.Queued)
	})
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
