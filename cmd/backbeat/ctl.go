package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/openbackbeat/backbeat/adapters/apiclient"
)

const ctlUsage = `usage: backbeat ctl [flags] <command> [arguments]

Talks to the operator API (` + "`backbeat api`" + `).

Commands:
  health                                   health of every backing service
  status [site]                            whether replication to each site runs, and scheduled resumes
  metrics [site]                           pending, completed, failed and throughput, per site
  failed list [--site S] [--marker M] [--all]
                                           failed entries, newest first (every site without --site;
                                           --all follows every page)
  failed show <bucket> <key> <versionId>   the failures of one version, at every site
  failed retry <bucket> <key> <versionId> <site> [--force]
                                           queue a failed version again for a site (--force: even
                                           if it is not listed as failed)
  pause [site]                             pause replication (every site when none is given)
  resume [site] [--at TIME | --in DURATION | --cancel]
                                           resume now, or a paused site later (--at 2030-01-02T15:04:05Z,
                                           --in 2h), or cancel a scheduled resume
  backfill start --bucket B [--prefix P] [--site S]... [--include-failed] [--dry-run] [--rate N] [--wait]
                                           replicate the versions written before the rules (or a site):
                                           start a job and print its id; --wait follows it to its end
                                           (non-zero exit unless it ends done; with --json, prints the
                                           finished job)
  backfill status [id]                     one job in detail, or every job
  backfill cancel <id>                     stop a running job within its batch
  verify start --bucket B [--prefix P] [--site S]... [--repair] [--wait] [--ignore K]...
                                           compare the sites with the source (missing, content, tags,
                                           marker, status-lies, pending, failed, extra); --repair
                                           re-queues what can be fixed; --wait follows the job and exits
                                           3 when it found drift (but of the kinds given to --ignore), 0
                                           when in sync
  verify status [id]                       one job in detail, or every job
  verify report <id> [--kind K]            the job's findings, status-lies first
  verify cancel <id>                       stop a running job within its batch

Flags (anywhere on the line):
  --api URL        the API (default $BACKBEAT_API_URL, else ` + apiclient.DefaultURL + `)
  --token TOKEN    bearer token for the commands that change things (default $BACKBEAT_API_TOKEN)
  --json           print the API's JSON instead of tables (commands that make several calls
                   print an object keyed by site, or by call)
  --timeout D      timeout of each request (default 30s)
`

// ctlFlags lists, per command, the flags it takes besides the global ones.
var ctlFlags = map[string][]string{
	"health":          nil,
	"status":          nil,
	"metrics":         nil,
	"failed list":     {"site", "marker", "all"},
	"failed show":     nil,
	"failed retry":    {"force"},
	"pause":           nil,
	"resume":          {"at", "in", "cancel"},
	"backfill start":  {"bucket", "prefix", "site", "include-failed", "dry-run", "rate", "wait"},
	"backfill status": nil,
	"backfill cancel": nil,
	"verify start":    {"bucket", "prefix", "site", "repair", "wait", "ignore"},
	"verify status":   nil,
	"verify report":   {"kind"},
	"verify cancel":   nil,
}

var globalCtlFlags = []string{"api", "token", "json", "timeout"}

// ctl runs one operator command against the API.
type ctl struct {
	client  *apiclient.Client
	out     io.Writer
	json    bool
	timeout time.Duration
	// poll is how often --wait reads a job (default 500 ms).
	poll time.Duration
}

// runCtl implements `backbeat ctl ...`: args are the arguments after "ctl".
func runCtl(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runCtlPolling(ctx, args, stdout, stderr, 0)
}

// runCtlPolling is runCtl with --wait reading the job every poll (0: the
// default).
func runCtlPolling(ctx context.Context, args []string, stdout, stderr io.Writer, poll time.Duration) error {
	fs := flag.NewFlagSet("backbeat ctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	apiURL := fs.String("api", envOr("BACKBEAT_API_URL", apiclient.DefaultURL), "")
	token := fs.String("token", os.Getenv("BACKBEAT_API_TOKEN"), "")
	asJSON := fs.Bool("json", false, "")
	timeout := fs.Duration("timeout", 30*time.Second, "")
	var sites sitesFlag
	fs.Var(&sites, "site", "")
	marker := fs.Int64("marker", 0, "")
	all := fs.Bool("all", false, "")
	force := fs.Bool("force", false, "")
	at := fs.String("at", "", "")
	in := fs.Duration("in", 0, "")
	cancel := fs.Bool("cancel", false, "")
	bucket := fs.String("bucket", "", "")
	prefix := fs.String("prefix", "", "")
	includeFailed := fs.Bool("include-failed", false, "")
	dryRun := fs.Bool("dry-run", false, "")
	rateFlag := fs.Float64("rate", 0, "")
	wait := fs.Bool("wait", false, "")
	vf := addVerifyFlags(fs)

	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, ctlUsage)
		return nil
	}
	if err != nil {
		return fmt.Errorf("ctl: %w (see backbeat ctl --help)", err)
	}
	if len(pos) == 0 || pos[0] == "help" {
		fmt.Fprint(stdout, ctlUsage)
		return nil
	}
	cmd, rest := pos[0], pos[1:]
	if cmd == "failed" {
		if len(rest) == 0 {
			return errors.New("ctl: failed needs a subcommand: list, show or retry")
		}
		cmd, rest = "failed "+rest[0], rest[1:]
	}
	if cmd == "backfill" {
		if len(rest) == 0 {
			return errors.New("ctl: backfill needs a subcommand: start, status or cancel")
		}
		cmd, rest = "backfill "+rest[0], rest[1:]
	}
	if cmd == "verify" {
		if len(rest) == 0 {
			return errors.New("ctl: verify needs a subcommand: start, status, report or cancel")
		}
		cmd, rest = "verify "+rest[0], rest[1:]
	}
	allowed, ok := ctlFlags[cmd]
	if !ok {
		return fmt.Errorf("ctl: unknown command %q (see backbeat ctl --help)", cmd)
	}
	var badFlags []string
	fs.Visit(func(f *flag.Flag) {
		if !slices.Contains(globalCtlFlags, f.Name) && !slices.Contains(allowed, f.Name) {
			badFlags = append(badFlags, "--"+f.Name)
		}
	})
	if len(badFlags) > 0 {
		return fmt.Errorf("ctl: %s does not take %s", cmd, strings.Join(badFlags, ", "))
	}
	if *timeout <= 0 {
		return fmt.Errorf("ctl: --timeout must be positive, got %s", *timeout)
	}
	client, err := apiclient.New(*apiURL, apiclient.WithToken(*token))
	if err != nil {
		return fmt.Errorf("ctl: --api: %w", err)
	}
	c := &ctl{client: client, out: stdout, json: *asJSON, timeout: *timeout, poll: poll}

	argc := func(min, max int, names string) error {
		if len(rest) < min || len(rest) > max {
			return fmt.Errorf("ctl: usage: backbeat ctl %s %s", cmd, names)
		}
		return nil
	}
	optional := func() string {
		if len(rest) == 1 {
			return rest[0]
		}
		return ""
	}
	switch cmd {
	case "health":
		if err = argc(0, 0, ""); err == nil {
			err = c.health(ctx)
		}
	case "status":
		if err = argc(0, 1, "[site]"); err == nil {
			err = c.status(ctx, optional())
		}
	case "metrics":
		if err = argc(0, 1, "[site]"); err == nil {
			err = c.metrics(ctx, optional())
		}
	case "failed list":
		if err = argc(0, 0, "[--site S] [--marker M] [--all]"); err == nil {
			if len(sites) > 1 {
				return errors.New("ctl: failed list takes one --site")
			}
			err = c.failedList(ctx, sites.String(), *marker, *all)
		}
	case "failed show":
		if err = argc(3, 3, "<bucket> <key> <versionId>"); err == nil {
			err = c.failedShow(ctx, rest[0], rest[1], rest[2])
		}
	case "failed retry":
		if err = argc(4, 4, "<bucket> <key> <versionId> <site> [--force]"); err == nil {
			err = c.failedRetry(ctx, apiclient.RetryEntry{Bucket: rest[0], Key: rest[1], VersionID: rest[2], StorageClass: rest[3], ForceRetry: *force})
		}
	case "pause":
		if err = argc(0, 1, "[site]"); err == nil {
			err = c.pause(ctx, optional())
		}
	case "resume":
		if err = argc(0, 1, "[site] [--at TIME | --in DURATION | --cancel]"); err == nil {
			err = c.resume(ctx, optional(), *at, *in, *cancel)
		}
	case "backfill start":
		if err = argc(0, 0, "--bucket B [--prefix P] [--site S]... [--include-failed] [--dry-run] [--rate N] [--wait]"); err == nil {
			err = c.backfillStart(ctx, backfillOptions{bucket: *bucket, prefix: *prefix, sites: sites,
				includeFailed: *includeFailed, dryRun: *dryRun, rate: *rateFlag, wait: *wait})
		}
	case "backfill status":
		if err = argc(0, 1, "[id]"); err == nil {
			err = c.backfillStatus(ctx, optional())
		}
	case "backfill cancel":
		if err = argc(1, 1, "<id>"); err == nil {
			err = c.backfillCancel(ctx, rest[0])
		}
	case "verify start", "verify status", "verify report", "verify cancel":
		err = c.verifyCommand(ctx, cmd, rest, verifyOptions{bucket: *bucket, prefix: *prefix, sites: sites,
			repair: vf.repair, wait: *wait, ignore: vf.ignore}, vf)
	}
	return withHint(err)
}

// parseInterspersed parses flags wherever they appear among the
// positional arguments ("--" ends the flags).
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		left := fs.Args()
		// flag stops at the first positional argument, or just after a
		// "--", which ends the flags.
		if n := len(args) - len(left); n > 0 && args[n-1] == "--" {
			return append(pos, left...), nil
		}
		if len(left) == 0 {
			break
		}
		pos = append(pos, left[0])
		args = left[1:]
	}
	return pos, nil
}

// withHint adds what to do to the errors an operator can fix.
func withHint(err error) error {
	switch apiclient.ErrorName(err) {
	case "Unauthorized":
		return fmt.Errorf("%w\n(the API requires a token for this command: give it with --token or BACKBEAT_API_TOKEN)", err)
	case "AccessDenied":
		return fmt.Errorf("%w\n(check the token given with --token or BACKBEAT_API_TOKEN)", err)
	}
	return err
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// call runs one API call under the per-request timeout.
func call[T any](ctx context.Context, c *ctl, f func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	return f(ctx)
}

func (c *ctl) printJSON(v any) error {
	enc := json.NewEncoder(c.out)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func (c *ctl) table() *tabwriter.Writer {
	return tabwriter.NewWriter(c.out, 0, 0, 2, ' ', 0)
}

func (c *ctl) health(ctx context.Context) error {
	h, err := call(ctx, c, c.client.Health)
	if err != nil {
		return err
	}
	if c.json {
		if err := c.printJSON(h); err != nil {
			return err
		}
	} else {
		tw := c.table()
		fmt.Fprintln(tw, "SERVICE\tSTATUS\tERROR")
		for _, name := range slices.Sorted(maps.Keys(h.InternalConnections)) {
			s := h.InternalConnections[name]
			fmt.Fprintf(tw, "%s\t%s\t%s\n", name, s.Status, s.Error)
		}
		if h.ISRHealth != "" {
			fmt.Fprintf(tw, "isrHealth\t%s\t\n", h.ISRHealth)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if h.Status != "ok" {
		var bad []string
		for _, name := range slices.Sorted(maps.Keys(h.InternalConnections)) {
			if h.InternalConnections[name].Status != "ok" {
				bad = append(bad, name)
			}
		}
		return fmt.Errorf("unhealthy: %s", strings.Join(bad, ", "))
	}
	return nil
}

// sites returns the configured sites, as the API's status route lists
// them.
func (c *ctl) sites(ctx context.Context) ([]string, error) {
	st, err := call(ctx, c, func(ctx context.Context) (map[string]string, error) { return c.client.Status(ctx, "all") })
	if err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(st)), nil
}

func (c *ctl) status(ctx context.Context, site string) error {
	st, err := call(ctx, c, func(ctx context.Context) (map[string]string, error) { return c.client.Status(ctx, site) })
	if err != nil {
		return err
	}
	sched, err := call(ctx, c, func(ctx context.Context) (map[string]string, error) { return c.client.ResumeSchedule(ctx, site) })
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(map[string]any{"status": st, "resume": sched})
	}
	tw := c.table()
	fmt.Fprintln(tw, "SITE\tREPLICATION\tSCHEDULED RESUME")
	for _, s := range slices.Sorted(maps.Keys(st)) {
		state := st[s]
		switch state {
		case "enabled":
			state = "running"
		case "disabled":
			state = "paused"
		}
		resume := sched[s]
		if resume == "" || resume == "none" {
			resume = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s, state, resume)
	}
	return tw.Flush()
}

var windowRe = regexp.MustCompile(`in the last (\d+) seconds`)

func (c *ctl) metrics(ctx context.Context, site string) error {
	names := []string{site}
	if site == "" {
		sites, err := c.sites(ctx)
		if err != nil {
			return err
		}
		names = append(sites, "all")
	}
	ms := make(map[string]apiclient.SiteMetrics, len(names))
	for _, n := range names {
		m, err := call(ctx, c, func(ctx context.Context) (apiclient.SiteMetrics, error) { return c.client.SiteMetrics(ctx, n) })
		if err != nil {
			return err
		}
		ms[n] = m
	}
	if c.json {
		if site != "" {
			return c.printJSON(ms[site])
		}
		return c.printJSON(ms)
	}
	tw := c.table()
	fmt.Fprintln(tw, "SITE\tPENDING\tPENDING BYTES\tCOMPLETED\tCOMPLETED BYTES\tFAILED\tFAILED BYTES\tOPS/S\tBYTES/S")
	for _, n := range names {
		m := ms[n]
		ops := func(x *apiclient.Metric) string {
			if x == nil {
				return "-"
			}
			return x.Results.Count.String()
		}
		size := func(x *apiclient.Metric) string {
			if x == nil {
				return "-"
			}
			return humanBytes(x.Results.Size.Int64())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n,
			ops(m.Pending), size(m.Pending), ops(m.Completions), size(m.Completions),
			ops(m.Failures), size(m.Failures), ops(m.Throughput), rate(m.Throughput))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if m := ms[names[0]]; m.Completions != nil && m.Throughput != nil {
		done, tput := windowRe.FindStringSubmatch(m.Completions.Description), windowRe.FindStringSubmatch(m.Throughput.Description)
		if done != nil && tput != nil {
			fmt.Fprintf(c.out, "\ncompleted and failed over the last %s; throughput over the last %s; pending is now\n", seconds(done[1]), seconds(tput[1]))
		}
	}
	return nil
}

func rate(x *apiclient.Metric) string {
	if x == nil {
		return "-"
	}
	return humanBytes(int64(x.Results.Size.Float64())) + "/s"
}

func seconds(s string) string {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return s + "s"
	}
	d := time.Duration(n) * time.Second
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", n/3600)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", n/60)
	}
	return d.String()
}

// humanBytes formats n bytes with binary units.
func humanBytes(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v := float64(n)
	for _, unit := range []string{"KiB", "MiB", "GiB", "TiB", "PiB"} {
		v /= 1024
		if v < 1024 {
			return fmt.Sprintf("%.1f %s", v, unit)
		}
	}
	return fmt.Sprintf("%.1f EiB", v/1024)
}

// maxPages bounds how many pages --all follows, should a listing never end.
const maxPages = 100000

func (c *ctl) failedList(ctx context.Context, site string, marker int64, all bool) error {
	if site == "" && marker != 0 {
		return errors.New("ctl: --marker needs --site: markers are per site")
	}
	if marker < 0 {
		return errors.New("ctl: --marker must not be negative")
	}
	sites := []string{site}
	if site == "" {
		var err error
		if sites, err = c.sites(ctx); err != nil {
			return err
		}
	}
	pages := make(map[string]apiclient.FailedPage, len(sites))
	for _, s := range sites {
		page, err := c.listSite(ctx, s, marker, all)
		if err != nil {
			return err
		}
		pages[s] = page
	}
	if c.json {
		if site != "" {
			return c.printJSON(pages[site])
		}
		return c.printJSON(pages)
	}
	var versions []apiclient.FailedVersion
	for _, s := range sites {
		versions = append(versions, pages[s].Versions...)
	}
	if len(versions) == 0 {
		if site != "" {
			fmt.Fprintf(c.out, "no failed entries for site %s\n", site)
		} else {
			fmt.Fprintln(c.out, "no failed entries")
		}
	} else if err := c.failedTable(versions); err != nil {
		return err
	}
	for _, s := range sites {
		if p := pages[s]; p.IsTruncated && p.NextMarker != nil {
			fmt.Fprintf(c.out, "more entries for %s: backbeat ctl failed list --site %s --marker %d (or --all)\n", s, s, *p.NextMarker)
		}
	}
	return nil
}

// listSite returns one page of site's failed entries, or, with all, every
// page merged into one.
func (c *ctl) listSite(ctx context.Context, site string, marker int64, all bool) (apiclient.FailedPage, error) {
	var merged apiclient.FailedPage
	for range maxPages {
		page, err := call(ctx, c, func(ctx context.Context) (apiclient.FailedPage, error) { return c.client.ListFailed(ctx, site, marker) })
		if err != nil {
			return page, err
		}
		if !all {
			return page, nil
		}
		merged.Versions = append(merged.Versions, page.Versions...)
		if !page.IsTruncated || page.NextMarker == nil {
			if merged.Versions == nil {
				merged.Versions = []apiclient.FailedVersion{}
			}
			return merged, nil
		}
		marker = *page.NextMarker
	}
	return merged, fmt.Errorf("ctl: the failed listing of %s did not end after %d pages", site, maxPages)
}

func (c *ctl) failedTable(versions []apiclient.FailedVersion) error {
	tw := c.table()
	fmt.Fprintln(tw, "SITE\tBUCKET\tKEY\tVERSION\tSIZE\tLAST MODIFIED")
	for _, v := range versions {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", v.StorageClass, v.Bucket, v.Key, v.VersionID, humanBytes(v.Size), v.LastModified)
	}
	return tw.Flush()
}

func (c *ctl) failedShow(ctx context.Context, bucket, key, versionID string) error {
	page, err := call(ctx, c, func(ctx context.Context) (apiclient.FailedPage, error) {
		return c.client.FailedVersion(ctx, bucket, key, versionID)
	})
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(page)
	}
	if len(page.Versions) == 0 {
		fmt.Fprintf(c.out, "%s/%s version %s is not listed as failed at any site\n", bucket, key, versionID)
		return nil
	}
	return c.failedTable(page.Versions)
}

func (c *ctl) failedRetry(ctx context.Context, e apiclient.RetryEntry) error {
	out, err := call(ctx, c, func(ctx context.Context) ([]apiclient.RetriedVersion, error) {
		return c.client.Retry(ctx, []apiclient.RetryEntry{e})
	})
	if err != nil {
		return err
	}
	if c.json {
		if out == nil {
			out = []apiclient.RetriedVersion{}
		}
		if err := c.printJSON(out); err != nil {
			return err
		}
	}
	if len(out) == 0 {
		// The API skips an entry naming an unknown site, as upstream does:
		// say why here.
		if sites, err := c.sites(ctx); err == nil && !slices.Contains(sites, e.StorageClass) {
			return fmt.Errorf("not retried: %q is not a configured site (configured: %s)", e.StorageClass, strings.Join(sites, ", "))
		}
		if e.ForceRetry {
			return fmt.Errorf("not retried: %s/%s version %s does not exist or is not replicated to %s, or a retry of it is already in progress",
				e.Bucket, e.Key, e.VersionID, e.StorageClass)
		}
		return fmt.Errorf("not retried: %s/%s version %s is not listed as failed for %s, or a retry of it is already in progress (--force retries anyway)",
			e.Bucket, e.Key, e.VersionID, e.StorageClass)
	}
	if !c.json {
		for _, v := range out {
			fmt.Fprintf(c.out, "queued again for %s: %s/%s version %s (%s), now %s\n", v.StorageClass, v.Bucket, v.Key, v.VersionID, humanBytes(v.Size), v.ReplicationStatus)
		}
	}
	return nil
}

func sitesText(site string) string {
	if site == "" || site == "all" {
		return "every site"
	}
	return site
}

func (c *ctl) pause(ctx context.Context, site string) error {
	if _, err := call(ctx, c, func(ctx context.Context) (struct{}, error) { return struct{}{}, c.client.Pause(ctx, site) }); err != nil {
		return err
	}
	if c.json {
		return c.printJSON(struct{}{})
	}
	fmt.Fprintf(c.out, "paused replication to %s\n", sitesText(site))
	return nil
}

func (c *ctl) resume(ctx context.Context, site, at string, in time.Duration, cancel bool) error {
	n := 0
	for _, set := range []bool{at != "", in != 0, cancel} {
		if set {
			n++
		}
	}
	if n > 1 {
		return errors.New("ctl: give one of --at, --in and --cancel")
	}
	switch {
	case cancel:
		if _, err := call(ctx, c, func(ctx context.Context) (struct{}, error) {
			return struct{}{}, c.client.CancelScheduledResume(ctx, site)
		}); err != nil {
			return err
		}
		if c.json {
			return c.printJSON(struct{}{})
		}
		fmt.Fprintf(c.out, "cancelled the scheduled resume of %s; paused sites stay paused\n", sitesText(site))
		return nil
	case at != "" || in != 0:
		var when time.Time
		if at != "" {
			t, err := time.Parse(time.RFC3339, at)
			if err != nil {
				return fmt.Errorf("ctl: --at must be an RFC 3339 time such as 2030-01-02T15:04:05Z: %w", err)
			}
			when = t
		} else {
			if in < 0 {
				return fmt.Errorf("ctl: --in must be positive, got %s", in)
			}
			when = time.Now().Add(in)
		}
		if _, err := call(ctx, c, func(ctx context.Context) (struct{}, error) {
			return struct{}{}, c.client.ScheduleResumeAt(ctx, site, when)
		}); err != nil {
			return err
		}
		sched, err := call(ctx, c, func(ctx context.Context) (map[string]string, error) { return c.client.ResumeSchedule(ctx, site) })
		if err != nil {
			return err
		}
		if c.json {
			return c.printJSON(sched)
		}
		for _, s := range slices.Sorted(maps.Keys(sched)) {
			if sched[s] == "none" {
				fmt.Fprintf(c.out, "%s is not paused: nothing to resume later\n", s)
			} else {
				fmt.Fprintf(c.out, "%s resumes at %s\n", s, sched[s])
			}
		}
		return nil
	}
	if _, err := call(ctx, c, func(ctx context.Context) (struct{}, error) { return struct{}{}, c.client.Resume(ctx, site) }); err != nil {
		return err
	}
	if c.json {
		return c.printJSON(struct{}{})
	}
	fmt.Fprintf(c.out, "resumed replication to %s\n", sitesText(site))
	return nil
}
