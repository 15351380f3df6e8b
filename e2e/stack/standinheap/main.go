// Command standinheap measures what the MongoDB stand-in holds per
// version written: its RSS and live heap (after a full GC, through jcmd)
// before and after writing -versions versions through the simulator
// (metadata as CloudServer writes it) into a throwaway database, and
// again once that database is dropped (what is left is the oplog, which
// the stack's trimmer bounds). The numbers are in e2e/stack/README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/openbackbeat/backbeat/e2e/stack/standin"
)

func main() {
	pidFile := flag.String("pid", ".stack/mongo/pid", "the stand-in's pid file")
	versions := flag.Int("versions", 10_000, "versions to write")
	writers := flag.Int("writers", 8, "versions written at once")
	flag.Parse()
	pid, err := standin.PID(*pidFile)
	if err != nil {
		log.Fatalf("standinheap: %v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	db := fmt.Sprintf("bench_heap_%d", time.Now().UnixNano()%1e8)
	defer func() { _ = standin.Drop(context.WithoutCancel(ctx), standin.URI, db) }()
	measure := func() standin.Sample {
		s, err := standin.Measure(pid)
		if err != nil {
			log.Fatalf("standinheap: %v", err)
		}
		return s
	}
	before := measure()
	start := time.Now()
	if err := standin.WriteVersions(ctx, standin.URI, db, *versions, *writers); err != nil {
		log.Printf("standinheap: %v", err)
		return
	}
	wrote := time.Since(start)
	after := measure()
	if err := standin.Drop(ctx, standin.URI, db); err != nil {
		log.Printf("standinheap: drop %s: %v", db, err)
		return
	}
	dropped := measure()
	fmt.Printf("wrote %d versions in %s\n%-22s %10s %10s\n", *versions, wrote.Round(time.Second), "", "RSS MiB", "heap MiB")
	for _, m := range []struct {
		name string
		s    standin.Sample
	}{{"before", before}, {"after writing", after}, {"after dropping the db", dropped}} {
		fmt.Printf("%-22s %10.1f %10.1f\n", m.name, m.s.RSS, m.s.Heap)
	}
	fmt.Printf("per %d versions: heap +%.1f MiB written, +%.1f MiB left after the drop (oplog); RSS +%.1f MiB\n",
		*versions, after.Heap-before.Heap, dropped.Heap-before.Heap, after.RSS-before.RSS)
}
