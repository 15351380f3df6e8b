package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/openbackbeat/backbeat/app"
)

// telemetry is what setupTelemetry installed: the app's instruments, the
// Prometheus exposition of every metric, and one shutdown for both
// providers.
type telemetry struct {
	app        *app.Telemetry
	prometheus http.Handler
	shutdown   func(context.Context) error
}

// setupTelemetry installs the W3C propagator that carries trace context in
// bus message headers, a MeterProvider exported to Prometheus (its own
// registry, with the Go runtime and process collectors), and the trace
// exporter the configuration names. Both providers also become the OTel
// globals, for libraries that instrument themselves.
func setupTelemetry(ctx context.Context, cfg TelemetryConfig) (*telemetry, error) {
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	res := resource.NewSchemaless(attribute.String("service.name", "backbeat"))

	mp, handler, err := newMeterProvider(res)
	if err != nil {
		return nil, err
	}
	otel.SetMeterProvider(mp)
	tel, err := app.NewTelemetry(mp)
	if err != nil {
		_ = mp.Shutdown(ctx)
		return nil, err
	}
	t := &telemetry{app: tel, prometheus: handler, shutdown: mp.Shutdown}

	var exp sdktrace.SpanExporter
	var out io.WriteCloser // the traces file, closed last
	switch cfg.Traces {
	case "none":
		return t, nil
	case "stdout":
		var w io.Writer = os.Stderr
		if cfg.TracesFile != "" {
			if out, err = os.OpenFile(cfg.TracesFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err != nil {
				break
			}
			w = out
		}
		exp, err = stdouttrace.New(stdouttrace.WithWriter(w))
	case "otlp":
		opts := []otlptracehttp.Option{otlptracehttp.WithInsecure()}
		if cfg.OTLPEndpoint != "" {
			opts = append(opts, otlptracehttp.WithEndpoint(cfg.OTLPEndpoint))
		}
		exp, err = otlptracehttp.New(ctx, opts...)
	default:
		err = fmt.Errorf("unknown exporter %q", cfg.Traces)
	}
	if err != nil {
		_ = mp.Shutdown(ctx)
		return nil, fmt.Errorf("telemetry.traces: trace exporter %s: %w", cfg.Traces, err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	t.shutdown = func(ctx context.Context) error {
		err := errors.Join(tp.Shutdown(ctx), mp.Shutdown(ctx))
		if out != nil {
			err = errors.Join(err, out.Close())
		}
		return err
	}
	return t, nil
}

// newMeterProvider returns a MeterProvider whose metrics the returned
// handler serves in the Prometheus exposition format. The registry is the
// provider's own, not Prometheus's global one, so two providers (tests)
// never collide.
func newMeterProvider(res *resource.Resource) (*sdkmetric.MeterProvider, http.Handler, error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, nil, fmt.Errorf("register Go collector: %w", err)
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, nil, fmt.Errorf("register process collector: %w", err)
	}
	exp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp), sdkmetric.WithResource(res))
	return mp, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), nil
}
