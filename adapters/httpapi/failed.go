package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/openbackbeat/backbeat/adapters/apiwire"
	"github.com/openbackbeat/backbeat/app"
	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// MaxRetryEntries bounds the entries of one retry request, so that one
// request cannot hold the API for long.
const MaxRetryEntries = 1000

// isoTime formats a time as JavaScript's Date.toISOString does.
func isoTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// listFailed answers GET /_/crr/failed?sitename=<site>&marker=<score>.
// Upstream reads sitename (its route comment says site): both are taken.
// Without a site, or with one that is not configured, the listing is
// empty, as upstream's, which does not check the name. Upstream also
// answers the listing on /_/crr/failed/<bucket>[/<key>] without a
// version id, ignoring bucket and key: so does this.
func (a *api) listFailed(w http.ResponseWriter, r *http.Request, _ params) error {
	q := r.URL.Query()
	var site string
	for _, name := range []string{"sitename", "site"} {
		if !q.Has(name) {
			continue
		}
		v := q.Get(name)
		if v == "" {
			return errInvalidQuery("%s must be a non-empty string", name)
		}
		if site != "" && v != site {
			return errInvalidQuery("sitename %q and site %q differ: give one", site, v)
		}
		site = v
	}
	var marker int64
	if q.Has("marker") {
		m, err := strconv.ParseInt(q.Get("marker"), 10, 64)
		if err != nil {
			return errInvalidQuery("marker must be a number")
		}
		if m < 0 {
			return errInvalidQuery("marker must not be negative")
		}
		marker = m
	}
	if site == "" || !slices.Contains(a.deps.Sites.Sites, site) {
		return writeJSON(w, http.StatusOK, apiwire.FailedPage{Versions: []apiwire.FailedVersion{}})
	}
	versions, page, err := a.deps.Operator.FailedPage(r.Context(), site, marker, FailedPageSize)
	if err != nil {
		return err
	}
	body := apiwire.FailedPage{IsTruncated: page.Truncated, Versions: failedVersions(versions)}
	if page.Truncated {
		body.NextMarker = &page.NextMarker
	}
	return writeJSON(w, http.StatusOK, body)
}

// failedVersion answers GET /_/crr/failed/<bucket>/<key>?versionId=<id>
// (upstream) and GET /_/crr/failed/<bucket>/<key>/<id>: the failures of
// one version at every site.
func (a *api) failedVersion(w http.ResponseWriter, r *http.Request, p params) error {
	bucket, key, vid := p["bucket"], p["key"], p["versionId"]
	if v := r.URL.Query().Get("versionId"); v != "" {
		vid = v
	}
	versions, err := a.deps.Operator.FailedOf(r.Context(), bucket, key, vid)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, apiwire.FailedPage{Versions: failedVersions(versions)})
}

// failedVersions writes the failed versions in the listings' shape.
func failedVersions(vs []app.FailedVersion) []apiwire.FailedVersion {
	out := make([]apiwire.FailedVersion, len(vs))
	for i, v := range vs {
		out[i] = apiwire.FailedVersion{
			VersionEntry: apiwire.VersionEntry{
				Bucket: v.Bucket, Key: v.Key, VersionID: v.VersionID, StorageClass: v.Site, Size: v.Size, LastModified: isoTime(v.LastModified),
			},
			FailedAt: isoTime(v.FailedAt), Reason: v.Reason,
		}
	}
	return out
}

// retryFailed answers POST /_/crr/failed: the body is a JSON array of
// {Bucket, Key, VersionId?, StorageClass, ForceRetry?} (apiwire.RetryEntry,
// read member by member); the answer is the
// array of entries re-queued. The body's shape is checked as a whole (400
// for any entry that is not an object with the right types); then, as
// upstream (lib/api/BackbeatAPI.js retryFailedCRR), each entry is judged
// on its own: one naming a site that is not configured, without a version
// id, not failed, whose version is gone, or that another retry holds, is
// left out of the answer while the others are re-queued. Entries that
// failed for another reason make the request fail with 500 after the
// others were re-queued; sending the same body again is safe.
func (a *api) retryFailed(w http.ResponseWriter, r *http.Request, _ params) error {
	body, err := readBody(r, a.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	entries, err := parseRetryBody(body)
	if err != nil {
		return err
	}
	reqs := make([]app.RetryRequest, 0, len(entries))
	for _, req := range entries {
		if !slices.Contains(a.deps.Sites.Sites, req.Site) {
			a.log.Info("failed entry not retried", "bucket", req.Bucket, "key", req.Key, "version", req.VersionID, "site", req.Site,
				"reason", fmt.Sprintf("StorageClass %q is not a configured site (configured sites: %s)", req.Site, strings.Join(a.deps.Sites.Sites, ", ")))
			continue
		}
		reqs = append(reqs, req)
	}
	results := a.deps.Retrier.Retry(r.Context(), reqs)
	out := make([]apiwire.RetriedVersion, 0, len(results))
	var failed []string
	for _, res := range results {
		switch {
		case res.Err == nil:
			out = append(out, apiwire.RetriedVersion{
				VersionEntry: apiwire.VersionEntry{
					Bucket: res.Bucket, Key: res.Key, VersionID: res.VersionID, StorageClass: res.Site,
					Size: res.Object.Size, LastModified: isoTime(res.Object.LastModified),
				},
				ReplicationStatus: string(res.Status),
			})
		case errors.Is(res.Err, app.ErrNotFailed), errors.Is(res.Err, app.ErrRetryInProgress),
			errors.Is(res.Err, ports.ErrNotFound), errors.Is(res.Err, domain.ErrIllegalTransition):
			a.log.Info("failed entry not retried", "bucket", res.Bucket, "key", res.Key, "version", res.VersionID, "site", res.Site, "reason", res.Err)
		default:
			failed = append(failed, fmt.Sprintf("%s/%s %s for %s: %v", res.Bucket, res.Key, res.VersionID, res.Site, res.Err))
		}
	}
	if len(failed) > 0 {
		return errInternal(fmt.Errorf("re-queued %d of %d entries; could not retry %s", len(out), len(results), strings.Join(failed, "; ")))
	}
	return writeJSON(w, http.StatusOK, out)
}

// maxProblems bounds the problems listed in one error description.
const maxProblems = 10

// parseRetryBody checks the shape of a retry body and reports every
// problem found (up to maxProblems): a non-empty array of at most
// MaxRetryEntries objects whose Bucket, Key and StorageClass are
// non-empty strings, as upstream requires; VersionId, when present and
// not null, a string (upstream takes an entry without one, for
// non-versioned buckets); ForceRetry, when present, a boolean. Unknown
// fields are ignored. Whether StorageClass names a configured site is
// judged per entry by the caller, as upstream does. Duplicates are
// collapsed by the retrier.
func parseRetryBody(body []byte) ([]app.RetryRequest, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return nil, errMalformed("body must be a non-empty array")
		}
		return nil, errMalformed("invalid JSON: %v", err)
	}
	if len(raw) == 0 {
		return nil, errMalformed("body must be a non-empty array")
	}
	if len(raw) > MaxRetryEntries {
		return nil, errMalformed("body has %d entries, more than the %d allowed in one request", len(raw), MaxRetryEntries)
	}
	var problems []string
	bad := func(i int, format string, args ...any) {
		problems = append(problems, fmt.Sprintf("entry %d: ", i)+fmt.Sprintf(format, args...))
	}
	reqs := make([]app.RetryRequest, 0, len(raw))
	for i, elem := range raw {
		if t := bytes.TrimSpace(elem); len(t) == 0 || t[0] != '{' {
			bad(i, "body must be an array of objects")
			continue
		}
		// A map, not a struct: field names match exactly, as in upstream's
		// JavaScript, where encoding/json would also take "bucket".
		var e map[string]json.RawMessage
		if err := json.Unmarshal(elem, &e); err != nil {
			bad(i, "%v", err)
			continue
		}
		str := func(field string, v json.RawMessage) string {
			var s string
			if len(v) == 0 || json.Unmarshal(v, &s) != nil || s == "" {
				bad(i, "%s must be a non-empty string", field)
			}
			return s
		}
		req := app.RetryRequest{
			Bucket: str("Bucket", e["Bucket"]),
			Key:    str("Key", e["Key"]),
			Site:   str("StorageClass", e["StorageClass"]),
		}
		if v := e["VersionId"]; len(v) > 0 && string(v) != "null" {
			if err := json.Unmarshal(v, &req.VersionID); err != nil {
				bad(i, "VersionId must be a string")
			}
		}
		if f := e["ForceRetry"]; len(f) > 0 && string(f) != "null" {
			if err := json.Unmarshal(f, &req.Force); err != nil {
				bad(i, "ForceRetry must be a boolean")
			}
		}
		reqs = append(reqs, req)
	}
	if len(problems) > 0 {
		more := ""
		if len(problems) > maxProblems {
			more = fmt.Sprintf("; and %d more", len(problems)-maxProblems)
			problems = problems[:maxProblems]
		}
		return nil, errMalformed("%s%s", strings.Join(problems, "; "), more)
	}
	return reqs, nil
}
