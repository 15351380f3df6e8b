// Command soak runs the day of use issue 18 asks the local stack to
// survive, on the running stack without restarting it: the e2e suite
// (full size) -e2e-runs times, the bench before the simulator load and
// after the last e2e pass, and -versions versions through the simulator
// in between. It prints the MongoDB stand-in's peak RSS, its live heap
// after the first e2e pass and at the end, and the bench's time per
// object and populator drain rate in the first and last run, and fails
// when the stand-in died (or was restarted), its heap at the end is over
// 1.5x the heap after the first pass, or the last drain rate is under
// 0.8x the first. `go tool task soak` runs it (not part of `task test`);
// flags shrink it for a quick check, e.g. -e2e-run TestSteadyLoad
// -e2e-full=false -versions 2000 -bench-args "-objects 200 -small 50 ...".
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/openbackbeat/backbeat/e2e/stack/standin"
)

type options struct {
	pidFile, e2eRun, benchArgs, bench, out string
	e2eRuns, versions                      int
	e2eFull                                bool
}

func main() {
	var o options
	flag.StringVar(&o.pidFile, "pid", ".stack/mongo/pid", "the stand-in's pid file")
	flag.IntVar(&o.e2eRuns, "e2e-runs", 2, "passes of the e2e suite")
	flag.BoolVar(&o.e2eFull, "e2e-full", true, "full-size e2e suite (BACKBEAT_E2E_FULL=1)")
	flag.StringVar(&o.e2eRun, "e2e-run", "", "only the e2e scenarios matching this -run pattern")
	flag.StringVar(&o.bench, "bench", "bin/backbeat-bench", "the bench binary")
	flag.StringVar(&o.benchArgs, "bench-args", "", "flags of the bench runs (space separated)")
	flag.StringVar(&o.out, "out", ".bench/soak", "directory of the bench runs' results")
	flag.IntVar(&o.versions, "versions", 50_000, "versions written through the simulator between the bench runs")
	flag.Parse()
	if err := run(o); err != nil {
		log.Fatalf("soak: %v", err)
	}
}

func run(o options) error {
	pid, err := standin.PID(o.pidFile)
	if err != nil {
		return err
	}
	measure := func(when string) (standin.Sample, error) {
		s, err := standin.Measure(pid)
		if err != nil {
			return s, fmt.Errorf("the stand-in (pid %s) %s: %w (did it die?)", pid, when, err)
		}
		log.Printf("soak: stand-in %s: RSS %.0f MiB (peak %.0f), live heap %.0f MiB", when, s.RSS, s.PeakRSS, s.Heap)
		return s, nil
	}
	start := time.Now()
	if err := e2ePass(o, 1); err != nil {
		return err
	}
	first, err := measure("after the first e2e pass")
	if err != nil {
		return err
	}
	b1, err := benchRun(o, 1)
	if err != nil {
		return err
	}
	db := fmt.Sprintf("bench_soak_%d", time.Now().UnixNano()%1e8)
	log.Printf("soak: %d versions through the simulator into %s", o.versions, db)
	ctx := context.Background()
	werr := standin.WriteVersions(ctx, standin.URI, db, o.versions, 8)
	if err := errors.Join(werr, standin.Drop(ctx, standin.URI, db)); err != nil {
		return fmt.Errorf("simulator load: %w", err)
	}
	for i := 2; i <= o.e2eRuns; i++ {
		if err := e2ePass(o, i); err != nil {
			return err
		}
	}
	b2, err := benchRun(o, 2)
	if err != nil {
		return err
	}
	last, err := measure("at the end")
	if err != nil {
		return err
	}
	fmt.Printf("soak: %s; stand-in peak RSS %.0f MiB; live heap %.0f MiB after the first e2e pass, %.0f MiB at the end (%.2fx, limit 1.5x)\n",
		time.Since(start).Round(time.Second), last.PeakRSS, first.Heap, last.Heap, last.Heap/first.Heap)
	fmt.Printf("soak: bench time per object %.1f ms first, %.1f ms last; populator drain %.0f entries/s first, %.0f last (%.2fx, limit 0.8x)\n",
		b1.msPerObject, b2.msPerObject, b1.drain, b2.drain, b2.drain/b1.drain)
	var bad []string
	if last.Heap > 1.5*first.Heap {
		bad = append(bad, fmt.Sprintf("the stand-in's heap grew %.2fx", last.Heap/first.Heap))
	}
	if b1.drain > 0 && b2.drain < 0.8*b1.drain {
		bad = append(bad, fmt.Sprintf("the populator drain fell to %.2fx", b2.drain/b1.drain))
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "; "))
	}
	return nil
}

func e2ePass(o options, n int) error {
	args := []string{"test", "-count=1", "-timeout=60m"}
	if o.e2eRun != "" {
		args = append(args, "-run", o.e2eRun)
	}
	args = append(args, "./e2e/")
	cmd := exec.Command("go", args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "CI=true") // a service down fails the pass instead of skipping it
	if o.e2eFull {
		cmd.Env = append(cmd.Env, "BACKBEAT_E2E_FULL=1")
	}
	log.Printf("soak: e2e pass %d: go %s", n, strings.Join(args, " "))
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("e2e pass %d: %w", n, err)
	}
	return nil
}

type benchResult struct{ msPerObject, drain float64 }

func benchRun(o options, n int) (benchResult, error) {
	out := filepath.Join(o.out, fmt.Sprint("run-", n))
	cmd := exec.Command(o.bench, append([]string{"-out", out}, strings.Fields(o.benchArgs)...)...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	log.Printf("soak: bench run %d: %s", n, strings.Join(cmd.Args, " "))
	if err := cmd.Run(); err != nil {
		return benchResult{}, fmt.Errorf("bench run %d: %w", n, err)
	}
	data, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		return benchResult{}, err
	}
	var rows []struct {
		Name  string  `json:"name"`
		Unit  string  `json:"unit"`
		Value float64 `json:"value"`
	}
	if err := json.Unmarshal(data, &rows); err != nil {
		return benchResult{}, fmt.Errorf("bench run %d results: %w", n, err)
	}
	var r benchResult
	for _, row := range rows {
		switch {
		case r.msPerObject == 0 && row.Unit == "objects/s" && strings.Contains(row.Name, " x ") && row.Value > 0:
			r.msPerObject = 1000 / row.Value
		case r.drain == 0 && strings.HasPrefix(row.Name, "populator drain") && row.Value > 0:
			r.drain = row.Value
		}
	}
	if r.msPerObject == 0 || r.drain == 0 {
		return r, fmt.Errorf("bench run %d: no small-object rate or populator drain in %s (skipped workloads?)", n, out)
	}
	return r, nil
}
