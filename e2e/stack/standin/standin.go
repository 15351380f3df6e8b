// Package standin measures the local stack's MongoDB stand-in
// (mongo-java-server, a JVM): its RSS and live heap, and loads it with
// versions written through the simulator. The stack's heap measurement
// (e2e/stack/standinheap) and the soak (e2e/stack/soak) use it.
package standin

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/openbackbeat/backbeat/adapters/memory"
	"github.com/openbackbeat/backbeat/adapters/mongometa"
	"github.com/openbackbeat/backbeat/app"
	"github.com/openbackbeat/backbeat/domain"
)

// URI is the stand-in's address in the local stack.
const URI = "mongodb://127.0.0.1:27117"

// PID reads the stand-in's pid from the stack's pid file.
func PID(pidFile string) (string, error) {
	raw, err := os.ReadFile(pidFile)
	if err != nil {
		return "", fmt.Errorf("stand-in pid: %w", err)
	}
	return strings.TrimSpace(string(raw)), nil
}

// Sample is one measurement, in MiB: RSS, peak RSS (VmHWM) and the live
// heap after a full GC.
type Sample struct{ RSS, PeakRSS, Heap float64 }

var usedRe = regexp.MustCompile(`used (\d+)K`)

// Measure runs a full GC of the JVM pid (jcmd GC.run: a pause of the
// shared stand-in, not a disturbance), then reads its live heap (the
// generations' "used") and its RSS.
func Measure(pid string) (Sample, error) {
	var s Sample
	if out, err := exec.Command("jcmd", pid, "GC.run").CombinedOutput(); err != nil {
		return s, fmt.Errorf("jcmd GC.run: %v: %s", err, out)
	}
	out, err := exec.Command("jcmd", pid, "GC.heap_info").CombinedOutput()
	if err != nil {
		return s, fmt.Errorf("jcmd GC.heap_info: %v: %s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		t := strings.TrimSpace(line)
		if !strings.HasPrefix(t, "def new generation") && !strings.HasPrefix(t, "tenured generation") {
			continue
		}
		if m := usedRe.FindStringSubmatch(t); m != nil {
			k, _ := strconv.ParseFloat(m[1], 64)
			s.Heap += k / 1024
		}
	}
	status, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return s, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		k, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			s.RSS = k / 1024
		case "VmHWM:":
			s.PeakRSS = k / 1024
		}
	}
	return s, nil
}

// WriteVersions writes n versions (one byte of data each, kept in memory:
// only the metadata reaches the stand-in, as CloudServer writes it) into a
// replicated bucket of the throwaway database db, writers at once.
func WriteVersions(ctx context.Context, uri, db string, n, writers int) error {
	meta, err := mongometa.New(ctx, mongometa.Config{URI: uri, Database: db, Timeout: time.Minute})
	if err != nil {
		return err
	}
	defer func() { _ = meta.Close(context.WithoutCancel(ctx)) }()
	sim := &app.Simulator{Metadata: meta, Objects: memory.NewObjects().Writer()}
	b := domain.Bucket{Name: "standin", VersioningEnabled: true, VFormat: "v0", Replication: &domain.ReplicationConfig{
		Role:  "arn:aws:iam::000000000000:role/standin",
		Rules: []domain.ReplicationRule{{ID: "all", Enabled: true, DestinationBucket: "arn:aws:s3:::standin-replica", StorageClass: "site-a,site-b"}},
	}}
	if err := sim.CreateBucket(ctx, b); err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(writers)
	var done atomic.Int64
	for i := range n {
		g.Go(func() error {
			_, err := sim.PutObject(gctx, b, fmt.Sprintf("obj-%06d", i), []byte("x"), "text/plain",
				map[string]string{"n": strconv.Itoa(i)}, map[string]string{"origin": "standin"})
			if d := done.Add(1); d%5000 == 0 {
				log.Printf("standin: %d versions written", d)
			}
			return err
		})
	}
	return g.Wait()
}

// Drop drops db.
func Drop(ctx context.Context, uri, db string) error {
	meta, err := mongometa.New(ctx, mongometa.Config{URI: uri, Database: db, Timeout: time.Minute})
	if err != nil {
		return err
	}
	defer func() { _ = meta.Close(context.WithoutCancel(ctx)) }()
	return meta.Database().Drop(ctx)
}
