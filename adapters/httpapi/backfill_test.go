package httpapi

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/adapters/memory"
	"github.com/openbackbeat/backbeat/app"
	"github.com/openbackbeat/backbeat/domain"
)

// withBackfill gives the fixture a backfill service over an in-memory job
// store holding a running job of each id given.
func withBackfill(t testing.TB, ids ...string) fixtureOption {
	return withDeps(func(d *Deps) {
		jobs := memory.NewJobs()
		for _, id := range ids {
			j, err := domain.NewJob(id, domain.JobRequest{Kind: domain.JobBackfill, Bucket: "bkt-oa", Sites: []string{"site-a"}}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			j.Total = 4
			j.Queue([]string{"site-a"}, 42)
			j.Skip(domain.SkipNoRule)
			j.Checkpoint = domain.VersionRef{Key: "dir/obj", VersionID: "v1"}
			if err := jobs.CreateJob(context.Background(), j); err != nil {
				t.Fatal(err)
			}
		}
		svc, err := app.NewBackfillService(jobs, d.Operator.Metadata, []string{"site-a", "site-b"})
		if err != nil {
			t.Fatal(err)
		}
		d.Backfill = svc
	})
}

func TestBackfillRoutes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withBackfill(t))
	f.putVersion("bkt", "k", "v1", 3, nil)
	start := func(body any) string {
		t.Helper()
		return decode[map[string]string](t, f.do(http.MethodPost, "/_/backfill", body), http.StatusOK)["id"]
	}
	id := start(map[string]any{"bucket": "bkt", "prefix": "k", "sites": []string{"site-b"}, "dryRun": true, "rate": 2.5})
	if id == "" {
		t.Fatal("no job id")
	}
	j := decode[map[string]any](t, f.do(http.MethodGet, "/_/backfill/"+id, nil), http.StatusOK)
	if j["id"] != id || j["bucket"] != "bkt" || j["prefix"] != "k" || j["state"] != "running" || j["dryRun"] != true || j["rate"] != 2.5 {
		t.Fatalf("job %v", j)
	}
	if sites, _ := j["sites"].([]any); len(sites) != 1 || sites[0] != "site-b" {
		t.Fatalf("sites %v", j["sites"])
	}
	other := start(map[string]any{"bucket": "bkt"})
	list := decode[[]map[string]any](t, f.do(http.MethodGet, "/_/backfill", nil), http.StatusOK)
	if len(list) != 2 {
		t.Fatalf("listing %v", list)
	}
	cancelled := decode[map[string]any](t, f.do(http.MethodDelete, "/_/backfill/"+other, nil), http.StatusOK)
	if cancelled["state"] != "cancelled" {
		t.Fatalf("cancelled job %v", cancelled)
	}
	wantError(t, f.do(http.MethodDelete, "/_/backfill/"+other, nil), http.StatusConflict, ErrNameJobNotRunning)
	wantError(t, f.do(http.MethodGet, "/_/backfill/nope", nil), http.StatusNotFound, ErrNameNoSuchJob)
	wantError(t, f.do(http.MethodDelete, "/_/backfill/nope", nil), http.StatusNotFound, ErrNameNoSuchJob)

	for _, c := range []struct {
		body       any
		status     int
		name, text string
	}{
		{map[string]any{"bucket": "missing"}, http.StatusNotFound, ErrNameNoSuchBucket, "missing"},
		{map[string]any{"prefix": "x"}, http.StatusBadRequest, ErrNameMalformedPOSTRequest, "bucket is required"},
		{map[string]any{"bucket": 3, "rate": -1, "dryRun": "yes"}, http.StatusBadRequest, ErrNameMalformedPOSTRequest, "bucket must be a string"},
		{map[string]any{"bucket": "bkt", "sites": []string{"site-z"}}, http.StatusBadRequest, ErrNameMalformedPOSTRequest, "site-z"},
		{map[string]any{"bucket": "bkt", "sites": []string{"site-a", "site-a"}}, http.StatusBadRequest, ErrNameMalformedPOSTRequest, "twice"},
		{"[1]", http.StatusBadRequest, ErrNameMalformedPOSTRequest, "JSON object"},
	} {
		wantError(t, f.do(http.MethodPost, "/_/backfill", c.body), c.status, c.name, c.text)
	}
	if err := f.meta.PutBucket(context.Background(), domain.Bucket{Name: "plain", VersioningEnabled: true}); err != nil {
		t.Fatal(err)
	}
	wantError(t, f.do(http.MethodPost, "/_/backfill", map[string]any{"bucket": "plain"}), http.StatusBadRequest, ErrNameNoReplication)
}

func TestBackfillRoutesWithoutTheService(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	wantError(t, f.do(http.MethodGet, "/_/backfill", nil), http.StatusNotImplemented, ErrNameNotImplemented)
	wantError(t, f.do(http.MethodPost, "/_/backfill", map[string]any{"bucket": "b"}), http.StatusNotImplemented, ErrNameNotImplemented)
}

func TestBackfillRoutesNeedTheToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withToken("tok"), withBackfill(t, "bf-1"))
	wantError(t, f.do(http.MethodPost, "/_/backfill", map[string]any{"bucket": "b"}), http.StatusUnauthorized, ErrNameUnauthorized)
	wantError(t, f.do(http.MethodDelete, "/_/backfill/bf-1", nil, "Authorization", "Bearer bad"), http.StatusForbidden, ErrNameAccessDenied)
	decode[map[string]any](t, f.do(http.MethodGet, "/_/backfill/bf-1", nil), http.StatusOK)
	decode[map[string]any](t, f.do(http.MethodDelete, "/_/backfill/bf-1", nil, "Authorization", "Bearer tok"), http.StatusOK)
}
