package apiclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/openbackbeat/backbeat/adapters/apiwire"
)

// Health returns the health of every backing service. An unhealthy
// service is reported in the answer, not as an error: the API answers it
// with status 500 and the same body.
func (c *Client) Health(ctx context.Context) (Health, error) {
	var h Health
	body, err := c.do(ctx, http.MethodGet, "/_/healthcheck", nil, nil, &h)
	var e *Error
	if errors.As(err, &e) && e.StatusCode == http.StatusInternalServerError {
		if json.Unmarshal(body, &h) == nil && h.Status != "" {
			return h, nil
		}
	}
	return h, err
}

// Number is a metric value as the API sent it: a JSON number, or a string
// holding one (throughputs, which upstream formats with two decimals). It
// encodes back exactly as received.
type Number struct{ raw json.RawMessage }

// UnmarshalJSON takes a number or a string holding one.
func (n *Number) UnmarshalJSON(b []byte) error {
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	if _, err := strconv.ParseFloat(s, 64); err != nil {
		return fmt.Errorf("metric value %s is not a number", b)
	}
	n.raw = append(json.RawMessage(nil), b...)
	return nil
}

// MarshalJSON writes the value as received (0 when empty).
func (n Number) MarshalJSON() ([]byte, error) {
	if len(n.raw) == 0 {
		return []byte("0"), nil
	}
	return n.raw, nil
}

// String returns the value's text, without quotes.
func (n Number) String() string {
	if len(n.raw) == 0 {
		return "0"
	}
	if n.raw[0] == '"' {
		var s string
		_ = json.Unmarshal(n.raw, &s)
		return s
	}
	return string(n.raw)
}

// Float64 returns the value.
func (n Number) Float64() float64 {
	f, _ := strconv.ParseFloat(n.String(), 64)
	return f
}

// Int64 returns the value truncated to an integer.
func (n Number) Int64() int64 {
	if i, err := strconv.ParseInt(n.String(), 10, 64); err == nil {
		return i
	}
	return int64(n.Float64())
}

// The metrics routes' JSON (package apiwire), with every value a Number:
// upstream and this API write counts as numbers and throughputs as strings.
type (
	// Results are a metric's operations (count) and bytes (size).
	Results = apiwire.Results[Number]
	// Metric is one metric with its description.
	Metric = apiwire.Metric[Number]
	// SiteMetrics are the metrics of a site (or of all sites); a metric not
	// asked for is nil.
	SiteMetrics = apiwire.SiteMetrics[Number, Number]
	// ObjectProgress is the replication progress of one version to one site.
	ObjectProgress = apiwire.ObjectProgress
	// ObjectThroughput is the replication throughput of one version to one
	// site, in bytes per second.
	ObjectThroughput = apiwire.ObjectThroughput
)

// SiteMetrics returns every metric of site ("" or "all" for all sites).
func (c *Client) SiteMetrics(ctx context.Context, site string) (SiteMetrics, error) {
	var m SiteMetrics
	_, err := c.do(ctx, http.MethodGet, "/_/metrics/crr/"+siteOrAll(site), nil, nil, &m)
	return m, err
}

// SiteMetric returns one metric of site: backlog, completions, failures,
// throughput or pending.
func (c *Client) SiteMetric(ctx context.Context, site, typ string) (SiteMetrics, error) {
	var m SiteMetrics
	_, err := c.do(ctx, http.MethodGet, "/_/metrics/crr/"+siteOrAll(site)+"/"+segment(typ), nil, nil, &m)
	return m, err
}

// ObjectProgress returns the progress of bucket/key versionID at site.
func (c *Client) ObjectProgress(ctx context.Context, site, bucket, key, versionID string) (ObjectProgress, error) {
	var p ObjectProgress
	path := "/_/metrics/crr/" + segment(site) + "/progress/" + segment(bucket) + "/" + keyPath(key)
	_, err := c.do(ctx, http.MethodGet, path, url.Values{"versionId": {versionID}}, nil, &p)
	return p, err
}

// ObjectThroughput returns the throughput of bucket/key versionID at site.
func (c *Client) ObjectThroughput(ctx context.Context, site, bucket, key, versionID string) (ObjectThroughput, error) {
	var t ObjectThroughput
	path := "/_/metrics/crr/" + segment(site) + "/throughput/" + segment(bucket) + "/" + keyPath(key)
	_, err := c.do(ctx, http.MethodGet, path, url.Values{"versionId": {versionID}}, nil, &t)
	return t, err
}

// The failed-version routes' JSON (package apiwire).
type (
	// FailedVersion is a version that failed to replicate to a site
	// (StorageClass).
	FailedVersion = apiwire.FailedVersion
	// FailedPage is one page of failed versions.
	FailedPage = apiwire.FailedPage
	// RetryEntry names a failed version to retry for a site (StorageClass).
	RetryEntry = apiwire.RetryEntry
	// RetriedVersion is a version queued again for replication.
	RetriedVersion = apiwire.RetriedVersion
)

// ListFailed returns one page (up to 100) of the versions that failed to
// replicate to site, newest first, from marker (0: from now).
func (c *Client) ListFailed(ctx context.Context, site string, marker int64) (FailedPage, error) {
	q := url.Values{"sitename": {site}}
	if marker != 0 {
		q.Set("marker", strconv.FormatInt(marker, 10))
	}
	var p FailedPage
	_, err := c.do(ctx, http.MethodGet, "/_/crr/failed", q, nil, &p)
	return p, err
}

// FailedVersion returns the failures of one version at every site.
func (c *Client) FailedVersion(ctx context.Context, bucket, key, versionID string) (FailedPage, error) {
	var p FailedPage
	path := "/_/crr/failed/" + segment(bucket) + "/" + keyPath(key)
	_, err := c.do(ctx, http.MethodGet, path, url.Values{"versionId": {versionID}}, nil, &p)
	return p, err
}

// Retry queues entries again. Entries the API did not retry (not listed as
// failed, version gone, retry in progress) are absent from the answer.
func (c *Client) Retry(ctx context.Context, entries []RetryEntry) ([]RetriedVersion, error) {
	var out []RetriedVersion
	_, err := c.do(ctx, http.MethodPost, "/_/crr/failed", nil, entries, &out)
	return out, err
}

// Pause pauses replication to site ("" or "all": every site).
func (c *Client) Pause(ctx context.Context, site string) error {
	_, err := c.do(ctx, http.MethodPost, "/_/crr/pause/"+siteOrAll(site), nil, nil, nil)
	return err
}

// Resume resumes replication to site ("" or "all": every site) now.
func (c *Client) Resume(ctx context.Context, site string) error {
	_, err := c.do(ctx, http.MethodPost, "/_/crr/resume/"+siteOrAll(site), nil, nil, nil)
	return err
}

// ScheduleResume resumes paused site in hours hours (upstream's form).
func (c *Client) ScheduleResume(ctx context.Context, site string, hours int) error {
	_, err := c.do(ctx, http.MethodPost, "/_/crr/resume/"+siteOrAll(site)+"/schedule", nil, map[string]int{"hours": hours}, nil)
	return err
}

// ScheduleResumeAt resumes paused site at a given time (this API only).
func (c *Client) ScheduleResumeAt(ctx context.Context, site string, at time.Time) error {
	body := map[string]string{"at": at.UTC().Format(time.RFC3339Nano)}
	_, err := c.do(ctx, http.MethodPost, "/_/crr/resume/"+siteOrAll(site)+"/schedule", nil, body, nil)
	return err
}

// CancelScheduledResume cancels the scheduled resume of site; it stays
// paused.
func (c *Client) CancelScheduledResume(ctx context.Context, site string) error {
	_, err := c.do(ctx, http.MethodDelete, "/_/crr/resume/"+siteOrAll(site)+"/schedule", nil, nil, nil)
	return err
}

// ResumeSchedule returns, per site, when it resumes (ISO 8601) or "none".
func (c *Client) ResumeSchedule(ctx context.Context, site string) (map[string]string, error) {
	var m map[string]string
	_, err := c.do(ctx, http.MethodGet, "/_/crr/resume/"+siteOrAll(site), nil, nil, &m)
	return m, err
}

// Status returns, per site, "enabled" (running) or "disabled" (paused).
func (c *Client) Status(ctx context.Context, site string) (map[string]string, error) {
	var m map[string]string
	_, err := c.do(ctx, http.MethodGet, "/_/crr/status/"+siteOrAll(site), nil, nil, &m)
	return m, err
}

// Prometheus returns the Prometheus text exposition.
func (c *Client) Prometheus(ctx context.Context) ([]byte, error) {
	return c.do(ctx, http.MethodGet, "/_/monitoring/metrics", nil, nil, nil)
}
