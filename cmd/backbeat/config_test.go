package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestShippedConfigsAreValid(t *testing.T) {
	for _, path := range []string{"../../configs/local.yaml", "../../configs/memory.yaml"} {
		if _, err := loadConfig(path, nil); err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// The file overrides the defaults, and BACKBEAT_<PATH> variables override
// the file, for every kind of field.
func TestEnvironmentOverridesTheFile(t *testing.T) {
	path := writeConfig(t, "replication:\n  concurrency: 8\n  baseDelay: 1s\nlog:\n  level: warn\n")
	cfg, err := loadConfig(path, []string{
		"BACKBEAT_KAFKA_BROKERS=127.0.0.1:1,127.0.0.1:2",
		"BACKBEAT_REPLICATION_CONCURRENCY=32",
		"BACKBEAT_REPLICATION_BASEDELAY=250ms",
		"BACKBEAT_API_TOKEN=s3cret",
		"BACKBEAT_MONGO_URI=mongodb://127.0.0.1:1",
		"HOME=/ignored", "BACKBEAT_UNKNOWN=ignored",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Replication.Concurrency != 32 || cfg.Replication.BaseDelay != 250*time.Millisecond || cfg.Log.Level != "warn" ||
		cfg.API.Token != "s3cret" || cfg.Mongo.URI != "mongodb://127.0.0.1:1" ||
		!slices.Equal(cfg.Kafka.Brokers, []string{"127.0.0.1:1", "127.0.0.1:2"}) {
		t.Errorf("configuration %+v does not carry the file and the overrides", cfg)
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "s3cret") || !strings.Contains(string(out), "****") {
		t.Errorf("printed configuration shows the token:\n%s", out)
	}
}

// Every problem is reported at once, each naming its field or variable.
func TestEveryProblemIsListed(t *testing.T) {
	path := writeConfig(t, "sites: []\nlog:\n  level: loud\ntelemetry:\n  traces: zipkin\n  tracesFile: /tmp/t.json\nreplication:\n  maxReplays: -1\n")
	_, err := loadConfig(path, []string{"BACKBEAT_POPULATOR_BATCHSIZE=0", "BACKBEAT_MONGO_JOURNALMODE=oplog"})
	if err == nil {
		t.Fatal("an invalid configuration was accepted")
	}
	for _, field := range []string{"sites", "log.level", "telemetry.traces", "telemetry.tracesFile", "replication.maxReplays", "populator.batchSize", "mongo.journalMode"} {
		if !strings.Contains(err.Error(), field+":") {
			t.Errorf("error does not name %s:\n%v", field, err)
		}
	}

	_, err = loadConfig("", []string{"BACKBEAT_REPLICATION_CONCURRENCY=lots", "BACKBEAT_REPLICATION_MAXELAPSED=forever"})
	if err == nil || !strings.Contains(err.Error(), "BACKBEAT_REPLICATION_CONCURRENCY") || !strings.Contains(err.Error(), "BACKBEAT_REPLICATION_MAXELAPSED") {
		t.Errorf("bad variables: %v; want both named", err)
	}

	_, err = loadConfig(writeConfig(t, "replication:\n  concurency: 4\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "concurency") {
		t.Errorf("a misspelt field: %v; want it named", err)
	}
	if _, err := loadConfig(filepath.Join(t.TempDir(), "missing.yaml"), nil); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("a missing file: %v; want its path", err)
	}
}
