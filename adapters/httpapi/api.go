package httpapi

import (
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/openbackbeat/backbeat/app"
)

// api is the handler New returns.
type api struct {
	deps   Deps
	cfg    Config
	log    *slog.Logger
	routes []*route
}

// New returns the API's handler. cfg's zero fields take their defaults;
// check deps and cfg with their Validate methods first.
func New(deps Deps, cfg Config) http.Handler {
	a := &api{deps: deps, cfg: cfg.WithDefaults(), log: deps.Log}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	get := func(pattern string, h func(http.ResponseWriter, *http.Request, params) error) *route {
		return newRoute(http.MethodGet, pattern, h)
	}
	post := func(pattern string, h func(http.ResponseWriter, *http.Request, params) error) *route {
		return newRoute(http.MethodPost, pattern, h)
	}
	del := func(pattern string, h func(http.ResponseWriter, *http.Request, params) error) *route {
		return newRoute(http.MethodDelete, pattern, h)
	}
	// Order matters only between templates that match the same paths: the
	// first route whose template, method and condition fit takes the request.
	a.routes = []*route{
		get("/_/healthcheck", a.healthcheck).methodNotAllowed(),
		get("/_/monitoring/metrics", a.prometheus).methodNotAllowed(),
		get("/metrics", a.prometheus).methodNotAllowed(),
		get("/_/openapi.yaml", a.openapi).methodNotAllowed(),
		get("/", a.console),
		get("/_/console", a.console),
		get("/_/console/{asset}", a.console),

		get("/_/metrics/crr/{site}", a.siteMetrics),
		get("/_/metrics/crr/{site}/{type}", a.siteMetrics),
		get("/_/metrics/crr/{site}/progress/{bucket}/{key}", a.objectProgress).onlyWhen(versionIDQuery),
		get("/_/metrics/crr/{site}/throughput/{bucket}/{key}", a.objectThroughput).onlyWhen(versionIDQuery),

		get("/_/crr/failed", a.listFailed),
		post("/_/crr/failed", a.retryFailed),
		// Upstream's form: the key is the rest of the path, the version
		// in the query. Ours: the version is the last path segment.
		get("/_/crr/failed/{bucket}/{key}", a.failedVersion).onlyWhen(versionIDQuery),
		get("/_/crr/failed/{bucket}/{key}/{versionId}", a.failedVersion).onlyWhen(noVersionIDQuery),
		// Without a version id upstream takes these for the site listing.
		get("/_/crr/failed/{bucket}/{key}", a.listFailed),
		get("/_/crr/failed/{bucket}", a.listFailed),

		post("/_/crr/pause", a.pause),
		post("/_/crr/pause/{site}", a.pause),
		post("/_/crr/resume", a.resume),
		post("/_/crr/resume/{site}", a.resume),
		post("/_/crr/resume/{site}/schedule", a.scheduleResume),
		del("/_/crr/resume/{site}", a.cancelScheduledResume),
		del("/_/crr/resume/{site}/schedule", a.cancelScheduledResume),
		get("/_/crr/resume", a.resumeSchedule),
		get("/_/crr/resume/{site}", a.resumeSchedule),
		get("/_/crr/resume/{site}/schedule", a.resumeSchedule),
		get("/_/crr/status", a.siteStatus),
		get("/_/crr/status/{site}", a.siteStatus),

		post("/_/backfill", a.startBackfill),
		get("/_/backfill", a.listBackfills),
		get("/_/backfill/{id}", a.getBackfill),
		del("/_/backfill/{id}", a.cancelBackfill),

		post("/_/verify", a.startVerify),
		get("/_/verify", a.listVerifies),
		get("/_/verify/{id}", a.getVerify),
		get("/_/verify/{id}/findings", a.verifyFindings),
		del("/_/verify/{id}", a.cancelVerify),
	}
	return a
}

// versionIDQuery takes requests that name the version in the query, as
// upstream's object routes require.
func versionIDQuery(r *http.Request) *apiError {
	if r.URL.Query().Get("versionId") == "" {
		return errRouteNotFound("must provide object key and version ID in route: %s", r.URL.EscapedPath())
	}
	return nil
}

func noVersionIDQuery(r *http.Request) *apiError {
	if r.URL.Query().Has("versionId") {
		return errRouteNotFound("must provide object key and version ID in route: %s", r.URL.EscapedPath())
	}
	return nil
}

// sites resolves a site parameter: a configured site, or "all" (or no
// parameter) for every site.
func (a *api) sites(p params) ([]string, error) {
	site := p["site"]
	sites, err := a.deps.Sites.Resolve(site)
	if errors.Is(err, app.ErrUnknownSite) {
		return nil, a.errUnknownSite(site)
	}
	return sites, err
}

// site resolves a site parameter that must name one configured site.
func (a *api) site(p params) (string, error) {
	site := p["site"]
	if !slices.Contains(a.deps.Sites.Sites, site) {
		return "", a.errUnknownSite(site)
	}
	return site, nil
}

func (a *api) errUnknownSite(site string) *apiError {
	known := "none is configured"
	if len(a.deps.Sites.Sites) > 0 {
		known = strings.Join(a.deps.Sites.Sites, ", ")
	}
	return errRouteNotFound("site %q does not exist (configured sites: %s)", site, known)
}
