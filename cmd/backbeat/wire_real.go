package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/openbackbeat/backbeat/adapters/kafkabus"
	"github.com/openbackbeat/backbeat/adapters/mongojournal"
	"github.com/openbackbeat/backbeat/adapters/mongometa"
	"github.com/openbackbeat/backbeat/adapters/redisstore"
	"github.com/openbackbeat/backbeat/adapters/s3site"
	"github.com/openbackbeat/backbeat/ports"
)

// wireReal builds every port on the real services the configuration names.
// On error, whatever was already opened is closed.
func wireReal(ctx context.Context, cfg Config, log *slog.Logger) (_ *wiring, err error) {
	w := &wiring{dests: map[string]ports.Destination{}, destBuckets: map[string]bucketMaker{}, health: map[string]func(context.Context) error{},
		listings: map[string]ports.SiteListing{}}
	// w, not the result, which is nil on error.
	defer func() {
		if err != nil {
			w.close()
		}
	}()

	mcfg := cfg.Mongo.Config
	mcfg.Logger = log
	meta, err := mongometa.New(ctx, mcfg)
	if err != nil {
		return nil, fmt.Errorf("mongo metadata: %w", err)
	}
	w.closers = append(w.closers, func() error { return meta.Close(context.Background()) })
	w.metadata, w.writer, w.checkpoints = meta, meta, meta
	w.jobs, w.scanner, w.findings = meta, meta, meta
	w.health["mongo"] = func(ctx context.Context) error { return meta.Client().Ping(ctx, nil) }

	jcfg := cfg.Mongo.journal()
	jcfg.Logger = log
	journal, err := mongojournal.NewWithClient(meta.Client(), jcfg)
	if err != nil {
		return nil, fmt.Errorf("mongo journal: %w", err)
	}
	w.closers = append(w.closers, func() error { return journal.Close(context.Background()) })
	w.journal = journal

	kcfg := cfg.Kafka
	kcfg.Logger = log
	if err := kafkabus.EnsureTopics(ctx, kcfg, cfg.Topics.Entries, cfg.Topics.Status, cfg.Topics.Replay, cfg.Topics.DeadLetter); err != nil {
		return nil, fmt.Errorf("kafka topics: %w", err)
	}
	pub, err := kafkabus.NewPublisher(kcfg)
	if err != nil {
		return nil, fmt.Errorf("kafka publisher: %w", err)
	}
	w.closers = append(w.closers, pub.Close)
	// One writer per populator lease, so its transactional id is the
	// lease's: the next holder aborts what a dead one left open. It
	// connects on first use, so processes without the populator open no
	// connection for it and fence nobody.
	popPub, err := kafkabus.NewTransactionalPublisher(kcfg, "backbeat-populator-"+cfg.Topics.Entries+"-"+cfg.Populator.CheckpointName)
	if err != nil {
		return nil, fmt.Errorf("kafka publisher: %w", err)
	}
	w.closers = append(w.closers, popPub.Close)
	w.populatorPub = popPub
	sub, err := kafkabus.NewSubscriber(kcfg)
	if err != nil {
		return nil, fmt.Errorf("kafka subscriber: %w", err)
	}
	w.closers = append(w.closers, sub.Close)
	w.pub, w.sub = pub, sub
	w.health["kafka"] = func(ctx context.Context) error { return kafkabus.Healthy(ctx, kcfg) }
	w.bus = busHealth(pub, cfg.Topics.Entries, cfg.Topics.Status, cfg.Topics.Replay, cfg.Topics.DeadLetter)

	rcfg := cfg.Redis
	rcfg.Logger = log
	rs, err := redisstore.New(rcfg)
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	w.closers = append(w.closers, rs.Close)
	w.failures, w.locker, w.metrics, w.control = rs.Failures(), rs.Locker(), rs.Metrics(), rs.SiteControl()
	w.progress = rs.Progress()
	w.leases = rs.Locker()
	w.health["redis"] = rs.Healthy

	src, err := s3site.New(ctx, cfg.Source)
	if err != nil {
		return nil, fmt.Errorf("source S3: %w", err)
	}
	w.closers = append(w.closers, src.Close)
	w.source, w.sourceObjects = src.Source(), src
	for _, site := range cfg.Sites {
		c, err := s3site.New(ctx, site.S3)
		if err != nil {
			return nil, fmt.Errorf("site %s S3: %w", site.Name, err)
		}
		w.closers = append(w.closers, c.Close)
		w.dests[site.Name], w.destBuckets[site.Name] = c.Destination(), c
		w.listings[site.Name] = c.Listing()
	}
	return w, nil
}
