// Package console is the operator console: one web page, embedded in the
// binary and served by the operator API (adapters/httpapi) at GET / and
// GET /_/console, that shows replication at a glance and steers it.
//
// The page is plain HTML, CSS and JavaScript in static/, with no build
// step and no CDN, so it works offline on the loopback API. It reads only
// the API's existing routes, so it shows exactly what `backbeat ctl` and
// scripts see: the sites' state and metrics, the lag histogram of
// /metrics, failed entries, backfill and verify jobs, the healthcheck. Its
// actions (pause, resume, scheduled resume, retries) are the API's
// mutating routes; when the API refuses one for want of a token (401 or
// 403) the page asks for the token once and sends it as the bearer token
// afterwards.
//
// The charts use uPlot 1.6.32 (MIT, static/uPlot.LICENSE), vendored from
// npm's uplot-1.6.32.tgz (integrity sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxB
// uLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw==): its
// dist/uPlot.iife.min.js and dist/uPlot.min.css, unchanged. The API keeps
// no history of its metrics, so the page keeps the last hour of samples
// itself (in the browser's session storage).
//
// The browser tests (browser_test.go) drive the page in headless Chromium
// through chromedp against the real API handler.
package console
