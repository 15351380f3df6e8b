package main

import (
	"github.com/openbackbeat/backbeat/adapters/memory"
	"github.com/openbackbeat/backbeat/ports"
)

// wireMemory builds every port in memory: one process, no services. State
// is lost when the process stops; it serves demos and tests.
func wireMemory(cfg Config) (*wiring, error) {
	meta := memory.NewMetadata()
	bus, err := memory.NewBus(memory.BusConfig{Partitions: int(cfg.Kafka.TopicPartitions)})
	if err != nil {
		return nil, err
	}
	failures, err := memory.NewFailures(memory.FailuresConfig{})
	if err != nil {
		return nil, err
	}
	metrics, err := memory.NewMetrics(memory.MetricsConfig{})
	if err != nil {
		return nil, err
	}
	progress, err := memory.NewProgress(memory.ProgressConfig{})
	if err != nil {
		return nil, err
	}
	source := memory.NewObjects()
	locker := memory.NewLocker()
	w := &wiring{
		journal: meta, checkpoints: memory.NewCheckpoints(), metadata: meta, writer: meta,
		pub: bus, populatorPub: bus, sub: bus, source: source, sourceObjects: source.Writer(),
		dests: map[string]ports.Destination{}, destBuckets: map[string]bucketMaker{},
		failures: failures, locker: locker, metrics: metrics, control: memory.NewSiteControl(), progress: progress,
		closers: []func() error{bus.Close},
		jobs:    memory.NewJobs(), scanner: meta, leases: locker,
		listings: map[string]ports.SiteListing{}, findings: memory.NewFindings(),
	}
	for _, s := range cfg.Sites {
		d := memory.NewObjects()
		w.dests[s.Name], w.listings[s.Name] = d, d
		w.destBuckets[s.Name] = d.Writer()
	}
	return w, nil
}
