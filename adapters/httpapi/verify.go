package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/openbackbeat/backbeat/app"
	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// FindingsPage is the number of findings GET /_/verify/<id>/findings
// answers at most.
const FindingsPage = 100

const errVerifyUnavailable = "verify jobs are not available in this process"

// verifyJob is the JSON of a verify job, as GET /_/verify/<id> answers it.
type verifyJob struct {
	ID           string                      `json:"id"`
	Kind         string                      `json:"kind"`
	Bucket       string                      `json:"bucket"`
	Prefix       string                      `json:"prefix"`
	Sites        []string                    `json:"sites"`
	Repair       bool                        `json:"repair"`
	State        string                      `json:"state"`
	Scanned      int64                       `json:"scanned"`
	Total        int64                       `json:"total"`
	Progress     float64                     `json:"progress"`
	Compared     int64                       `json:"compared"`
	SiteVersions int64                       `json:"siteVersions"`
	Heads        int64                       `json:"heads"`
	TagReads     int64                       `json:"tagReads"`
	Requeued     int64                       `json:"requeued"`
	Drift        int64                       `json:"drift"`
	ByKind       map[string]int64            `json:"byKind"`
	Findings     map[string]map[string]int64 `json:"findings"`
	Targets      []verifyTarget              `json:"targets"`
	LastKey      string                      `json:"lastKey"`
	StartedAt    string                      `json:"startedAt"`
	UpdatedAt    string                      `json:"updatedAt"`
	Error        string                      `json:"error"`
}

type verifyTarget struct {
	Site   string `json:"site"`
	Bucket string `json:"bucket"`
}

func toVerifyJob(j domain.Job) verifyJob {
	v := j.Verify
	if v == nil {
		v = &domain.VerifyState{}
	}
	out := verifyJob{
		ID: j.ID, Kind: string(j.Kind), Bucket: j.Bucket, Prefix: j.Prefix, Sites: j.Sites, Repair: v.Repair,
		State: string(j.State), Scanned: j.Scanned, Total: j.Total, Progress: math.Round(j.Progress()*10000) / 10000,
		Compared: v.Compared, SiteVersions: v.SiteVersions, Heads: v.Heads, TagReads: v.TagReads, Requeued: v.Requeued,
		Drift: v.Drift(), ByKind: map[string]int64{}, Findings: map[string]map[string]int64{}, Targets: []verifyTarget{},
		LastKey: v.LastKey, StartedAt: j.StartedAt.UTC().Format(time.RFC3339Nano), UpdatedAt: j.UpdatedAt.UTC().Format(time.RFC3339Nano),
		Error: j.Error,
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
		out.Targets = append(out.Targets, verifyTarget(t))
	}
	return out
}

// verifyFinding is the JSON of one finding.
type verifyFinding struct {
	Kind          string `json:"kind"`
	Site          string `json:"site"`
	Key           string `json:"key"`
	VersionID     string `json:"versionId"`
	SiteVersionID string `json:"siteVersionId"`
	Detail        string `json:"detail"`
}

// findingsPage is the JSON of GET /_/verify/<id>/findings.
type findingsPage struct {
	Findings    []verifyFinding `json:"findings"`
	IsTruncated bool            `json:"isTruncated"`
	NextMarker  string          `json:"nextMarker,omitempty"`
}

// verifyRequest is the body of POST /_/verify.
type verifyRequest struct {
	Bucket string   `json:"bucket"`
	Prefix string   `json:"prefix"`
	Sites  []string `json:"sites"`
	Repair bool     `json:"repair"`
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
	return writeJSON(w, http.StatusOK, map[string]string{"id": job.ID})
}

// parseVerifyBody checks the body's shape, reporting every problem.
func parseVerifyBody(body []byte) (verifyRequest, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil || raw == nil {
		return verifyRequest{}, errMalformed(`body must be a JSON object such as {"bucket": "photos"}`)
	}
	var req verifyRequest
	var problems []string
	field := func(name string, dst any, what string) bool {
		v, ok := raw[name]
		if !ok || string(v) == "null" {
			return true
		}
		if err := json.NewDecoder(bytes.NewReader(v)).Decode(dst); err != nil {
			problems = append(problems, fmt.Sprintf("%s must be %s", name, what))
			return false
		}
		return true
	}
	if field("bucket", &req.Bucket, "a string") && req.Bucket == "" {
		problems = append(problems, "bucket is required")
	}
	field("prefix", &req.Prefix, "a string")
	field("sites", &req.Sites, "an array of site names")
	field("repair", &req.Repair, "a boolean")
	if len(problems) > 0 {
		return verifyRequest{}, errMalformed("%s", strings.Join(problems, "; "))
	}
	return req, nil
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
	out := make([]verifyJob, 0, len(jobs))
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
	out := findingsPage{Findings: make([]verifyFinding, 0, len(page)), IsTruncated: more}
	for _, f := range page {
		out.Findings = append(out.Findings, verifyFinding{
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
