package httpapi

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"

	"github.com/openbackbeat/backbeat/adapters/apiwire"
	"github.com/openbackbeat/backbeat/app"
	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// FindingsPage is the number of findings GET /_/verify/<id>/findings
// answers at most.
const FindingsPage = 100

const errVerifyUnavailable = "verify jobs are not available in this process"

// toVerifyJob is a verify job as GET /_/verify/<id> answers it.
func toVerifyJob(j domain.Job) apiwire.VerifyJob {
	v := j.Verify
	if v == nil {
		v = &domain.VerifyState{}
	}
	out := apiwire.VerifyJob{
		ID: j.ID, Kind: string(j.Kind), Bucket: j.Bucket, Prefix: j.Prefix, Sites: j.Sites, Repair: v.Repair,
		State: string(j.State), Scanned: j.Scanned, Total: j.Total, Progress: math.Round(j.Progress()*10000) / 10000,
		Compared: v.Compared, SiteVersions: v.SiteVersions, Heads: v.Heads, TagReads: v.TagReads, Requeued: v.Requeued,
		Drift: v.Drift(), ByKind: map[string]int64{}, Findings: map[string]map[string]int64{}, Targets: []apiwire.VerifyTarget{},
		LastKey: v.LastKey, StartedAt: j.StartedAt.UTC(), UpdatedAt: j.UpdatedAt.UTC(), Error: j.Error,
	}
	if out.Sites == nil {
		out.Sites = []string{}
	}
	for k, n := range v.ByKind() {
		out.ByKind[string(k)] = n
	}
	for site, kinds := range v.Findings {
		m := map[string]int64{}
		for k, n := range kinds {
			m[string(k)] = n
		}
		out.Findings[site] = m
	}
	for _, t := range v.Targets {
		out.Targets = append(out.Targets, apiwire.VerifyTarget(t))
	}
	return out
}

func (a *api) verifyService() (*app.VerifyService, error) {
	if a.deps.Verify == nil {
		return nil, newError(http.StatusNotImplemented, ErrNameNotImplemented, errVerifyUnavailable)
	}
	return a.deps.Verify, nil
}

// startVerify answers POST /_/verify: {"id": "<job id>"}.
func (a *api) startVerify(w http.ResponseWriter, r *http.Request, _ params) error {
	svc, err := a.verifyService()
	if err != nil {
		return err
	}
	body, err := readBody(r, a.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	req, err := parseVerifyBody(body)
	if err != nil {
		return err
	}
	job, err := svc.Start(r.Context(), domain.VerifyRequest{Bucket: req.Bucket, Prefix: req.Prefix, Sites: req.Sites, Repair: req.Repair})
	switch {
	case errors.Is(err, ports.ErrNotFound):
		return newError(http.StatusNotFound, ErrNameNoSuchBucket, "bucket %q does not exist", req.Bucket)
	case errors.Is(err, app.ErrUnknownSite), errors.Is(err, domain.ErrInvalidJob):
		return errMalformed("%v", err)
	case err != nil:
		return fmt.Errorf("start verify: %w", err)
	}
	a.log.Info("verify started", "job", job.ID, "bucket", job.Bucket, "prefix", job.Prefix, "sites", job.Sites, "repair", req.Repair)
	return writeJSON(w, http.StatusOK, apiwire.JobStarted{ID: job.ID})
}

// parseVerifyBody checks the body's shape, reporting every problem.
func parseVerifyBody(body []byte) (apiwire.VerifyRequest, error) {
	return parseObject(body, func(o *objectBody, req *apiwire.VerifyRequest) {
		o.jobScope(&req.Bucket, &req.Prefix, &req.Sites)
		o.field("repair", &req.Repair, "a boolean")
	})
}

// listVerifies answers GET /_/verify: every verify job, newest first.
func (a *api) listVerifies(w http.ResponseWriter, r *http.Request, _ params) error {
	svc, err := a.verifyService()
	if err != nil {
		return err
	}
	jobs, err := svc.Jobs(r.Context())
	if err != nil {
		return fmt.Errorf("list verify jobs: %w", err)
	}
	out := make([]apiwire.VerifyJob, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, toVerifyJob(j))
	}
	return writeJSON(w, http.StatusOK, out)
}

func errNoSuchVerify(id string) *apiError {
	return newError(http.StatusNotFound, ErrNameNoSuchJob, "verify job %q does not exist", id)
}

// getVerify answers GET /_/verify/<id>.
func (a *api) getVerify(w http.ResponseWriter, r *http.Request, p params) error {
	svc, err := a.verifyService()
	if err != nil {
		return err
	}
	j, err := svc.Job(r.Context(), p["id"])
	if errors.Is(err, ports.ErrNotFound) {
		return errNoSuchVerify(p["id"])
	}
	if err != nil {
		return fmt.Errorf("read verify job %s: %w", p["id"], err)
	}
	return writeJSON(w, http.StatusOK, toVerifyJob(j))
}

// verifyFindings answers GET /_/verify/<id>/findings?kind=&marker=: up to
// FindingsPage findings in report order (status-lies first), and the
// marker of the next page. The marker is opaque (a finding's sort key,
// base64url).
func (a *api) verifyFindings(w http.ResponseWriter, r *http.Request, p params) error {
	svc, err := a.verifyService()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	var kind domain.FindingKind
	if s := q.Get("kind"); s != "" {
		if kind, err = domain.ParseFindingKind(s); err != nil {
			return errInvalidQuery("kind %q is not a finding kind (%s)", s, kindNames())
		}
	}
	after := ""
	if m := q.Get("marker"); m != "" {
		b, err := base64.RawURLEncoding.DecodeString(m)
		if err != nil {
			return errInvalidQuery("marker %q is not one this API gave", m)
		}
		after = string(b)
	}
	page, more, err := svc.Findings(r.Context(), p["id"], kind, after, FindingsPage)
	if errors.Is(err, ports.ErrNotFound) {
		return errNoSuchVerify(p["id"])
	}
	if err != nil {
		return fmt.Errorf("read the findings of verify job %s: %w", p["id"], err)
	}
	out := apiwire.FindingsPage{Findings: make([]apiwire.Finding, 0, len(page)), IsTruncated: more}
	for _, f := range page {
		out.Findings = append(out.Findings, apiwire.Finding{
			Kind: string(f.Kind), Site: f.Site, Key: f.Key, VersionID: f.VersionID, SiteVersionID: f.SiteVersionID, Detail: f.Detail,
		})
	}
	if more && len(page) > 0 {
		out.NextMarker = base64.RawURLEncoding.EncodeToString([]byte(page[len(page)-1].SortKey()))
	}
	return writeJSON(w, http.StatusOK, out)
}

func kindNames() string {
	names := make([]string, len(domain.FindingKinds))
	for i, k := range domain.FindingKinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

// cancelVerify answers DELETE /_/verify/<id> with the job, cancelled.
func (a *api) cancelVerify(w http.ResponseWriter, r *http.Request, p params) error {
	svc, err := a.verifyService()
	if err != nil {
		return err
	}
	j, err := svc.Cancel(r.Context(), p["id"])
	switch {
	case errors.Is(err, ports.ErrNotFound):
		return errNoSuchVerify(p["id"])
	case errors.Is(err, domain.ErrJobNotRunning):
		return newError(http.StatusConflict, ErrNameJobNotRunning, "verify job %q already ended", p["id"])
	case err != nil:
		return fmt.Errorf("cancel verify job %s: %w", p["id"], err)
	}
	a.log.Info("verify cancelled", "job", j.ID)
	return writeJSON(w, http.StatusOK, toVerifyJob(j))
}
