package app_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/openbackbeat/backbeat/domain"
)

// installTracing makes the global TracerProvider record every span in
// memory, with the W3C propagator, until the test ends. It changes process
// globals: tests that call it must not run in parallel.
func installTracing(t *testing.T) *tracetest.InMemoryExporter {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() {
		otel.SetTracerProvider(prevTP)
		otel.SetTextMapPropagator(prevProp)
		_ = tp.Shutdown(context.Background())
	})
	return exp
}

func attr(s tracetest.SpanStub, key attribute.Key) attribute.Value {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}

// TestOneTracePerObjectVersion follows each version from the journal event
// through the populator, the bus, both replicators (with their read and
// write spans) to the status write-back, and checks they form one trace.
func TestOneTracePerObjectVersion(t *testing.T) {
	exp := installTracing(t) // before the harness, so it is restored after the roles stop
	sites := []string{"site-a", "site-b"}
	h := newHarness(t, sites...)
	bucket := fmt.Sprintf("traced-%d", time.Now().UnixNano())
	b := h.bucket(bucket)
	const n = 20
	var versions []domain.ObjectVersion
	for i := range n {
		versions = append(versions, h.put(b, fmt.Sprintf("key-%d", i), []byte(strings.Repeat("x", 10+i))))
	}
	for _, v := range versions {
		h.waitFor(v, "COMPLETED", aggregateIs(domain.StatusCompleted))
	}

	// The status applier ends its span after the write the test waited for:
	// wait for every apply-status span of this test's traces.
	var spans tracetest.SpanStubs
	byTrace := map[trace.TraceID][]tracetest.SpanStub{}
	populates := map[string]tracetest.SpanStub{} // by version id
	for deadline := time.Now().Add(10 * time.Second); ; {
		spans = exp.GetSpans()
		clear(byTrace)
		clear(populates)
		for _, s := range spans {
			byTrace[s.SpanContext.TraceID()] = append(byTrace[s.SpanContext.TraceID()], s)
			if s.Name == "populate" && attr(s, "bucket").AsString() == bucket {
				if prev, dup := populates[attr(s, "version").AsString()]; dup {
					t.Fatalf("two populate spans for version %s: %v and %v", attr(s, "version").AsString(), prev.SpanContext.SpanID(), s.SpanContext.SpanID())
				}
				populates[attr(s, "version").AsString()] = s
			}
		}
		applied := 0
		for _, p := range populates {
			for _, s := range byTrace[p.SpanContext.TraceID()] {
				if s.Name == "apply-status" {
					applied++
				}
			}
		}
		if len(populates) == n && applied == n*len(sites) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10s: %d populate spans (want %d), %d apply-status spans in their traces (want %d)", len(populates), n, applied, n*len(sites))
		}
		time.Sleep(5 * time.Millisecond)
	}

	traces := map[trace.TraceID]bool{}
	for _, v := range versions {
		p, ok := populates[v.VersionID]
		if !ok {
			t.Fatalf("no populate span for %s %s", v.Key, v.VersionID)
		}
		if p.Parent.IsValid() {
			t.Errorf("%s: populate span has a parent %v, want a root", v.Key, p.Parent.SpanID())
		}
		tid := p.SpanContext.TraceID()
		if traces[tid] {
			t.Fatalf("%s: trace %v is shared with another version", v.Key, tid)
		}
		traces[tid] = true
		trc := byTrace[tid]
		ids := map[trace.SpanID]tracetest.SpanStub{}
		for _, s := range trc {
			ids[s.SpanContext.SpanID()] = s
		}
		for _, site := range sites {
			var rep []tracetest.SpanStub
			for _, s := range trc {
				if s.Name == "replicate" && attr(s, "site").AsString() == site {
					rep = append(rep, s)
				}
			}
			if len(rep) != 1 {
				t.Fatalf("%s: %d replicate spans for %s in its trace, want 1", v.Key, len(rep), site)
			}
			r := rep[0]
			if r.Parent.SpanID() != p.SpanContext.SpanID() || !r.Parent.IsRemote() {
				t.Errorf("%s %s: replicate's parent is %v (remote %v), want the populate span %v across the bus", v.Key, site, r.Parent.SpanID(), r.Parent.IsRemote(), p.SpanContext.SpanID())
			}
			if attr(r, "version").AsString() != v.VersionID || attr(r, "key").AsString() != v.Key {
				t.Errorf("%s %s: replicate span names %s %s", v.Key, site, attr(r, "key").AsString(), attr(r, "version").AsString())
			}
			for _, child := range []string{"read", "write"} {
				found := 0
				for _, s := range trc {
					if s.Name == child && s.Parent.SpanID() == r.SpanContext.SpanID() {
						found++
						if got := attr(s, "bytes").AsInt64(); got != v.Size {
							t.Errorf("%s %s: %s span has bytes=%d, want %d", v.Key, site, child, got, v.Size)
						}
					}
				}
				if found != 1 {
					t.Errorf("%s %s: %d %s spans under replicate, want 1", v.Key, site, found, child)
				}
			}
			applied := 0
			for _, s := range trc {
				if s.Name != "apply-status" || attr(s, "site").AsString() != site {
					continue
				}
				applied++
				if parent, ok := ids[s.Parent.SpanID()]; !ok || parent.Name != "replicate" || attr(parent, "site").AsString() != site {
					t.Errorf("%s %s: apply-status span's parent %v is not the site's replicate span", v.Key, site, s.Parent.SpanID())
				}
				if attr(s, "status").AsString() != string(domain.StatusCompleted) {
					t.Errorf("%s %s: apply-status span has status %q", v.Key, site, attr(s, "status").AsString())
				}
			}
			if applied != 1 {
				t.Errorf("%s %s: %d apply-status spans, want 1", v.Key, site, applied)
			}
		}
	}
	if len(traces) != n {
		t.Fatalf("%d traces for %d versions", len(traces), n)
	}
}
