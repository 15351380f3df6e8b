package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/adapters/apiwire"
	"github.com/openbackbeat/backbeat/adapters/memory"
	"github.com/openbackbeat/backbeat/app"
	"github.com/openbackbeat/backbeat/domain"
)

// withVerify gives the fixture a verify service over in-memory job and
// finding stores holding a running verify job of each id given, with a
// finding of every kind.
func withVerify(t testing.TB, ids ...string) fixtureOption {
	return withVerifyStore(t, memory.NewFindings(), ids...)
}

// withVerifyStore is withVerify with the findings kept in findings.
func withVerifyStore(t testing.TB, findings *memory.Findings, ids ...string) fixtureOption {
	return withDeps(func(d *Deps) {
		jobs := memory.NewJobs()
		for _, id := range ids {
			j, err := domain.NewVerifyJob(id, domain.VerifyRequest{Bucket: "bkt-oa", Sites: []string{"site-a"}}, []domain.VerifyTarget{{Site: "site-a", Bucket: "dst"}}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			var fs []domain.Finding
			for i, k := range domain.FindingKinds {
				fs = append(fs, domain.Finding{Kind: k, Site: "site-a", Key: fmt.Sprintf("dir/k%d", i), VersionID: "v1", Detail: "d"})
			}
			var c domain.VerifyCounts
			for _, f := range fs {
				c.AddFinding(f)
			}
			j.Total = 8
			if err := j.CommitVerifyBatch("dir/k7", 8, c, nil, time.Now()); err != nil {
				t.Fatal(err)
			}
			if err := jobs.CreateJob(context.Background(), j); err != nil {
				t.Fatal(err)
			}
			if err := findings.PutFindings(context.Background(), id, fs); err != nil {
				t.Fatal(err)
			}
		}
		svc, err := app.NewVerifyService(jobs, findings, d.Operator.Metadata, []string{"site-a", "site-b"})
		if err != nil {
			t.Fatal(err)
		}
		d.Verify = svc
	})
}

func TestVerifyRoutes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withVerify(t, "vf-1"))
	f.putVersion("bkt", "k", "v1", 3, nil)
	id := decode[map[string]string](t, f.do(http.MethodPost, "/_/verify", map[string]any{"bucket": "bkt", "prefix": "k", "sites": []string{"site-b"}, "repair": true}), http.StatusOK)["id"]
	if id == "" {
		t.Fatal("no job id")
	}
	j := decode[map[string]any](t, f.do(http.MethodGet, "/_/verify/"+id, nil), http.StatusOK)
	if j["id"] != id || j["kind"] != "verify" || j["bucket"] != "bkt" || j["prefix"] != "k" || j["state"] != "running" || j["repair"] != true {
		t.Fatalf("job %v", j)
	}
	if targets, _ := j["targets"].([]any); len(targets) != 1 || targets[0].(map[string]any)["site"] != "site-b" || targets[0].(map[string]any)["bucket"] != "dst" {
		t.Fatalf("targets %v", j["targets"])
	}
	list := decode[[]map[string]any](t, f.do(http.MethodGet, "/_/verify", nil), http.StatusOK)
	if len(list) != 2 {
		t.Fatalf("listing %v", list)
	}
	seeded := decode[map[string]any](t, f.do(http.MethodGet, "/_/verify/vf-1", nil), http.StatusOK)
	if seeded["drift"] != float64(8) || seeded["byKind"].(map[string]any)["status-lies"] != float64(1) || seeded["findings"].(map[string]any)["site-a"] == nil {
		t.Fatalf("seeded job %v", seeded)
	}

	// Findings, a page at a time: status-lies first.
	page := decode[apiwire.FindingsPage](t, f.do(http.MethodGet, "/_/verify/vf-1/findings", nil), http.StatusOK)
	if len(page.Findings) != 8 || page.IsTruncated || page.Findings[0].Kind != "status-lies" || page.Findings[7].Kind != "extra" {
		t.Fatalf("findings %+v", page)
	}
	page = decode[apiwire.FindingsPage](t, f.do(http.MethodGet, "/_/verify/vf-1/findings?kind=tags", nil), http.StatusOK)
	if len(page.Findings) != 1 || page.Findings[0].Kind != "tags" || page.Findings[0].Key != "dir/k3" {
		t.Fatalf("tags findings %+v", page)
	}
	wantError(t, f.do(http.MethodGet, "/_/verify/vf-1/findings?kind=lies", nil), http.StatusBadRequest, ErrNameInvalidQueryParameter, "lies")
	wantError(t, f.do(http.MethodGet, "/_/verify/vf-1/findings?marker=not*base64", nil), http.StatusBadRequest, ErrNameInvalidQueryParameter)
	wantError(t, f.do(http.MethodGet, "/_/verify/nope/findings", nil), http.StatusNotFound, ErrNameNoSuchJob)

	cancelled := decode[map[string]any](t, f.do(http.MethodDelete, "/_/verify/"+id, nil), http.StatusOK)
	if cancelled["state"] != "cancelled" {
		t.Fatalf("cancelled job %v", cancelled)
	}
	wantError(t, f.do(http.MethodDelete, "/_/verify/"+id, nil), http.StatusConflict, ErrNameJobNotRunning)
	wantError(t, f.do(http.MethodGet, "/_/verify/nope", nil), http.StatusNotFound, ErrNameNoSuchJob)
	wantError(t, f.do(http.MethodDelete, "/_/verify/nope", nil), http.StatusNotFound, ErrNameNoSuchJob)

	for _, c := range []struct {
		body       any
		status     int
		name, text string
	}{
		{map[string]any{"bucket": "missing"}, http.StatusNotFound, ErrNameNoSuchBucket, "missing"},
		{map[string]any{"prefix": "x"}, http.StatusBadRequest, ErrNameMalformedPOSTRequest, "bucket is required"},
		{map[string]any{"bucket": 3, "repair": "yes"}, http.StatusBadRequest, ErrNameMalformedPOSTRequest, "repair must be a boolean"},
		{map[string]any{"bucket": "bkt", "sites": []string{"site-z"}}, http.StatusBadRequest, ErrNameMalformedPOSTRequest, "site-z"},
		{"[1]", http.StatusBadRequest, ErrNameMalformedPOSTRequest, "JSON object"},
	} {
		wantError(t, f.do(http.MethodPost, "/_/verify", c.body), c.status, c.name, c.text)
	}
}

// TestVerifyFindingsPages pages through more findings than a page holds.
func TestVerifyFindingsPages(t *testing.T) {
	t.Parallel()
	findings := memory.NewFindings()
	var more []domain.Finding
	for i := range 2*FindingsPage + 5 {
		more = append(more, domain.Finding{Kind: domain.FindingMissing, Site: "site-b", Key: fmt.Sprintf("many/%04d", i), VersionID: "v"})
	}
	if err := findings.PutFindings(context.Background(), "vf-1", more); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, withVerifyStore(t, findings, "vf-1"))
	seen, pages, marker := 0, 0, ""
	for {
		target := "/_/verify/vf-1/findings?kind=missing"
		if marker != "" {
			target += "&marker=" + marker
		}
		p := decode[apiwire.FindingsPage](t, f.do(http.MethodGet, target, nil), http.StatusOK)
		seen += len(p.Findings)
		pages++
		if !p.IsTruncated {
			break
		}
		marker = p.NextMarker
	}
	if seen != 2*FindingsPage+6 || pages != 3 {
		t.Fatalf("%d findings in %d pages", seen, pages)
	}
}

func TestVerifyRoutesWithoutTheService(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	wantError(t, f.do(http.MethodGet, "/_/verify", nil), http.StatusNotImplemented, ErrNameNotImplemented)
	wantError(t, f.do(http.MethodPost, "/_/verify", map[string]any{"bucket": "b"}), http.StatusNotImplemented, ErrNameNotImplemented)
}

func TestVerifyRoutesNeedTheToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withToken("tok"), withVerify(t, "vf-1"))
	wantError(t, f.do(http.MethodPost, "/_/verify", map[string]any{"bucket": "b"}), http.StatusUnauthorized, ErrNameUnauthorized)
	wantError(t, f.do(http.MethodDelete, "/_/verify/vf-1", nil), http.StatusUnauthorized, ErrNameUnauthorized)
	decode[map[string]any](t, f.do(http.MethodGet, "/_/verify/vf-1", nil), http.StatusOK)
}

// FuzzVerifyRoutes sends arbitrary bodies and queries to the verify
// routes: the handler never panics nor fails, and every non-2xx answer is
// an error body of the documented shape.
func FuzzVerifyRoutes(f *testing.F) {
	for _, s := range []struct{ method, target, body string }{
		{"POST", "/_/verify", `{"bucket":"b","prefix":"k","sites":["site-a"],"repair":true}`},
		{"POST", "/_/verify", `{"bucket":"b","sites":"site-a"}`},
		{"POST", "/_/verify", `{"bucket":""}`},
		{"GET", "/_/verify/vf-1/findings?kind=missing&marker=MDFfAGsAc2l0ZS1hAHYxAA", ""},
		{"GET", "/_/verify/vf-1/findings?kind=status-lies", ""},
		{"GET", "/_/verify/vf-1/findings?marker=%ff", ""},
		{"GET", "/_/verify/vf-1", ""},
		{"DELETE", "/_/verify/vf-1", ""},
		{"GET", "/_/verify", ""},
	} {
		f.Add(s.method, s.target, s.body)
	}
	f.Fuzz(func(t *testing.T, method, target, body string) {
		fx := newFixture(t, withVerify(t, "vf-1"))
		fx.putVersion("b", "k", "v1", 3, nil)
		switch method {
		case "GET", "POST", "DELETE":
		default:
			method = "GET"
		}
		req, err := http.NewRequest(method, "http://api"+target, strings.NewReader(body))
		if err != nil || req.URL.Host != "api" {
			return
		}
		req.RequestURI = req.URL.RequestURI()
		rec := httptest.NewRecorder()
		fx.h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s %q: %d %s", method, target, body, rec.Code, rec.Body)
		}
		if rec.Code >= 300 {
			var e map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e["code"] != float64(rec.Code) || e[fmt.Sprint(e["message"])] != true {
				t.Fatalf("%s %s: error body %q", method, target, rec.Body)
			}
		}
	})
}
