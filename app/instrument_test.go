package app

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// recordSpans makes the global TracerProvider record spans in memory until
// the test ends; tests that call it must not run in parallel.
func recordSpans(t *testing.T) *tracetest.InMemoryExporter {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() {
		otel.SetTracerProvider(prev)
		_ = tp.Shutdown(context.Background())
	})
	return exp
}

// spansNamed returns the ended spans called name.
func spansNamed(exp *tracetest.InMemoryExporter, name string) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

func spanAttr(s tracetest.SpanStub, key attribute.Key) attribute.Value {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}

// recordedErrors are the messages of the errors recorded on s.
func recordedErrors(s tracetest.SpanStub) []string {
	var out []string
	for _, ev := range s.Events {
		if ev.Name != "exception" {
			continue
		}
		for _, kv := range ev.Attributes {
			if kv.Key == "exception.message" {
				out = append(out, kv.Value.AsString())
			}
		}
	}
	return out
}

// counterTotal sums the points of the int64 counter called name.
func counterTotal(t *testing.T, r *sdkmetric.ManualReader, name string) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if sum, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == name {
				for _, p := range sum.DataPoints {
					n += p.Value
				}
			}
		}
	}
	return n
}

func newTestTelemetry(t *testing.T) (*Telemetry, *sdkmetric.ManualReader) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	tel, err := NewTelemetry(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))
	if err != nil {
		t.Fatal(err)
	}
	return tel, reader
}

// brokenBody gives data, then fails.
type brokenBody struct {
	data   *strings.Reader
	err    error
	closed int
}

func (b *brokenBody) Read(p []byte) (int, error) {
	if b.data.Len() == 0 {
		return 0, b.err
	}
	return b.data.Read(p)
}

func (b *brokenBody) Close() error { b.closed++; return nil }

// fakeSource opens body, or fails with err.
type fakeSource struct {
	body io.ReadCloser
	err  error
}

func (s fakeSource) Open(context.Context, string, string, string) (io.ReadCloser, error) {
	return s.body, s.err
}

// TestReadSpanCoversTheStreamedRead checks that the read span of a
// decorated source is open while its body is read, records the body's
// read error, and ends, with the read stage measured, when the body is
// closed: once, however often it is closed.
func TestReadSpanCoversTheStreamedRead(t *testing.T) {
	exp := recordSpans(t)
	tel, reader := newTestTelemetry(t)
	ctx, parent := tracer.Start(context.Background(), "replicate")
	defer parent.End()
	body := &brokenBody{data: strings.NewReader("hello"), err: errors.New("connection reset mid-body")}
	src := instrumentedSource{next: fakeSource{body: body}, stages: entryStages{tel: tel, site: "site-a"}, size: 42}

	rc, err := src.Open(ctx, "b", "k", "v")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	if string(got) != "hello" || err == nil || err.Error() != "connection reset mid-body" {
		t.Fatalf("read %q, %v; want hello and the body's error", got, err)
	}
	if n := len(spansNamed(exp, "read")); n != 0 {
		t.Fatalf("%d read spans ended before the body was closed, want 0", n)
	}
	if n := counterTotal(t, reader, "s3_replication_data_read"); n != 0 {
		t.Fatalf("%d reads counted before the body was closed, want 0", n)
	}
	if err := rc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := rc.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if body.closed != 1 {
		t.Errorf("the source's body was closed %d times, want 1", body.closed)
	}
	reads := spansNamed(exp, "read")
	if len(reads) != 1 {
		t.Fatalf("%d read spans after the body was closed, want 1", len(reads))
	}
	s := reads[0]
	if s.Parent.SpanID() != parent.SpanContext().SpanID() {
		t.Errorf("read span's parent is %v, want the replicate span %v", s.Parent.SpanID(), parent.SpanContext().SpanID())
	}
	if b := spanAttr(s, "bytes").AsInt64(); b != 42 {
		t.Errorf("read span has bytes=%d, want the version's 42", b)
	}
	if errs := recordedErrors(s); len(errs) != 1 || errs[0] != "connection reset mid-body" {
		t.Errorf("read span recorded errors %q, want the body's read error once", errs)
	}
	if n := counterTotal(t, reader, "s3_replication_data_read"); n != 1 {
		t.Errorf("%d reads counted, want 1", n)
	}
	if n := counterTotal(t, reader, "s3_replication_source_data_bytes"); n != 5 {
		t.Errorf("%d source bytes counted, want the 5 read", n)
	}
}

// TestReadSpanOfAFailedOpen checks that a source that cannot be opened
// ends its read span at once, with the error, and counts no read.
func TestReadSpanOfAFailedOpen(t *testing.T) {
	exp := recordSpans(t)
	tel, reader := newTestTelemetry(t)
	gone := errors.New("no such version")
	src := instrumentedSource{next: fakeSource{err: gone}, stages: entryStages{tel: tel, site: "site-a"}}
	if _, err := src.Open(context.Background(), "b", "k", "v"); !errors.Is(err, gone) {
		t.Fatalf("open: %v, want the source's error", err)
	}
	reads := spansNamed(exp, "read")
	if len(reads) != 1 || len(recordedErrors(reads[0])) != 1 {
		t.Fatalf("read spans %v, want one with the error", reads)
	}
	if n := counterTotal(t, reader, "s3_replication_data_read"); n != 0 {
		t.Errorf("%d reads counted, want 0", n)
	}
}

// fakeDestination answers every call with its fields.
type fakeDestination struct {
	changed bool
	err     error
}

func (d fakeDestination) Put(context.Context, ports.Replica, io.Reader) (string, error) {
	return "v1", d.err
}

func (d fakeDestination) SetTags(context.Context, ports.Replica, string) (string, bool, error) {
	return "v1", d.changed, d.err
}

// TestWriteSpans checks the spans and stages of a decorated destination:
// a write span with the replica's size and its error, a write-tags span
// with the tags' number and whether they changed; only a write that
// succeeded is a stage.
func TestWriteSpans(t *testing.T) {
	exp := recordSpans(t)
	tel, reader := newTestTelemetry(t)
	st := entryStages{tel: tel, site: "site-a", entry: domain.Entry{Value: `{"md":1}`}}
	replica := ports.Replica{Size: 7, Tags: map[string]string{"a": "1", "b": "2"}}
	ctx := context.Background()

	refused := errors.New("site refused the write")
	if _, err := (instrumentedDestination{next: fakeDestination{err: refused}, stages: st}).Put(ctx, replica, strings.NewReader("1234567")); !errors.Is(err, refused) {
		t.Fatalf("put: %v, want the site's error", err)
	}
	if _, err := (instrumentedDestination{next: fakeDestination{}, stages: st}).Put(ctx, replica, strings.NewReader("1234567")); err != nil {
		t.Fatal(err)
	}
	writes := spansNamed(exp, "write")
	if len(writes) != 2 {
		t.Fatalf("%d write spans, want 2", len(writes))
	}
	for _, s := range writes {
		if b := spanAttr(s, "bytes").AsInt64(); b != 7 {
			t.Errorf("write span has bytes=%d, want 7", b)
		}
	}
	if e0, e1 := recordedErrors(writes[0]), recordedErrors(writes[1]); len(e0) != 1 || len(e1) != 0 {
		t.Errorf("write spans recorded %q and %q, want the failed write's error only", e0, e1)
	}
	if n := counterTotal(t, reader, "s3_replication_data_bytes"); n != 7 {
		t.Errorf("%d data bytes counted, want 7: the write that succeeded", n)
	}

	v, changed, err := (instrumentedDestination{next: fakeDestination{changed: true}, stages: st}).SetTags(ctx, replica, "")
	if v != "v1" || !changed || err != nil {
		t.Fatalf("set tags: %q %v %v", v, changed, err)
	}
	tags := spansNamed(exp, "write-tags")
	if len(tags) != 1 || spanAttr(tags[0], "tags").AsInt64() != 2 || !spanAttr(tags[0], "changed").AsBool() {
		t.Fatalf("write-tags spans %v, want one with tags=2 and changed=true", tags)
	}
	// The data write carried the metadata, and the tags' write is one.
	if n := counterTotal(t, reader, "s3_replication_metadata_bytes"); n != 2*int64(len(st.entry.Value)) {
		t.Errorf("%d metadata bytes counted, want %d", n, 2*len(st.entry.Value))
	}
}
