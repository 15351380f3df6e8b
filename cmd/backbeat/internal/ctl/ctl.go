// Package ctl is `backbeat ctl`, the operator CLI: it parses a command
// line, calls the operator HTTP API through apiclient and prints tables
// (or the API's JSON with --json). Run is its one entry point; the error it
// returns carries the process exit code, read with ExitCode (ExitDrift
// when `verify start --wait` found drift, else 1).
//
// Its commands, flags, output lines and exit codes are an interface that
// operators and scripts rely on: the tests assert them.
package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
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

// Run implements `backbeat ctl ...`: args are the arguments after "ctl".
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runPolling(ctx, args, stdout, stderr, 0)
}

// runPolling is Run with --wait reading the job every poll (0: the
// default).
func runPolling(ctx context.Context, args []string, stdout, stderr io.Writer, poll time.Duration) error {
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

// printID prints the id of a job just started: alone on its line, or as
// {"id": ...} with --json.
func (c *ctl) printID(id string) error {
	if c.json {
		return c.printJSON(map[string]string{"id": id})
	}
	fmt.Fprintln(c.out, id)
	return nil
}

// printAPIJSON prints the API's own JSON answer to GET route, as get
// reads it, indented.
func (c *ctl) printAPIJSON(ctx context.Context, route string, get func(context.Context) ([]byte, error)) error {
	raw, err := call(ctx, c, get)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return fmt.Errorf("the API answered GET %s with unexpected JSON: %w", route, err)
	}
	buf.WriteByte('\n')
	_, err = c.out.Write(buf.Bytes())
	return err
}

func (c *ctl) table() *tabwriter.Writer {
	return tabwriter.NewWriter(c.out, 0, 0, 2, ' ', 0)
}
