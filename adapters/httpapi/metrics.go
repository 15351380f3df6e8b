package httpapi

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/openbackbeat/backbeat/adapters/apiwire"
	"github.com/openbackbeat/backbeat/ports"
)

// Metric types of /_/metrics/crr/<site>/<type>; "all" merges the others.
var metricTypes = []string{"backlog", "completions", "failures", "throughput", "pending", "all"}

// Descriptions, word for word as upstream's lib/api/Metrics.js.
const (
	descBacklog          = "Number of incomplete replication operations (count) and number of incomplete bytes transferred (size)"
	descCompletions      = "Number of completed replication operations (count) and number of bytes transferred (size) in the last %d seconds"
	descFailures         = "Number of failed replication operations (count) and bytes (size) in the last %d seconds"
	descThroughput       = "Current throughput for replication operations in ops/sec (count) and bytes/sec (size) in the last %d seconds"
	descPending          = "Number of pending replication operations (count) and bytes (size)"
	descObjectProgress   = "Number of bytes to be replicated (pending), number of bytes transferred to the destination (completed), and percentage of the object that has completed replication (progress)"
	descObjectThroughput = "Current throughput for object replication in bytes/sec (throughput)"
)

// The server's metric values: counts as numbers, throughput per second as
// strings with two decimals, as upstream's toFixed(2).
type (
	countResult = apiwire.Results[int64]
	rateResult  = apiwire.Results[string]
	// siteMetricsBody is the body of every site-level metrics route: one
	// member for one type, all five for "all".
	siteMetricsBody = apiwire.SiteMetrics[int64, string]
)

// siteMetrics answers /_/metrics/crr/<site>[/<type>]; <site> may be "all",
// which sums every site.
func (a *api) siteMetrics(w http.ResponseWriter, r *http.Request, p params) error {
	typ := p["type"]
	if typ == "" {
		typ = "all"
	}
	if !slices.Contains(metricTypes, typ) {
		return errPathNotFound(r)
	}
	sites, err := a.sites(p)
	if err != nil {
		return err
	}
	want := func(t string) bool { return typ == "all" || typ == t }
	var body siteMetricsBody
	ctx := r.Context()
	if want("backlog") || want("completions") || want("failures") || want("pending") {
		m, err := a.deps.Operator.SumMetrics(ctx, sites, a.cfg.MetricsWindow)
		if err != nil {
			return err
		}
		pending := countResult{Count: max(m.Pending.Ops, 0), Size: max(m.Pending.Bytes, 0)}
		secs := int64(a.cfg.MetricsWindow / time.Second)
		if want("backlog") {
			// Backlog is the pending counts, as upstream computes it now.
			body.Backlog = &apiwire.Metric[int64]{Description: descBacklog, Results: pending}
		}
		if want("completions") {
			body.Completions = &apiwire.Metric[int64]{Description: fmt.Sprintf(descCompletions, secs), Results: counts(m.Completed), WindowSeconds: secs}
		}
		if want("failures") {
			body.Failures = &apiwire.Metric[int64]{Description: fmt.Sprintf(descFailures, secs), Results: counts(m.Failed), WindowSeconds: secs}
		}
		if want("pending") {
			body.Pending = &apiwire.Metric[int64]{Description: descPending, Results: pending}
		}
	}
	if want("throughput") {
		m, err := a.deps.Operator.SumMetrics(ctx, sites, ThroughputWindow)
		if err != nil {
			return err
		}
		secs := ThroughputWindow.Seconds()
		body.Throughput = &apiwire.Metric[string]{
			Description:   fmt.Sprintf(descThroughput, int64(secs)),
			Results:       rateResult{Count: fixed2(float64(m.Completed.Ops) / secs), Size: fixed2(float64(m.Completed.Bytes) / secs)},
			WindowSeconds: int64(secs),
		}
	}
	return writeJSON(w, http.StatusOK, body)
}

func counts(c ports.Counts) countResult { return countResult{Count: c.Ops, Size: c.Bytes} }

func fixed2(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		v = 0
	}
	return fmt.Sprintf("%.2f", v)
}

// objectProgress answers /_/metrics/crr/<site>/progress/<bucket>/<key>,
// as upstream's lib/api/Metrics.js getObjectProgress: the bytes still to
// copy (pending), those the site holds (completed), and the percentage.
// They come from the replicator's report of the latest attempt at the copy
// (Deps.Progress), part by part for a multipart copy; a site COMPLETED in
// the version's metadata is 100% whatever the report says, and without a
// report the metadata gives 0% with every byte pending. An unknown
// version, or one not replicated to the site, has no progress (zeros), as
// upstream answers when it has no data.
func (a *api) objectProgress(w http.ResponseWriter, r *http.Request, p params) error {
	site, err := a.site(p)
	if err != nil {
		return err
	}
	body := apiwire.ObjectProgress{Description: descObjectProgress, Progress: "0%"}
	op, err := a.deps.Operator.ObjectProgress(r.Context(), site, p["bucket"], p["key"], r.URL.Query().Get("versionId"))
	switch {
	case err != nil:
		return err
	case !op.Replicated:
	case op.Completed:
		body.Completed, body.Progress = op.Total, "100%"
	default:
		body.Pending, body.Completed, body.Progress = op.Total-op.Done, op.Done, percent(op.Done, op.Total)
	}
	return writeJSON(w, http.StatusOK, body)
}

// percent is done/total as JavaScript's (ratio * 100).toFixed() writes it:
// rounded to the nearest integer, halves up.
func percent(done, total int64) string {
	if total <= 0 {
		return "0%"
	}
	return strconv.FormatFloat(math.Floor(float64(done)*100/float64(total)+0.5), 'f', 0, 64) + "%"
}

// objectThroughput answers /_/metrics/crr/<site>/throughput/<bucket>/<key>:
// the latest attempt's bytes per second, from the replicator's report.
// Upstream averages the object's bytes over its 15-minute window; here it
// is the attempt's own rate: its bytes done over the time since it
// started while it runs, over its duration once every byte is written. It
// is "0.00" without a report, or when no byte moved in the last 15
// minutes (ThroughputWindow), as upstream's window empties.
func (a *api) objectThroughput(w http.ResponseWriter, r *http.Request, p params) error {
	site, err := a.site(p)
	if err != nil {
		return err
	}
	body := apiwire.ObjectThroughput{Description: descObjectThroughput, Throughput: fixed2(0)}
	cp, found, err := a.deps.Operator.CopyProgress(r.Context(), site, p["bucket"], p["key"], r.URL.Query().Get("versionId"))
	if err != nil {
		return err
	}
	now := a.cfg.Now()
	if found && cp.Done > 0 && now.Sub(cp.Updated) <= ThroughputWindow {
		end := now
		if cp.Done >= cp.Total {
			end = cp.Updated
		}
		elapsed := max(end.Sub(cp.Started), time.Millisecond)
		body.Throughput = fixed2(float64(cp.Done) / elapsed.Seconds())
	}
	return writeJSON(w, http.StatusOK, body)
}
