package apiclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/openbackbeat/backbeat/adapters/apiclient"
	"github.com/openbackbeat/backbeat/adapters/httpapi/httpapitest"
	"github.com/openbackbeat/backbeat/ports"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// env is the real API handler over in-memory adapters and a client of it.
type env struct {
	*httpapitest.Server
	t      *testing.T
	client *apiclient.Client
}

func newEnv(t *testing.T, token string, opts ...apiclient.Option) *env {
	t.Helper()
	srv := httpapitest.Start(t, token, map[string]func(context.Context) error{"redis": func(context.Context) error { return nil }})
	c, err := apiclient.New(srv.URL, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return &env{Server: srv, t: t, client: c}
}

func (e *env) putFailed(bucket, key, vid, site string) {
	e.t.Helper()
	e.PutFailed(e.t, bucket, key, vid, site, 77, time.Now())
}

func TestNewValidatesURL(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"", "127.0.0.1:8900", "ftp://x", "http://", "http://h/?q=1", "http://h/#f", "://"} {
		if _, err := apiclient.New(u); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
	c, err := apiclient.New("http://127.0.0.1:8900/_/backbeat/api/")
	if err != nil || c.URL() != "http://127.0.0.1:8900/_/backbeat/api" {
		t.Fatalf("New with a prefix: %v %v", c, err)
	}
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	c, err := apiclient.New("http://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Status(context.Background(), "")
	var ue *apiclient.UnreachableError
	if !errors.As(err, &ue) {
		t.Fatalf("error %v is not an UnreachableError", err)
	}
	want := "cannot reach the backbeat API at http://" + addr + ": connection refused — is `backbeat api` running?"
	if err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
	// A cancelled context is the caller's doing, not an unreachable API.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Status(ctx, ""); !errors.Is(err, context.Canceled) || errors.As(err, &ue) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "")
	ctx := context.Background()
	// Keys with characters that need escaping, and dot segments.
	keys := []string{"dir/a b?c#d%e", "../x/./y", "trailing/", "ünï/cødé"}
	for _, k := range keys {
		e.putFailed("bkt-c", k, "v1", "site-a")
	}

	h, err := e.client.Health(ctx)
	if err != nil || h.Status != "ok" || h.InternalConnections["redis"].Status != "ok" {
		t.Fatalf("Health: %+v %v", h, err)
	}
	page, err := e.client.ListFailed(ctx, "site-a", 0)
	if err != nil || len(page.Versions) != len(keys) || page.IsTruncated {
		t.Fatalf("ListFailed: %+v %v", page, err)
	}
	for _, k := range keys {
		p, err := e.client.FailedVersion(ctx, "bkt-c", k, "v1")
		if err != nil || len(p.Versions) != 1 || p.Versions[0].Key != k || p.Versions[0].LastModified != "2030-01-02T03:04:05.006Z" {
			t.Fatalf("FailedVersion(%q): %+v %v", k, p, err)
		}
		prog, err := e.client.ObjectProgress(ctx, "site-b", "bkt-c", k, "v1")
		if err != nil || prog.Pending != 77 || prog.Progress != "0%" {
			t.Fatalf("ObjectProgress(%q): %+v %v", k, prog, err)
		}
	}
	tp, err := e.client.ObjectThroughput(ctx, "site-a", "bkt-c", keys[0], "v1")
	if err != nil || tp.Throughput != "0.00" {
		t.Fatalf("ObjectThroughput: %+v %v", tp, err)
	}
	out, err := e.client.Retry(ctx, []apiclient.RetryEntry{{Bucket: "bkt-c", Key: keys[0], VersionID: "v1", StorageClass: "site-a"}})
	if err != nil || len(out) != 1 || out[0].ReplicationStatus != "PENDING" || out[0].Size != 77 {
		t.Fatalf("Retry: %+v %v", out, err)
	}

	_ = e.Metrics.Record(ctx, "site-a", ports.MetricQueued, 1, 900, ports.Op{})
	_ = e.Metrics.Record(ctx, "site-a", ports.MetricCompleted, 1, 900, ports.Op{})
	m, err := e.client.SiteMetrics(ctx, "")
	if err != nil || m.Completions.Results.Count.Int64() != 1 || m.Completions.Results.Size.Int64() != 900 ||
		m.Throughput.Results.Size.String() != "1.00" || m.Throughput.Results.Size.Float64() != 1 {
		t.Fatalf("SiteMetrics: %+v %v", m, err)
	}
	raw, _ := json.Marshal(m.Throughput.Results)
	if string(raw) != `{"count":"0.00","size":"1.00"}` {
		t.Fatalf("Number does not encode as received: %s", raw)
	}
	one, err := e.client.SiteMetric(ctx, "site-a", "pending")
	if err != nil || one.Pending == nil || one.Backlog != nil {
		t.Fatalf("SiteMetric: %+v %v", one, err)
	}

	if err := e.client.Pause(ctx, "site-a"); err != nil {
		t.Fatal(err)
	}
	if err := e.client.ScheduleResume(ctx, "site-a", 2); err != nil {
		t.Fatal(err)
	}
	sched, err := e.client.ResumeSchedule(ctx, "")
	if err != nil || sched["site-a"] == "none" || sched["site-b"] != "none" {
		t.Fatalf("ResumeSchedule: %v %v", sched, err)
	}
	at := time.Now().Add(3 * time.Hour).Truncate(time.Millisecond)
	if err := e.client.ScheduleResumeAt(ctx, "site-a", at); err != nil {
		t.Fatal(err)
	}
	if st, _ := e.Control.State(ctx, "site-a"); !st.ScheduledResume.Equal(at) {
		t.Fatalf("ScheduleResumeAt: state %+v, want %s", st, at)
	}
	if err := e.client.CancelScheduledResume(ctx, "site-a"); err != nil {
		t.Fatal(err)
	}
	st, err := e.client.Status(ctx, "all")
	if err != nil || st["site-a"] != "disabled" || st["site-b"] != "enabled" {
		t.Fatalf("Status: %v %v", st, err)
	}
	if err := e.client.Resume(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if st, _ := e.client.Status(ctx, "site-a"); st["site-a"] != "enabled" {
		t.Fatalf("after Resume: %v", st)
	}
	prom, err := e.client.Prometheus(ctx)
	if err != nil || string(prom) != "up 1\n" {
		t.Fatalf("Prometheus: %q %v", prom, err)
	}
}

func TestAPIErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "tok")
	ctx := context.Background()
	err := e.client.Pause(ctx, "site-a")
	var ae *apiclient.Error
	if !errors.As(err, &ae) || ae.StatusCode != 401 || ae.Name != "Unauthorized" || apiclient.ErrorName(err) != "Unauthorized" {
		t.Fatalf("without token: %#v", err)
	}
	authed := newEnv(t, "tok", apiclient.WithToken("tok"))
	if err := authed.client.Pause(ctx, "site-a"); err != nil {
		t.Fatalf("with token: %v", err)
	}
	_, err = authed.client.Retry(ctx, []apiclient.RetryEntry{{Bucket: "b", Key: "", VersionID: "v", StorageClass: "site-a"}})
	if apiclient.ErrorName(err) != "MalformedPOSTRequest" || !strings.Contains(err.Error(), `the backbeat API refused POST /_/crr/failed: 400 MalformedPOSTRequest: The body of your POST request is not well-formed: entry 0: Key must be a non-empty string`) {
		t.Fatalf("bad retry: %v", err)
	}
	_, err = authed.client.SiteMetrics(ctx, "nowhere")
	if apiclient.ErrorName(err) != "RouteNotFound" {
		t.Fatalf("unknown site: %v", err)
	}
}

// TestUpstreamErrorBodies checks that errors from upstream Backbeat, whose
// bodies differ by arsenal version, are read too.
func TestUpstreamErrorBodies(t *testing.T) {
	t.Parallel()
	for body, want := range map[string][2]string{
		`{"MalformedPOSTRequest":true}`:                                           {"MalformedPOSTRequest", ""},
		`{"code":404,"description":"path x does not exist","RouteNotFound":true}`: {"RouteNotFound", "path x does not exist"},
		`<html>oops</html>`: {"BadGateway", "<html>oops</html>"},
		``:                  {"BadGateway", ""},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
			_, _ = io.WriteString(w, body)
		}))
		c, err := apiclient.New(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		err = c.Pause(context.Background(), "x")
		srv.Close()
		var ae *apiclient.Error
		if !errors.As(err, &ae) || ae.Name != want[0] || ae.Description != want[1] || ae.StatusCode != http.StatusBadGateway {
			t.Errorf("body %q: %#v, want name %q description %q", body, err, want[0], want[1])
		}
	}
}

func TestUnhealthyIsNotAnError(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"status":"error","internalConnections":{"kafka":{"status":"error","error":"down"}}}`)
	}))
	defer srv.Close()
	c, _ := apiclient.New(srv.URL)
	h, err := c.Health(context.Background())
	if err != nil || h.Status != "error" || h.InternalConnections["kafka"].Error != "down" {
		t.Fatalf("Health: %+v %v", h, err)
	}
}

func TestNumber(t *testing.T) {
	t.Parallel()
	var r apiclient.Results
	if err := json.Unmarshal([]byte(`{"count":12,"size":"3.50"}`), &r); err != nil {
		t.Fatal(err)
	}
	if r.Count.Int64() != 12 || r.Size.Float64() != 3.5 || r.Size.String() != "3.50" || r.Count.String() != "12" {
		t.Fatalf("%+v", r)
	}
	for _, bad := range []string{`{"count":"x"}`, `{"count":true}`, `{"count":[1]}`} {
		if err := json.Unmarshal([]byte(bad), &r); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	var zero apiclient.Number
	if b, _ := json.Marshal(zero); string(b) != "0" || zero.Int64() != 0 {
		t.Errorf("zero Number: %s", b)
	}
}
