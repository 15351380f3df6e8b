// Command backbeat-bench measures the replication service on the local
// stack against baselines measured in the same run, on the same servers, at
// the same concurrency: a plain Go copy loop (the physical limit of the
// setup) and rclone (what a user might pick instead). It runs the built
// backbeat binary as separate processes (populator, replicator, status)
// with an isolated configuration, prints a table and writes
// .bench/results.json.
//
// The machines these run on are noisy, so every throughput is a ratio
// against a baseline taken minutes apart, never an absolute figure.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"text/tabwriter"
	"time"
)

// Result is one row of the table and of results.json.
type Result struct {
	Name     string  `json:"name"`
	Unit     string  `json:"unit"`
	Value    float64 `json:"value"`
	Baseline float64 `json:"baseline"`
	Ratio    float64 `json:"ratio"`
	Target   string  `json:"target"`
	Met      bool    `json:"met"`
	Note     string  `json:"note,omitempty"`
}

type options struct {
	bin             string
	out             string
	objects         int
	small           int
	smallSize       int
	bigSize         int64
	concurrency     int
	partSize        int64
	inFlight        int
	popEvents       int
	steadyFor       time.Duration
	skipRclone      bool
	skipBig         bool
	skipPop         bool
	skipSteady      bool
	skipStages      bool
	skipCloudServer bool
	profileSecs     int
	workloadWait    time.Duration
	logLevel        string
	site            string
	purge           bool
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin/backbeat", "the backbeat binary to run")
	flag.StringVar(&o.out, "out", ".bench", "directory for results.json, logs and profiles")
	flag.IntVar(&o.objects, "objects", 2000, "objects of the large small-object workload (the issue asks 10,000: mongo-java-server cannot take it in minutes, see README)")
	flag.IntVar(&o.small, "small", 200, "objects of the small small-object workload (time per object is compared to -objects)")
	flag.IntVar(&o.smallSize, "size", 4096, "bytes per small object")
	flag.Int64Var(&o.bigSize, "big", 1<<30, "bytes of the single large object")
	flag.IntVar(&o.concurrency, "concurrency", 16, "replication.concurrency, raw copy workers and rclone --transfers")
	flag.Int64Var(&o.partSize, "part-size", 5<<20, "multipart part size (service and raw copy; the service default)")
	flag.IntVar(&o.inFlight, "parts-in-flight", 4, "parts in flight per multipart copy (service and raw copy)")
	flag.IntVar(&o.popEvents, "populator-events", 10000, "version documents written for the populator-only workload")
	flag.DurationVar(&o.steadyFor, "steady", 15*time.Second, "duration of the steady-load workload")
	flag.BoolVar(&o.skipRclone, "skip-rclone", false, "skip the rclone baseline")
	flag.BoolVar(&o.skipBig, "skip-big", false, "skip the large-object workload")
	flag.BoolVar(&o.skipPop, "skip-populator", false, "skip the populator-only workload")
	flag.BoolVar(&o.skipSteady, "skip-steady", false, "skip the steady-load workload")
	flag.BoolVar(&o.skipStages, "skip-stages", false, "skip the per-stage drains (populator, replicator, status write-back, end to end, CPU per object, scaling)")
	flag.BoolVar(&o.skipCloudServer, "skip-cloudserver", false, "skip the small-object workloads timed from the first metadata write (CloudServer included)")
	flag.IntVar(&o.profileSecs, "profile-seconds", 8, "seconds of CPU profile taken of the service during each workload (0: none)")
	flag.DurationVar(&o.workloadWait, "timeout", 5*time.Minute, "give up on a workload after this long")
	flag.StringVar(&o.logLevel, "log-level", "warn", "log level of the service processes (logs in -out)")
	flag.StringVar(&o.site, "site", "site-b", "destination site of the local stack: site-a or site-b (default site-b: other tests stop site-a to simulate outages)")
	flag.BoolVar(&o.purge, "purge", false, "only remove what interrupted bench runs left on the local stack (databases bench_*, topics, Redis keys and buckets bench*), then exit; not while a bench runs")
	flag.Parse()
	if siteEndpoints[o.site] == "" {
		fmt.Fprintf(os.Stderr, "bench: -site must be site-a or site-b, got %q\n", o.site)
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.purge {
		if err := purgeLeftovers(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "bench: left behind:", err)
			os.Exit(1)
		}
		return
	}
	start := time.Now()
	results, err := run(ctx, o)
	printTable(os.Stdout, results)
	if werr := writeResults(filepath.Join(o.out, "results.json"), results); werr != nil {
		fmt.Fprintln(os.Stderr, "bench:", werr)
	}
	fmt.Printf("\nwrote %s (total %s)\n", filepath.Join(o.out, "results.json"), time.Since(start).Round(time.Second))
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func printTable(w *os.File, rs []Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight|tabwriter.Debug)
	fmt.Fprintln(tw, "workload\tunit\tvalue\tbaseline\tratio\ttarget\tmet\t")
	for _, r := range rs {
		base, ratio := "-", "-"
		if r.Baseline != 0 {
			base, ratio = num(r.Baseline), fmt.Sprintf("%.2fx", r.Ratio)
		}
		met := "no"
		switch {
		case r.Target == "-": // a measurement with no target
			met = "-"
		case r.Met:
			met = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Name, r.Unit, num(r.Value), base, ratio, r.Target, met)
	}
	tw.Flush()
	for _, r := range rs {
		if r.Note != "" {
			fmt.Fprintf(w, "  %s: %s\n", r.Name, r.Note)
		}
	}
}

func num(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

func writeResults(path string, rs []Result) error {
	if rs == nil {
		rs = []Result{}
	}
	data, err := json.MarshalIndent(rs, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// ratioRow is a throughput compared with a baseline: met when
// value/baseline >= want.
func ratioRow(name, unit string, value, baseline, want float64) Result {
	r := Result{Name: name, Unit: unit, Value: value, Baseline: baseline, Target: fmt.Sprintf(">= %gx", want)}
	if baseline > 0 {
		r.Ratio = value / baseline
		r.Met = r.Ratio >= want
	}
	return r
}

// limitRow is an absolute figure with a ceiling (max) or a floor.
func limitRow(name, unit string, value, limit float64, ceiling bool) Result {
	r := Result{Name: name, Unit: unit, Value: value}
	if ceiling {
		r.Target, r.Met = "<= "+num(limit), value <= limit
	} else {
		r.Target, r.Met = ">= "+num(limit), value >= limit
	}
	return r
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
