package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/IBM/sarama"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/openbackbeat/backbeat/adapters/mongometa"
	"github.com/openbackbeat/backbeat/adapters/s3site"
)

// bench holds the clients of one run.
type bench struct {
	o      options
	run    string // unique prefix of every bucket, topic, group, key
	src    *s3.Client
	dst    *s3.Client
	srcBkt *s3site.Client // creates versioned buckets, uploads the large object
	dstBkt *s3site.Client
	meta   *mongometa.Store
	cfg    string // the service's configuration file
	tag    string
	svc    map[string]*service
	stack  map[string]int
	notes  []string
	kafka  sarama.Client
	// baseCPU is each stage baseline's machine CPU per object, in ms, by
	// stage: what the stages would cost together at the baselines' cost.
	baseCPU map[string]float64
}

func run(ctx context.Context, o options) ([]Result, error) {
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return nil, err
	}
	b := &bench{o: o, run: fmt.Sprintf("bench%d", time.Now().UnixNano()%1e8), svc: map[string]*service{}, stack: stackPids()}
	var err error
	if b.src, err = rawS3(ctx, srcEndpoint, 2*o.concurrency); err != nil {
		return nil, err
	}
	if b.dst, err = rawS3(ctx, siteEndpoints[b.o.site], 2*o.concurrency); err != nil {
		return nil, err
	}
	s3cfg := func(ep string) s3site.Config {
		return s3site.Config{Endpoint: ep, Region: region, AccessKey: accessKey, SecretKey: secretKey,
			MultipartThreshold: 16 << 20, PartSize: o.partSize, MaxPartsInFlight: o.inFlight}
	}
	if b.srcBkt, err = s3site.New(ctx, s3cfg(srcEndpoint)); err != nil {
		return nil, err
	}
	if b.dstBkt, err = s3site.New(ctx, s3cfg(siteEndpoints[b.o.site])); err != nil {
		return nil, err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	db := "bench_" + b.run
	// A minute per operation, not the default 10 s: a loaded
	// mongo-java-server has been seen taking more than 10 s to answer a
	// write, and a failed CloudServer write would end the run.
	if b.meta, err = mongometa.New(ctx, mongometa.Config{URI: mongoURI, Database: db, Logger: quiet, Timeout: time.Minute}); err != nil {
		return nil, err
	}
	defer b.meta.Close(context.Background())
	defer func() { _ = b.meta.Database().Drop(context.Background()) }()
	logf("run %s: metadata database %s, concurrency %d", b.run, db, o.concurrency)

	if b.kafka, err = sarama.NewClient([]string{kafkaBroker}, sarama.NewConfig()); err != nil {
		return nil, err
	}
	defer b.kafka.Close()
	var results []Result
	if b.cfg, err = b.writeConfig("svc", db); err != nil {
		return nil, err
	}
	b.tag = b.run

	// Each stage alone, against the limit of what it uses.
	steadyRate := 0.0
	if !o.skipStages {
		st, err := b.stages(ctx)
		results = append(results, st.results...)
		if err != nil {
			return results, fmt.Errorf("stages: %w", err)
		}
		steadyRate = st.e2eRate / 2
		printTable(os.Stdout, results)
	}

	if err := b.startAll(ctx); err != nil {
		return nil, err
	}
	stopped := false
	stopAll := func() {
		if !stopped {
			for _, s := range b.svc {
				s.stop()
			}
			stopped = true
		}
	}
	defer stopAll()

	// Small objects timed from the first metadata write (CloudServer's
	// part, the stand-in's writes) to the last COMPLETED, as before the
	// per-stage rows.
	if !o.skipCloudServer {
		rs, rate, err := b.cloudServerIncluded(ctx)
		results = append(results, rs...)
		if err != nil {
			return results, err
		}
		if steadyRate == 0 {
			steadyRate = rate / 2
		}
		printTable(os.Stdout, results)
	}

	// 2.: one large object.
	if !o.skipBig {
		rs, err := b.largeObject(ctx)
		results = append(results, rs...)
		if err != nil {
			return results, fmt.Errorf("large object: %w", err)
		}
		printTable(os.Stdout, results)
	}

	// Steady load at half the end-to-end drain rate.
	if !o.skipSteady && steadyRate > 0 {
		rs, err := b.steady(ctx, steadyRate)
		results = append(results, rs...)
		if err != nil {
			return results, fmt.Errorf("steady load: %w", err)
		}
		printTable(os.Stdout, results)
	}
	stopAll()

	// 3.: the populator alone, on its own database and topic.
	if !o.skipPop {
		rs, err := b.populatorOnly(ctx)
		results = append(results, rs...)
		if err != nil {
			return results, fmt.Errorf("populator: %w", err)
		}
	}
	// 4.: what a compare-and-swap costs the MongoDB stand-in.
	cas, err := b.casCost(ctx)
	if err != nil {
		return results, fmt.Errorf("stand-in CAS cost: %w", err)
	}
	results = append(results, cas)
	for _, n := range b.notes {
		fmt.Println(n)
	}
	return results, nil
}

// cloudServerIncluded times -small and -objects small objects from the
// first metadata write to the last COMPLETED, against the raw copy and
// rclone; it returns the rows and the rate of -objects.
func (b *bench) cloudServerIncluded(ctx context.Context) ([]Result, float64, error) {
	o := b.o
	small, err := b.smallObjects(ctx, o.small, false)
	if err != nil {
		return nil, 0, fmt.Errorf("%d objects: %w", o.small, err)
	}
	big, err := b.smallObjects(ctx, o.objects, true)
	if err != nil {
		return nil, 0, fmt.Errorf("%d objects: %w", o.objects, err)
	}
	var results []Result
	name := fmt.Sprintf("CloudServer included: %d x %d B", o.objects, o.smallSize)
	r := ratioRow(name+" vs raw copy", "objects/s", big.rate, big.raw, 0.9)
	r.Note = big.note
	results = append(results, r)
	if big.rclone > 0 {
		results = append(results, ratioRow(name+" vs rclone", "objects/s", big.rate, big.rclone, 1.2))
	} else if big.rcloneErr != "" {
		results = append(results, Result{Name: name + " vs rclone", Unit: "objects/s", Value: big.rate, Target: ">= 1.2x", Note: "skipped: " + big.rcloneErr})
	}
	flat := Result{Name: fmt.Sprintf("CloudServer included: time/object %d vs %d", o.objects, o.small), Unit: "ms/object",
		Value: 1000 / big.rate, Baseline: 1000 / small.rate, Target: "<= 1.2x"}
	flat.Ratio = flat.Value / flat.Baseline
	flat.Met = flat.Ratio <= 1.2
	results = append(results, flat)
	return results, big.rate, nil
}
