package main

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// sampleFor is a value for s unlike its default, as an environment variable
// and as YAML.
func sampleFor(t *testing.T, s setting) (env string, yml any, want any) {
	t.Helper()
	v := s.value
	switch {
	case v.Type() == reflect.TypeOf(time.Duration(0)):
		return "7m", "7m", 7 * time.Minute
	case v.Kind() == reflect.String:
		return "sample", "sample", "sample"
	case v.CanInt():
		return "7", 7, reflect.ValueOf(7).Convert(v.Type()).Interface()
	case v.Kind() == reflect.Bool:
		return fmt.Sprint(!v.Bool()), !v.Bool(), !v.Bool()
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String:
		return "a:1,b:2", []string{"a:1", "b:2"}, []string{"a:1", "b:2"}
	}
	t.Fatalf("%s: a %s cannot be given a sample value", s.path, v.Type())
	return
}

func settingAt(t *testing.T, cfg *Config, path string) setting {
	t.Helper()
	for _, s := range settings(reflect.ValueOf(cfg)) {
		if s.path == path {
			return s
		}
	}
	t.Fatalf("no setting %s", path)
	return setting{}
}

// yamlAt is a YAML document that sets path (sites[0].s3.endpoint) to v.
func yamlAt(path string, v any) map[string]any {
	name, rest, nested := strings.Cut(path, ".")
	inner := v
	if nested {
		inner = yamlAt(rest, v)
	}
	if base, ok := strings.CutSuffix(name, "[0]"); ok {
		return map[string]any{base: []any{inner}}
	}
	return map[string]any{name: inner}
}

// paths flattens a decoded YAML document into its leaves' paths, list
// elements written [0], [1], ...
func paths(prefix string, v any, out map[string]bool) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			paths(join(prefix, k), x, out)
		}
	case []any:
		if len(v) > 0 {
			if _, ok := v[0].(map[string]any); ok {
				for i, x := range v {
					paths(fmt.Sprintf("%s[%d]", prefix, i), x, out)
				}
				return
			}
		}
		out[prefix] = true
	default:
		out[prefix] = true
	}
}

var index = regexp.MustCompile(`\[\d+\]`)

// A setting has one home: every field of the configuration can be set
// from YAML and from its environment variable, what `backbeat config`
// prints is exactly that set of fields, and configs/local.yaml documents
// each of them.
func TestEverySettingHasYAMLEnvAndDocumentation(t *testing.T) {
	base := defaults()
	all := settings(reflect.ValueOf(&base))
	if len(all) < 100 {
		t.Fatalf("only %d settings found: the walk misses fields", len(all))
	}
	for _, s := range all {
		envRaw, yml, want := sampleFor(t, s)

		fromEnv := defaults()
		if err := applyEnv(&fromEnv, []string{s.env + "=" + envRaw}); err != nil {
			t.Errorf("%s: %v", s.env, err)
		} else if got := settingAt(t, &fromEnv, s.path).value.Interface(); !reflect.DeepEqual(got, want) {
			t.Errorf("%s=%s sets %s to %v, want %v", s.env, envRaw, s.path, got, want)
		}

		first := index.ReplaceAllString(s.path, "[0]") // a YAML list replaces the defaults' list
		doc, err := yaml.Marshal(yamlAt(first, yml))
		if err != nil {
			t.Fatal(err)
		}
		fromYAML := defaults()
		dec := yaml.NewDecoder(strings.NewReader(string(doc)))
		dec.KnownFields(true)
		if err := dec.Decode(&fromYAML); err != nil {
			t.Errorf("YAML %s: %v", s.path, err)
		} else if got := settingAt(t, &fromYAML, first).value.Interface(); !reflect.DeepEqual(got, want) {
			t.Errorf("YAML %q sets %s to %v, want %v", doc, first, got, want)
		}
	}

	want := map[string]bool{}
	for _, s := range all {
		want[s.path] = true
	}
	var printed strings.Builder
	if err := printConfig(&printed, base); err != nil {
		t.Fatal(err)
	}
	var tree map[string]any
	if err := yaml.Unmarshal([]byte(printed.String()), &tree); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	paths("", tree, got)
	for p := range got {
		if !want[p] {
			t.Errorf("backbeat config prints %s, which no environment variable sets", p)
		}
	}
	for p := range want {
		if !got[p] {
			t.Errorf("backbeat config does not print %s", p)
		}
	}

	data, err := os.ReadFile("../../configs/local.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var local map[string]any
	if err := yaml.Unmarshal(data, &local); err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	paths("", local, documented)
	var missing []string
	for p := range want {
		if !documented[p] && !documented[index.ReplaceAllString(p, "[0]")] {
			missing = append(missing, p)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("configs/local.yaml does not document %s", strings.Join(missing, ", "))
	}
}

// Secrets never print, whatever their section: keys, passwords, tokens,
// and the password of a connection string.
func TestPrintedConfigMasksEverySecret(t *testing.T) {
	cfg, err := loadConfig("", []string{
		"BACKBEAT_SOURCE_SECRETKEY=src-secret", "BACKBEAT_SITES_1_S3_SECRETKEY=site-secret",
		"BACKBEAT_REDIS_PASSWORD=redis-secret", "BACKBEAT_API_TOKEN=api-secret",
		"BACKBEAT_MONGO_URI=mongodb://user:mongo-secret@127.0.0.1:27117",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Sites[1].S3.SecretKey != "site-secret" || cfg.Redis.Password != "redis-secret" {
		t.Fatalf("the variables were not applied: %+v", cfg)
	}
	var out strings.Builder
	if err := printConfig(&out, cfg); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "-secret") {
		t.Errorf("printed configuration shows a secret:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "mongodb://user:***@127.0.0.1:27117") {
		t.Errorf("printed configuration lost the URI's user and host:\n%s", out.String())
	}
	if cfg.Sites[1].S3.SecretKey != "site-secret" {
		t.Error("printing masked the configuration in use")
	}
}

// A problem of an adapter's own settings is reported at start, with the
// service's, each naming its section.
func TestAdapterProblemsAreReportedAtStart(t *testing.T) {
	_, err := loadConfig("", []string{
		"BACKBEAT_KAFKA_HEARTBEATINTERVAL=20s", "BACKBEAT_KAFKA_COMPRESSION=brotli",
		"BACKBEAT_MONGO_POLLMIN=1s", "BACKBEAT_MONGO_POLLMAX=1ms",
		"BACKBEAT_REDIS_FAILUREEXPIRY=1m", "BACKBEAT_API_METRICSWINDOW=1ms",
		"BACKBEAT_SITES_0_S3_PARTSIZE=1024", "BACKBEAT_BACKFILL_LEASETTL=1ms",
		"BACKBEAT_LOG_LEVEL=loud",
	})
	if err == nil {
		t.Fatal("an invalid configuration was accepted")
	}
	for _, want := range []string{"kafka: kafkabus: heartbeatInterval", "kafka: kafkabus: compression", "mongo: mongojournal: pollMin",
		"redis: redisstore: failureExpiry", "api: MetricsWindow", "sites[0].s3: ", "partSize", "backfill.leaseTTL:", "log.level:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not report %q:\n%v", want, err)
		}
	}
}
