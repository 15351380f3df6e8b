// Package httpapi is the operator REST API: a driving adapter over the
// application's use cases (app.SiteService, app.FailedRetrier,
// app.Operator for the queries that join the failure store, the metrics,
// the metadata and the copy progress, app.BackfillService,
// app.VerifyService). It parses requests and formats answers, in the JSON
// types of package apiwire, which apiclient decodes; it reaches no port
// itself.
//
// Its routes, query parameters, JSON shapes and error bodies follow upstream
// Zenko Backbeat's API (lib/api/ in scality/backbeat) so that tooling written
// for Backbeat works unchanged; openapi.yaml, embedded and served at
// GET /_/openapi.yaml, describes every route and where this API differs or
// adds to upstream. Mutating routes (POST, DELETE) require a bearer token
// when one is configured; request bodies are bounded in size.
package httpapi
