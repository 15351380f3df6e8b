package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/openbackbeat/backbeat/adapters/mongometa"
	"github.com/openbackbeat/backbeat/adapters/s3front"
	"github.com/openbackbeat/backbeat/adapters/s3site"
	"github.com/openbackbeat/backbeat/app"
)

// runS3Front serves `backbeat s3`: an S3 endpoint playing CloudServer in
// front of the source S3 server. It needs only MongoDB and the source S3
// server, so it connects to nothing else.
func runS3Front(ctx context.Context, cfg Config, log *slog.Logger) error {
	if cfg.Backend != "real" {
		return errors.New("backbeat s3 needs backend: real (it forwards to the source S3 server and writes MongoDB)")
	}
	mcfg := cfg.Mongo.Config
	mcfg.Logger = log
	meta, err := mongometa.New(ctx, mcfg)
	if err != nil {
		return fmt.Errorf("mongo metadata: %w", err)
	}
	defer func() { _ = meta.Close(context.WithoutCancel(ctx)) }()
	src, err := s3site.New(ctx, cfg.Source)
	if err != nil {
		return fmt.Errorf("source S3: %w", err)
	}
	defer func() { _ = src.Close() }()
	sim := &app.Simulator{Metadata: meta, Objects: src, Versions: meta}
	front, err := s3front.New(cfg.S3Front, s3front.Source{
		Endpoint: cfg.Source.Endpoint, AccessKey: cfg.Source.AccessKey, SecretKey: cfg.Source.SecretKey, Client: src.S3(),
	}, sim, cfg.SiteNames(), log)
	if err != nil {
		return err
	}
	return front.Serve(ctx)
}
