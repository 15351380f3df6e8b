// Package httpapi is the operator REST API: a driving adapter over the
// application's use cases (app.SiteService, app.FailedRetrier) and over the
// ports that hold what operators inspect (failure store, metrics, metadata).
//
// Its routes, query parameters, JSON shapes and error bodies follow upstream
// Zenko Backbeat's API (lib/api/ in scality/backbeat) so that tooling written
// for Backbeat works unchanged; openapi.yaml, embedded and served at
// GET /_/openapi.yaml, describes every route and where this API differs or
// adds to upstream. Mutating routes (POST, DELETE) require a bearer token
// when one is configured; request bodies are bounded in size.
package httpapi
