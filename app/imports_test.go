package app_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// importsOf returns every import path of the Go files in dir, by file.
func importsOf(t *testing.T, dir string) map[string][]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files in %s: %v", dir, err)
	}
	out := map[string][]string{}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := parser.ParseFile(token.NewFileSet(), f, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range parsed.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			out[f] = append(out[f], p)
		}
	}
	return out
}

// TestDomainImportsOnlyTheStandardLibrary keeps the domain pure.
func TestDomainImportsOnlyTheStandardLibrary(t *testing.T) {
	for file, imports := range importsOf(t, "../domain") {
		for _, p := range imports {
			if p == "github.com/openbackbeat/backbeat/domain" {
				continue // external tests of the domain itself
			}
			if first, _, _ := strings.Cut(p, "/"); strings.Contains(first, ".") {
				t.Errorf("%s imports %q: domain may import the standard library only", file, p)
			}
		}
	}
}

// TestAppImportsNoAdapterOrDriver keeps use cases wired to ports only.
func TestAppImportsNoAdapterOrDriver(t *testing.T) {
	forbidden := []string{
		"github.com/openbackbeat/backbeat/adapters", "github.com/openbackbeat/backbeat/cmd",
		"go.mongodb.org/", "github.com/IBM/sarama", "github.com/ThreeDotsLabs/", "github.com/aws/",
		"github.com/redis/", "go.opentelemetry.io/otel/sdk", "go.opentelemetry.io/otel/exporters",
	}
	for _, dir := range []string{".", "../ports"} {
		for file, imports := range importsOf(t, dir) {
			if strings.HasSuffix(file, "_test.go") && dir == "." {
				continue // component tests wire real adapters on purpose
			}
			for _, p := range imports {
				for _, bad := range forbidden {
					if strings.HasPrefix(p, bad) {
						t.Errorf("%s imports %q: app and ports must not import adapters, drivers or SDKs", file, p)
					}
				}
			}
		}
	}
}
