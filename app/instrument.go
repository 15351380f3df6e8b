package app

import (
	"context"
	"errors"
	"io"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// The source and the destination, as the replicator drives them for one
// entry, are decorated: each call is a span (read, write, write-tags, under
// the entry's replicate span) and one of upstream's replication stages, so
// the use case calls plain ports. The decorators are made per entry, from
// the replicator's ports, because the stages carry the entry's replay count
// and metadata size, and the read span the version's size, which the
// ports' calls are not given.

// instrumented returns the replicator's source and destination decorated
// for entry, a copy of obj.
func (r *Replicator) instrumented(entry domain.Entry, obj domain.ObjectVersion) (ports.ObjectSource, ports.Destination) {
	st := entryStages{tel: r.Telemetry, site: r.site, entry: entry}
	return instrumentedSource{next: r.Source, stages: st, size: obj.Size}, instrumentedDestination{next: r.Destination, stages: st}
}

// entryStages records the stages of one entry's copy to a site.
type entryStages struct {
	tel   *Telemetry
	site  string
	entry domain.Entry
}

func (s entryStages) done(ctx context.Context, stage string, bytes int64, start time.Time) {
	s.tel.stageDone(ctx, s.site, s.entry, stage, bytes, time.Since(start))
}

// metadataBytes is the size of the entry's metadata, which every write
// carries to the site.
func (s entryStages) metadataBytes() int64 { return int64(len(s.entry.Value)) }

// instrumentedSource is an ObjectSource whose reads are "read" spans and
// source-data-read stages.
type instrumentedSource struct {
	next   ports.ObjectSource
	stages entryStages
	size   int64 // the version's, for the span
}

// Open starts the read span. It covers the whole streamed read, which runs
// while the write sends the data on: it ends when the body is closed, and
// the stage is measured from Open to Close. An error of Open or of a read
// of the body is recorded on it.
func (s instrumentedSource) Open(ctx context.Context, bucket, key, versionID string) (io.ReadCloser, error) {
	ctx, span := tracer.Start(ctx, "read", trace.WithAttributes(attribute.Int64("bytes", s.size)))
	start := time.Now()
	rc, err := s.next.Open(ctx, bucket, key, versionID)
	if err != nil {
		span.RecordError(err)
		span.End()
		return nil, err
	}
	return &tracedBody{rc: rc, span: span, done: func(n int64) { s.stages.done(ctx, stageSourceDataRead, n, start) }}, nil
}

// tracedBody is a body read in its read span; it is read by one goroutine
// at a time, as any io.Reader.
type tracedBody struct {
	rc     io.ReadCloser
	span   trace.Span
	done   func(read int64)
	n      int64 // bytes read
	failed bool  // a read error is recorded
	closed bool
}

func (b *tracedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.n += int64(n)
	if err != nil && !errors.Is(err, io.EOF) && !b.failed {
		b.failed = true
		b.span.RecordError(err)
	}
	return n, err
}

// Close closes the body, then measures the stage and ends the span, once.
func (b *tracedBody) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	err := b.rc.Close()
	b.done(b.n)
	b.span.End()
	return err
}

// instrumentedDestination is a Destination whose writes are "write" and
// "write-tags" spans and destination-write stages.
type instrumentedDestination struct {
	next   ports.Destination
	stages entryStages
}

// Put is a write span. The data and its metadata go in one request: a
// delete marker is a metadata write, anything else a data write carrying
// the metadata. Only a write that succeeded is a stage.
func (d instrumentedDestination) Put(ctx context.Context, r ports.Replica, body io.Reader) (string, error) {
	ctx, span := tracer.Start(ctx, "write", trace.WithAttributes(attribute.Int64("bytes", r.Size)))
	defer span.End()
	start := time.Now()
	v, err := d.next.Put(ctx, r, body)
	if err != nil {
		span.RecordError(err)
		return v, err
	}
	if r.IsDeleteMarker {
		d.stages.done(ctx, stageMetadataWrite, d.stages.metadataBytes(), start)
	} else {
		d.stages.done(ctx, stageDataWrite, r.Size, start)
		d.stages.tel.metadataCarried(ctx, d.stages.site, d.stages.entry)
	}
	return v, nil
}

// SetTags is a write-tags span, saying whether the tags changed; one that
// succeeded is a metadata write stage.
func (d instrumentedDestination) SetTags(ctx context.Context, r ports.Replica, hint string) (string, bool, error) {
	ctx, span := tracer.Start(ctx, "write-tags", trace.WithAttributes(attribute.Int("tags", len(r.Tags))))
	defer span.End()
	start := time.Now()
	v, changed, err := d.next.SetTags(ctx, r, hint)
	if err != nil {
		span.RecordError(err)
		return v, changed, err
	}
	d.stages.done(ctx, stageMetadataWrite, d.stages.metadataBytes(), start)
	span.SetAttributes(attribute.Bool("changed", changed))
	return v, changed, nil
}
