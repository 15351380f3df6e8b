package otelslog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/openbackbeat/backbeat/adapters/otelslog"
)

func TestHandlerAddsTraceIDsOnlyWhenASpanIsActive(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(otelslog.NewHandler(slog.NewJSONHandler(&buf, nil))).With("role", "test")
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
	})
	ctx := trace.ContextWithSpanContext(context.Background(), sc)

	log.InfoContext(ctx, "with span", "k", "v")
	log.Info("without span")
	log.InfoContext(context.Background(), "empty context")

	dec := json.NewDecoder(&buf)
	var lines []map[string]any
	for dec.More() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want 3", len(lines))
	}
	if lines[0]["trace_id"] != "4bf92f3577b34da6a3ce929d0e0e4736" || lines[0]["span_id"] != "00f067aa0ba902b7" || lines[0]["role"] != "test" || lines[0]["k"] != "v" {
		t.Errorf("line with a span: %v", lines[0])
	}
	for _, l := range lines[1:] {
		if _, ok := l["trace_id"]; ok {
			t.Errorf("line without a span has a trace id: %v", l)
		}
	}
}

func TestHandlerKeepsLevelAndGroups(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	h := otelslog.NewHandler(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if h.Enabled(context.Background(), slog.LevelInfo) || !h.Enabled(context.Background(), slog.LevelWarn) {
		t.Fatal("Enabled does not follow the inner handler's level")
	}
	slog.New(h).WithGroup("g").Warn("grouped", "k", 1)
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if g, ok := m["g"].(map[string]any); !ok || g["k"] != float64(1) {
		t.Fatalf("group lost: %s", buf.Bytes())
	}
}
