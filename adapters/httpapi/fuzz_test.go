package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/domain"
)

// FuzzRoutes sends arbitrary paths and methods: the handler never panics,
// and every non-2xx answer is an error body of the documented shape.
//
// Each input gets a fixture of its own, built with the target's t: the
// handlers log (every request, at least at debug level) and the fixture
// logs through its test, and f.Log panics inside the fuzz target. A fresh
// fixture also keeps inputs independent (pause, resume and retry change
// the state), so that a failing input reproduces alone.
func FuzzRoutes(f *testing.F) {
	for _, s := range []string{
		"/_/healthcheck", "/_/metrics/crr/all/backlog", "/_/metrics/crr/site-a/progress/b/k?versionId=v",
		"/_/crr/failed?sitename=site-a&marker=12", "/_/crr/failed/b/k/v", "/_/crr/failed/b/%2F%2E%2E/v",
		"/_/crr/resume/site-a/schedule", "//_//crr", "/_/crr/failed/b/k?versionId=%zz", "/%",
	} {
		f.Add("GET", s, "")
		f.Add("POST", s, `{"hours": 1}`)
	}
	// Retries that log: b/k/v is re-queued; b/gone/v is not failed, which
	// the handler logs at info level ("failed entry not retried").
	f.Add("POST", "/_/crr/failed", `[{"Bucket":"b","Key":"k","VersionId":"v","StorageClass":"site-a"}]`)
	f.Add("POST", "/_/crr/failed", `[{"Bucket":"b","Key":"gone","VersionId":"v","StorageClass":"site-a"}]`)
	f.Fuzz(func(t *testing.T, method, target, body string) {
		fx := newFixture(t)
		fx.putVersion("b", "k", "v", 3, map[string]domain.Status{"site-a": domain.StatusFailed})
		fx.fail("site-a", "b", "k", "v", time.Hour)
		switch method {
		case "GET", "POST", "DELETE", "PUT", "HEAD":
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
			t.Fatalf("%s %s: %d %s", method, target, rec.Code, rec.Body)
		}
		if rec.Code >= 300 {
			var e map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e["code"] != float64(rec.Code) || e[e["message"].(string)] != true {
				t.Fatalf("%s %s: error body %q", method, target, rec.Body)
			}
		}
	})
}

func FuzzParseRetryBody(f *testing.F) {
	for _, s := range []string{
		`[{"Bucket":"b","Key":"k","VersionId":"v","StorageClass":"site-a","ForceRetry":true}]`,
		`[]`, `{}`, `[1]`, `[{"Bucket":1}]`, `null`, `[{"Bucket":"b","Key":"k","VersionId":"v","StorageClass":"x"}]`,
		`[{"Bucket":"b","Key":"k","StorageClass":"site-a"}]`, `[{"Bucket":"b","Key":"k","VersionId":7,"StorageClass":"site-a"}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		reqs, err := parseRetryBody(body)
		if err != nil {
			if ae := asAPIError(err); ae.status != http.StatusBadRequest || ae.name != ErrNameMalformedPOSTRequest {
				t.Fatalf("error %v", err)
			}
			return
		}
		if len(reqs) == 0 || len(reqs) > MaxRetryEntries {
			t.Fatalf("%d requests accepted", len(reqs))
		}
		for _, r := range reqs {
			if r.Bucket == "" || r.Key == "" || r.Site == "" {
				t.Fatalf("accepted %+v", r)
			}
		}
	})
}

func FuzzParseScheduleBody(f *testing.F) {
	for _, s := range []string{``, `{}`, `{"hours":1}`, `{"hours":"2"}`, `{"at":"2030-01-01T00:00:00Z"}`, `[1]`, `{"hours":1e400}`} {
		f.Add([]byte(s))
	}
	now := time.Date(2029, 6, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		at, err := parseScheduleBody(body, now)
		if err != nil {
			if ae := asAPIError(err); ae.status != http.StatusBadRequest {
				t.Fatalf("error %v", err)
			}
			return
		}
		if !at.After(now) || at.Sub(now) > MaxResumeDelay {
			t.Fatalf("body %q: resume at %s", body, at)
		}
	})
}
