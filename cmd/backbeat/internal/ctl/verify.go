package ctl

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/openbackbeat/backbeat/adapters/apiclient"
)

// ExitDrift is the exit code of `verify start --wait` when the job found
// drift (findings of kinds not given to --ignore), so that cron and
// scripts can tell it from a failure (1).
const ExitDrift = 3

// exitError carries the exit code of a command that did its work but has
// a result to report through it.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// ExitCode is the process exit code for err: the code an exitError asks
// for, else 1.
func ExitCode(err error) int {
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	return 1
}

// verifyKinds are the finding kinds, in report order.
var verifyKinds = []string{"status-lies", "missing", "content", "tags", "marker", "pending", "failed", "extra"}

// verifyFlags are the flags only verify commands take.
type verifyFlags struct {
	repair bool
	ignore sitesFlag // kinds
	kind   string
}

// addVerifyFlags declares the verify flags on fs.
func addVerifyFlags(fs *flag.FlagSet) *verifyFlags {
	v := &verifyFlags{}
	fs.BoolVar(&v.repair, "repair", false, "")
	fs.Var(&v.ignore, "ignore", "")
	fs.StringVar(&v.kind, "kind", "", "")
	return v
}

// verifyOptions are the flags of `backbeat ctl verify start`.
type verifyOptions struct {
	bucket, prefix string
	sites          []string
	repair, wait   bool
	ignore         []string
}

// checkKinds refuses kind names that are not finding kinds.
func checkKinds(flagName string, kinds []string) error {
	for _, k := range kinds {
		for _, one := range strings.Split(k, ",") {
			if !slices.Contains(verifyKinds, one) {
				return fmt.Errorf("ctl: --%s %q is not a finding kind (%s)", flagName, one, strings.Join(verifyKinds, ", "))
			}
		}
	}
	return nil
}

// splitKinds accepts kinds given as repeated flags or comma lists.
func splitKinds(kinds []string) []string {
	var out []string
	for _, k := range kinds {
		out = append(out, strings.Split(k, ",")...)
	}
	return out
}

// verifyStart starts a job and prints its id; with wait, it follows the
// job to its end and exits ExitDrift when it found findings of kinds not
// ignored, 1 when it did not end done.
func (c *ctl) verifyStart(ctx context.Context, o verifyOptions) error {
	if o.bucket == "" {
		return errors.New("ctl: verify start needs --bucket")
	}
	if err := checkKinds("ignore", o.ignore); err != nil {
		return err
	}
	if len(o.ignore) > 0 && !o.wait {
		return errors.New("ctl: --ignore only changes the exit code of --wait")
	}
	req := apiclient.VerifyRequest{Bucket: o.bucket, Prefix: o.prefix, Sites: o.sites, Repair: o.repair}
	return startJob(ctx, c, o.wait, jobKind[apiclient.VerifyJob]{
		start:     func(ctx context.Context) (string, error) { return c.client.StartVerify(ctx, req) },
		get:       c.client.Verify,
		printJSON: c.printVerifyJSON,
		progress:  verifyProgress,
		summary:   verifySummary,
		result:    func(j apiclient.VerifyJob) error { return verifyResult(j, splitKinds(o.ignore)) },
	})
}

// verifyResult is the error, and exit code, of a waited job: nil when it
// ended done in sync (but for ignored kinds), ExitDrift when it found
// drift, 1 when it did not end done.
func verifyResult(j apiclient.VerifyJob, ignore []string) error {
	switch j.State {
	case apiclient.JobDone:
	case apiclient.JobFailed:
		return fmt.Errorf("verify job %s failed: %s", j.ID, j.Error)
	default:
		return fmt.Errorf("verify job %s ended %s", j.ID, j.State)
	}
	if n := j.DriftIgnoring(ignore...); n > 0 {
		return &exitError{code: ExitDrift, err: fmt.Errorf("verify job %s found drift: %d findings (%s); see backbeat ctl verify report %s", j.ID, n, kindsText(j.ByKind, ignore), j.ID)}
	}
	return nil
}

func (c *ctl) printVerifyJSON(ctx context.Context, id string) error {
	return c.printAPIJSON(ctx, "/_/verify/"+id, func(ctx context.Context) ([]byte, error) { return c.client.VerifyJSON(ctx, id) })
}

// verifyStatus shows one job in detail, or lists every job.
func (c *ctl) verifyStatus(ctx context.Context, id string) error {
	if id == "" {
		js, err := call(ctx, c, c.client.Verifies)
		if err != nil {
			return err
		}
		return printJobs(c, js, "verify", "ID\tSTATE\tBUCKET\tPREFIX\tSITES\tSCANNED\tTOTAL\tCOMPARED\tFINDINGS\tREQUEUED\tSTARTED",
			func(j apiclient.VerifyJob) string {
				sites := strings.Join(j.Sites, ",")
				if sites == "" {
					sites = "all"
				}
				requeued := "-"
				if j.Repair {
					requeued = fmt.Sprint(j.Requeued)
				}
				return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s", j.ID, j.State, j.Bucket, orDash(j.Prefix), sites,
					j.Scanned, j.Total, j.Compared, j.Drift, requeued, j.StartedAt.UTC().Format(time.RFC3339))
			})
	}
	if c.json {
		return c.printVerifyJSON(ctx, id)
	}
	j, err := call(ctx, c, func(ctx context.Context) (apiclient.VerifyJob, error) { return c.client.Verify(ctx, id) })
	if err != nil {
		return err
	}
	var targets []string
	for _, t := range j.Targets {
		targets = append(targets, t.Site+" ("+t.Bucket+")")
	}
	tw := c.table()
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("id", j.ID)
	row("state", j.State)
	row("bucket", j.Bucket)
	row("prefix", j.Prefix)
	row("sites", strings.Join(targets, ", "))
	row("repair", fmt.Sprint(j.Repair))
	row("scanned", fmt.Sprintf("%d of %d (%.0f%%)", j.Scanned, j.Total, j.Progress*100))
	row("compared", fmt.Sprintf("%d (%d site versions listed, %d HEADs, %d tag reads)", j.Compared, j.SiteVersions, j.Heads, j.TagReads))
	row("findings", fmt.Sprint(j.Drift))
	for _, s := range slices.Sorted(maps.Keys(j.Findings)) {
		if text := kindsText(j.Findings[s], nil); text != "" {
			row("  "+s, text)
		}
	}
	if j.Repair {
		row("requeued", fmt.Sprint(j.Requeued))
	}
	row("started", j.StartedAt.UTC().Format(time.RFC3339))
	row("updated", j.UpdatedAt.UTC().Format(time.RFC3339))
	if j.Error != "" {
		row("error", j.Error)
	}
	return tw.Flush()
}

// verifyReport prints every finding of a job (of kind, when given),
// following the API's pages: status-lies first.
func (c *ctl) verifyReport(ctx context.Context, id, kind string) error {
	if kind != "" {
		if err := checkKinds("kind", []string{kind}); err != nil {
			return err
		}
	}
	var all []apiclient.Finding
	marker := ""
	for {
		p, err := call(ctx, c, func(ctx context.Context) (apiclient.FindingsPage, error) {
			return c.client.VerifyFindings(ctx, id, kind, marker)
		})
		if err != nil {
			return err
		}
		all = append(all, p.Findings...)
		if !p.IsTruncated || p.NextMarker == "" {
			break
		}
		marker = p.NextMarker
	}
	if c.json {
		if all == nil {
			all = []apiclient.Finding{}
		}
		return c.printJSON(all)
	}
	if len(all) == 0 {
		fmt.Fprintln(c.out, "no findings")
		return nil
	}
	tw := c.table()
	fmt.Fprintln(tw, "KIND\tSITE\tKEY\tVERSION\tSITE VERSION\tDETAIL")
	for _, f := range all {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", f.Kind, f.Site, f.Key, orDash(f.VersionID), orDash(f.SiteVersionID), f.Detail)
	}
	return tw.Flush()
}

func (c *ctl) verifyCancel(ctx context.Context, id string) error {
	return cancelJob(ctx, c, id, c.client.CancelVerify, func(j apiclient.VerifyJob) string {
		return fmt.Sprintf("cancelled verify job %s; its runner stops within the batch it is on (scanned %d, findings %d so far)", j.ID, j.Scanned, j.Drift)
	})
}

// verifyCommand runs one verify subcommand.
func (c *ctl) verifyCommand(ctx context.Context, cmd string, rest []string, o verifyOptions, vf *verifyFlags) error {
	usage := func(names string) error { return fmt.Errorf("ctl: usage: backbeat ctl %s %s", cmd, names) }
	switch cmd {
	case "verify start":
		if len(rest) != 0 {
			return usage("--bucket B [--prefix P] [--site S]... [--repair] [--wait] [--ignore K]...")
		}
		return c.verifyStart(ctx, o)
	case "verify status":
		if len(rest) > 1 {
			return usage("[id]")
		}
		id := ""
		if len(rest) == 1 {
			id = rest[0]
		}
		return c.verifyStatus(ctx, id)
	case "verify report":
		if len(rest) != 1 {
			return usage("<id> [--kind K]")
		}
		return c.verifyReport(ctx, rest[0], vf.kind)
	case "verify cancel":
		if len(rest) != 1 {
			return usage("<id>")
		}
		return c.verifyCancel(ctx, rest[0])
	}
	return fmt.Errorf("ctl: unknown command %q (see backbeat ctl --help)", cmd)
}
