package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/adapters/httpapi"
	"github.com/openbackbeat/backbeat/adapters/httpapi/httpapitest"
	"github.com/openbackbeat/backbeat/ports"
)

// ctlEnv is the real API handler over in-memory adapters, served by an
// httptest server, for `backbeat ctl` to talk to.
type ctlEnv struct {
	*httpapitest.Server
	t *testing.T

	mu        sync.Mutex
	kafkaDown error // what the kafka health check answers
}

func (e *ctlEnv) setKafkaDown(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.kafkaDown = err
}

func newCtlEnv(t *testing.T, token string) *ctlEnv {
	t.Helper()
	e := &ctlEnv{t: t}
	e.Server = httpapitest.Start(t, token, map[string]func(context.Context) error{"kafka": func(context.Context) error {
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.kafkaDown
	}})
	return e
}

// ctl runs `backbeat ctl --api <env> args...` and returns its output.
func (e *ctlEnv) ctl(args ...string) (string, error) {
	e.t.Helper()
	var out, errOut bytes.Buffer
	err := Run(context.Background(), append([]string{"--api", e.URL}, args...), &out, &errOut)
	return out.String(), err
}

func (e *ctlEnv) mustCtl(args ...string) string {
	e.t.Helper()
	out, err := e.ctl(args...)
	if err != nil {
		e.t.Fatalf("ctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (e *ctlEnv) putFailed(bucket, key, vid, site string, ago time.Duration) {
	e.t.Helper()
	e.PutFailed(e.t, bucket, key, vid, site, 2048, time.Now().Add(-ago))
}

func wantLines(t *testing.T, out string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(out, l) {
			t.Errorf("output does not contain %q:\n%s", l, out)
		}
	}
}

// squash collapses runs of spaces, so that table columns compare simply.
func squash(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == ' ' }), " ")
}

func TestCtlUnreachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing listens there now
	var out bytes.Buffer
	err = Run(context.Background(), []string{"--api", "http://" + addr, "status"}, &out, &out)
	want := "cannot reach the backbeat API at http://" + addr + ": connection refused — is `backbeat api` running?"
	if err == nil || err.Error() != want {
		t.Fatalf("error %v, want %s", err, want)
	}
}

func TestCtlUsageErrors(t *testing.T) {
	t.Parallel()
	e := newCtlEnv(t, "")
	for _, args := range [][]string{nil, {"--help"}, {"help"}} {
		if out := e.mustCtl(args...); !strings.Contains(out, "usage: backbeat ctl") {
			t.Errorf("ctl %v: %q", args, out)
		}
	}
	for args, want := range map[string]string{
		"frobnicate":                   `unknown command "frobnicate"`,
		"failed":                       "failed needs a subcommand",
		"failed nope":                  `unknown command "failed nope"`,
		"pause --force":                "pause does not take --force",
		"status --site site-a":         "status does not take --site",
		"failed show b k":              "usage: backbeat ctl failed show <bucket> <key> <versionId>",
		"pause a b":                    "usage: backbeat ctl pause [site]",
		"--bogus status":               "flag provided but not defined: -bogus",
		"resume site-a --at x --in 1h": "give one of --at, --in and --cancel",
		"resume site-a --at tomorrow":  "--at must be an RFC 3339 time",
		"failed list --marker 5":       "--marker needs --site",
		"--timeout 0 status":           "--timeout must be positive",
	} {
		if _, err := e.ctl(strings.Fields(args)...); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ctl %s: %v, want an error containing %q", args, err, want)
		}
	}
	var out bytes.Buffer
	if err := Run(context.Background(), []string{"--api", "ftp://x", "status"}, &out, &out); err == nil || !strings.Contains(err.Error(), "want http://host:port") {
		t.Errorf("bad --api: %v", err)
	}
}

func TestCtlStatusPauseResume(t *testing.T) {
	t.Parallel()
	e := newCtlEnv(t, "")
	wantLines(t, squash(e.mustCtl("status")), "SITE REPLICATION SCHEDULED RESUME", "site-a running -", "site-b running -")
	wantLines(t, e.mustCtl("pause", "site-b"), "paused replication to site-b")
	wantLines(t, squash(e.mustCtl("status")), "site-a running -", "site-b paused -")
	wantLines(t, squash(e.mustCtl("status", "site-b")), "site-b paused -")

	out := e.mustCtl("resume", "--in", "2h", "site-b")
	if !strings.HasPrefix(out, "site-b resumes at ") {
		t.Fatalf("resume --in: %q", out)
	}
	at, err := time.Parse(time.RFC3339, strings.TrimSpace(strings.TrimPrefix(out, "site-b resumes at ")))
	if err != nil || at.Before(time.Now().Add(119*time.Minute)) || at.After(time.Now().Add(121*time.Minute)) {
		t.Fatalf("scheduled at %s (%v), want in 2h", at, err)
	}
	wantLines(t, squash(e.mustCtl("status")), "site-b paused "+at.UTC().Format("2006-01-02T15:04:05.000Z"))
	wantLines(t, e.mustCtl("resume", "site-a", "--at", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)), "site-a is not paused: nothing to resume later")

	var st struct{ Status, Resume map[string]string }
	if err := json.Unmarshal([]byte(e.mustCtl("--json", "status")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Status["site-b"] != "disabled" || st.Resume["site-b"] == "none" || st.Resume["site-a"] != "none" {
		t.Fatalf("status --json: %+v", st)
	}

	wantLines(t, e.mustCtl("resume", "site-b", "--cancel"), "cancelled the scheduled resume of site-b")
	wantLines(t, squash(e.mustCtl("status")), "site-b paused -")
	wantLines(t, e.mustCtl("resume", "site-b"), "resumed replication to site-b")
	wantLines(t, e.mustCtl("pause"), "paused replication to every site")
	wantLines(t, squash(e.mustCtl("status")), "site-a paused", "site-b paused")
	wantLines(t, e.mustCtl("resume"), "resumed replication to every site")

	if _, err := e.ctl("pause", "nowhere"); err == nil || !strings.Contains(err.Error(), `404 RouteNotFound: site "nowhere" does not exist`) {
		t.Errorf("pause of an unknown site: %v", err)
	}
	e.mustCtl("pause", "site-a")
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	if _, err := e.ctl("resume", "site-a", "--at", past); err == nil || !strings.Contains(err.Error(), "400 MalformedPOSTRequest") || !strings.Contains(err.Error(), "in the future") {
		t.Errorf("resume --at in the past: %v", err)
	}
}

func TestCtlMetrics(t *testing.T) {
	t.Parallel()
	e := newCtlEnv(t, "")
	ctx := context.Background()
	for range 3 {
		_ = e.Metrics.Record(ctx, "site-a", ports.MetricQueued, 1, 1024, ports.Op{})
	}
	_ = e.Metrics.Record(ctx, "site-a", ports.MetricCompleted, 1, 1024, ports.Op{})
	_ = e.Metrics.Record(ctx, "site-b", ports.MetricQueued, 1, 10, ports.Op{})
	_ = e.Metrics.Record(ctx, "site-b", ports.MetricFailed, 1, 10, ports.Op{})
	out := squash(e.mustCtl("metrics"))
	wantLines(t, out,
		"SITE PENDING PENDING BYTES COMPLETED COMPLETED BYTES FAILED FAILED BYTES OPS/S BYTES/S",
		"site-a 2 2.0 KiB 1 1.0 KiB 0 0 B 0.00 1 B/s",
		"site-b 0 0 B 0 0 B 1 10 B 0.00 0 B/s",
		"all 2 2.0 KiB 1 1.0 KiB 1 10 B 0.00 1 B/s",
		"completed and failed over the last 24h; throughput over the last 15m",
	)
	wantLines(t, squash(e.mustCtl("metrics", "site-b")), "site-b 0 0 B 0 0 B 1 10 B")

	// --json prints the API's JSON.
	resp, err := http.Get(e.URL + "/_/metrics/crr/site-a")
	if err != nil {
		t.Fatal(err)
	}
	var api, got any
	if err := json.NewDecoder(resp.Body).Decode(&api); err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if err := json.Unmarshal([]byte(e.mustCtl("metrics", "site-a", "--json")), &got); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(api) != fmt.Sprint(got) {
		t.Fatalf("--json:\n got %v\nwant %v", got, api)
	}
	if tp := got.(map[string]any)["throughput"].(map[string]any)["results"].(map[string]any)["count"]; tp != "0.00" {
		t.Fatalf("throughput count %#v, want the string 0.00", tp)
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal([]byte(e.mustCtl("--json", "metrics")), &all); err != nil || len(all) != 3 {
		t.Fatalf("metrics --json: %v %v", all, err)
	}
}

// TestCtlMetricsWindows checks that the line under the table says the
// windows of the API's windowSeconds, whatever the descriptions say.
func TestCtlMetricsWindows(t *testing.T) {
	t.Parallel()
	const results = `"results":{"count":1,"size":2}`
	for _, c := range []struct{ name, body, want string }{
		{"from windowSeconds, not the descriptions",
			`{"completions":{"description":"in the last 86400 seconds",` + results + `,"windowSeconds":3600},` +
				`"throughput":{"description":"in the last 900 seconds","results":{"count":"1.00","size":"2.00"},"windowSeconds":90}}`,
			"\ncompleted and failed over the last 1h; throughput over the last 1m30s; pending is now\n"},
		{"descriptions without the windows",
			`{"completions":{"description":"d",` + results + `,"windowSeconds":600},` +
				`"throughput":{"description":"d","results":{"count":"1.00","size":"2.00"},"windowSeconds":900}}`,
			"\ncompleted and failed over the last 10m; throughput over the last 15m; pending is now\n"},
		{"no windowSeconds: no line",
			`{"completions":{"description":"in the last 86400 seconds",` + results + `},` +
				`"throughput":{"description":"in the last 900 seconds","results":{"count":"1.00","size":"2.00"}}}`,
			""},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/_/metrics/crr/site-x" {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(c.body))
		}))
		var out, errOut bytes.Buffer
		err := Run(context.Background(), []string{"--api", srv.URL, "metrics", "site-x"}, &out, &errOut)
		srv.Close()
		if err != nil {
			t.Fatalf("%s: %v\n%s", c.name, err, out.String())
		}
		_, line, _ := strings.Cut(out.String(), "2 B/s\n")
		if line != c.want {
			t.Errorf("%s: after the table %q, want %q\n%s", c.name, line, c.want, out.String())
		}
	}
}

func TestCtlFailed(t *testing.T) {
	t.Parallel()
	e := newCtlEnv(t, "")
	wantLines(t, e.mustCtl("failed", "list"), "no failed entries")
	e.putFailed("bkt-ctl", "dir/one", "v1", "site-a", time.Minute)
	e.putFailed("bkt-ctl", "dir/two", "v1", "site-b", 2*time.Minute)
	out := squash(e.mustCtl("failed", "list"))
	wantLines(t, out, "SITE BUCKET KEY VERSION SIZE LAST MODIFIED",
		"site-a bkt-ctl dir/one v1 2.0 KiB 2030-01-02T03:04:05.006Z",
		"site-b bkt-ctl dir/two v1 2.0 KiB 2030-01-02T03:04:05.006Z")
	out = e.mustCtl("failed", "list", "--site", "site-b")
	if strings.Contains(out, "dir/one") || !strings.Contains(out, "dir/two") {
		t.Fatalf("list --site site-b:\n%s", out)
	}
	wantLines(t, squash(e.mustCtl("failed", "show", "bkt-ctl", "dir/one", "v1")), "site-a bkt-ctl dir/one v1 2.0 KiB")
	wantLines(t, e.mustCtl("failed", "show", "bkt-ctl", "dir/nope", "v1"), "bkt-ctl/dir/nope version v1 is not listed as failed at any site")

	// Retry: re-queued once, then no longer failed.
	wantLines(t, e.mustCtl("failed", "retry", "bkt-ctl", "dir/one", "v1", "site-a"), "queued again for site-a: bkt-ctl/dir/one version v1 (2.0 KiB), now PENDING")
	if _, err := e.ctl("failed", "retry", "bkt-ctl", "dir/one", "v1", "site-a"); err == nil || !strings.Contains(err.Error(), "not retried") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("second retry: %v", err)
	}
	if _, err := e.ctl("failed", "retry", "bkt-ctl", "dir/one", "v1", "nowhere"); err == nil || err.Error() != `not retried: "nowhere" is not a configured site (configured: site-a, site-b)` {
		t.Fatalf("retry to an unknown site: %v", err)
	}
	var retried []map[string]any
	if err := json.Unmarshal([]byte(e.mustCtl("--json", "failed", "retry", "--force", "bkt-ctl", "dir/two", "v1", "site-b")), &retried); err != nil || len(retried) != 1 || retried[0]["ReplicationStatus"] != "PENDING" {
		t.Fatalf("retry --json: %v %v", retried, err)
	}
	wantLines(t, e.mustCtl("failed", "list"), "no failed entries")
}

func TestCtlFailedPages(t *testing.T) {
	t.Parallel()
	e := newCtlEnv(t, "")
	const n = 130
	for i := range n {
		e.putFailed("bkt-pages", fmt.Sprintf("k%03d", i), "v", "site-a", time.Duration(n-i)*time.Second)
	}
	out := e.mustCtl("failed", "list", "--site", "site-a")
	if c := strings.Count(out, "bkt-pages"); c != httpapi.FailedPageSize {
		t.Fatalf("first page has %d entries", c)
	}
	i := strings.Index(out, "--marker ")
	if i < 0 {
		t.Fatalf("no next-page hint:\n%s", out)
	}
	marker := strings.Fields(out[i+len("--marker "):])[0]
	next := e.mustCtl("failed", "list", "--site", "site-a", "--marker", marker)
	if c := strings.Count(next, "bkt-pages"); c < n-httpapi.FailedPageSize {
		t.Fatalf("second page has %d entries", c)
	}
	var page struct {
		IsTruncated bool
		Versions    []map[string]any
	}
	if err := json.Unmarshal([]byte(e.mustCtl("failed", "list", "--site", "site-a", "--all", "--json")), &page); err != nil {
		t.Fatal(err)
	}
	keys := map[any]bool{}
	for _, v := range page.Versions {
		keys[v["Key"]] = true
	}
	if page.IsTruncated || len(keys) != n {
		t.Fatalf("--all: truncated %v, %d distinct keys, want %d", page.IsTruncated, len(keys), n)
	}
}

func TestCtlHealth(t *testing.T) {
	t.Parallel()
	e := newCtlEnv(t, "")
	wantLines(t, squash(e.mustCtl("health")), "SERVICE STATUS ERROR", "kafka ok")
	e.setKafkaDown(errors.New("no brokers"))
	out, err := e.ctl("health")
	if err == nil || err.Error() != "unhealthy: kafka" {
		t.Fatalf("unhealthy: %v", err)
	}
	wantLines(t, squash(out), "kafka error no brokers")
}

func TestCtlToken(t *testing.T) {
	e := newCtlEnv(t, "tok-123")
	if _, err := e.ctl("pause", "site-a"); err == nil || !strings.Contains(err.Error(), "401 Unauthorized") || !strings.Contains(err.Error(), "--token or BACKBEAT_API_TOKEN") {
		t.Fatalf("without a token: %v", err)
	}
	if _, err := e.ctl("--token", "nope", "pause", "site-a"); err == nil || !strings.Contains(err.Error(), "403 AccessDenied") {
		t.Fatalf("wrong token: %v", err)
	}
	e.mustCtl("--token", "tok-123", "pause", "site-a")
	t.Setenv("BACKBEAT_API_TOKEN", "tok-123")
	e.mustCtl("resume", "site-a")
	e.mustCtl("status") // reads need no token
	t.Setenv("BACKBEAT_API_TOKEN", "")
	t.Setenv("BACKBEAT_API_URL", e.URL)
	var out bytes.Buffer
	if err := Run(context.Background(), []string{"status"}, &out, &out); err != nil || !strings.Contains(out.String(), "site-a") {
		t.Fatalf("BACKBEAT_API_URL: %v %s", err, out.String())
	}
}
