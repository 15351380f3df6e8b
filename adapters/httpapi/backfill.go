package httpapi

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/openbackbeat/backbeat/adapters/apiwire"
	"github.com/openbackbeat/backbeat/app"
	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// Error names of the backfill routes.
const (
	ErrNameNoSuchBucket    = "NoSuchBucket"
	ErrNameNoSuchJob       = "NoSuchJob"
	ErrNameNoReplication   = "ReplicationConfigurationNotFoundError"
	ErrNameJobNotRunning   = "JobNotRunning"
	ErrNameNotImplemented  = "NotImplemented"
	errBackfillUnavailable = "backfill jobs are not available in this process"
)

// toBackfillJob is a backfill job as GET /_/backfill/<id> answers it.
func toBackfillJob(j domain.Job) apiwire.BackfillJob {
	out := apiwire.BackfillJob{
		ID: j.ID, Kind: string(j.Kind), Bucket: j.Bucket, Prefix: j.Prefix, Sites: j.Sites,
		IncludeFailed: j.IncludeFailed, IncludePending: j.IncludePending, DryRun: j.DryRun, Rate: j.Rate, State: string(j.State),
		Scanned: j.Scanned, Total: j.Total, Progress: math.Round(j.Progress()*10000) / 10000,
		Queued: j.Queued, Skipped: map[string]int64{}, BytesQueued: j.BytesQueued, PerSite: map[string]apiwire.SiteCount{},
		StartedAt: j.StartedAt.UTC(), UpdatedAt: j.UpdatedAt.UTC(), Error: j.Error,
	}
	if out.Sites == nil {
		out.Sites = []string{}
	}
	if !j.ModifiedSince.IsZero() {
		out.ModifiedSince = j.ModifiedSince.UTC().Format(time.RFC3339Nano)
	}
	for r, n := range j.Skipped {
		out.Skipped[string(r)] = n
	}
	for s, c := range j.PerSite {
		out.PerSite[s] = apiwire.SiteCount(c)
	}
	if !j.Checkpoint.IsZero() {
		c := apiwire.VersionRef(j.Checkpoint)
		out.Checkpoint = &c
	}
	return out
}

func (a *api) backfillService() (*app.BackfillService, error) {
	if a.deps.Backfill == nil {
		return nil, newError(http.StatusNotImplemented, ErrNameNotImplemented, errBackfillUnavailable)
	}
	return a.deps.Backfill, nil
}

// startBackfill answers POST /_/backfill: {"id": "<job id>"}.
func (a *api) startBackfill(w http.ResponseWriter, r *http.Request, _ params) error {
	svc, err := a.backfillService()
	if err != nil {
		return err
	}
	body, err := readBody(r, a.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	req, err := parseBackfillBody(body)
	if err != nil {
		return err
	}
	job, err := svc.Start(r.Context(), domain.JobRequest{
		Bucket: req.Bucket, Prefix: req.Prefix, Sites: req.Sites, IncludeFailed: req.IncludeFailed, IncludePending: req.IncludePending,
		ModifiedSince: req.ModifiedSince, DryRun: req.DryRun, Rate: req.Rate,
	})
	switch {
	case errors.Is(err, ports.ErrNotFound):
		return newError(http.StatusNotFound, ErrNameNoSuchBucket, "bucket %q does not exist", req.Bucket)
	case errors.Is(err, app.ErrNoReplication):
		return newError(http.StatusBadRequest, ErrNameNoReplication, "bucket %q has no replication configuration (or no versioning): there is nothing to backfill", req.Bucket)
	case errors.Is(err, app.ErrUnknownSite), errors.Is(err, domain.ErrInvalidJob):
		return errMalformed("%v", err)
	case err != nil:
		return fmt.Errorf("start backfill: %w", err)
	}
	a.log.Info("backfill started", "job", job.ID, "bucket", job.Bucket, "prefix", job.Prefix, "sites", job.Sites, "dryRun", job.DryRun)
	return writeJSON(w, http.StatusOK, apiwire.JobStarted{ID: job.ID})
}

// parseBackfillBody checks the body's shape, reporting every problem.
func parseBackfillBody(body []byte) (apiwire.BackfillRequest, error) {
	return parseObject(body, func(o *objectBody, req *apiwire.BackfillRequest) {
		o.jobScope(&req.Bucket, &req.Prefix, &req.Sites)
		o.field("includeFailed", &req.IncludeFailed, "a boolean")
		o.field("includePending", &req.IncludePending, "a boolean")
		o.field("modifiedSince", &req.ModifiedSince, "an RFC 3339 time")
		o.field("dryRun", &req.DryRun, "a boolean")
		o.field("rate", &req.Rate, "a number of versions per second")
		if req.Rate < 0 {
			o.problem("rate must not be negative (0: unbounded)")
		}
	})
}

// listBackfills answers GET /_/backfill: every backfill job, newest first.
func (a *api) listBackfills(w http.ResponseWriter, r *http.Request, _ params) error {
	svc, err := a.backfillService()
	if err != nil {
		return err
	}
	jobs, err := svc.Jobs(r.Context())
	if err != nil {
		return fmt.Errorf("list backfill jobs: %w", err)
	}
	out := make([]apiwire.BackfillJob, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, toBackfillJob(j))
	}
	return writeJSON(w, http.StatusOK, out)
}

// getBackfill answers GET /_/backfill/<id>.
func (a *api) getBackfill(w http.ResponseWriter, r *http.Request, p params) error {
	svc, err := a.backfillService()
	if err != nil {
		return err
	}
	j, err := svc.Job(r.Context(), p["id"])
	if errors.Is(err, ports.ErrNotFound) {
		return newError(http.StatusNotFound, ErrNameNoSuchJob, "backfill job %q does not exist", p["id"])
	}
	if err != nil {
		return fmt.Errorf("read backfill job %s: %w", p["id"], err)
	}
	return writeJSON(w, http.StatusOK, toBackfillJob(j))
}

// cancelBackfill answers DELETE /_/backfill/<id> with the job, cancelled.
func (a *api) cancelBackfill(w http.ResponseWriter, r *http.Request, p params) error {
	svc, err := a.backfillService()
	if err != nil {
		return err
	}
	j, err := svc.Cancel(r.Context(), p["id"])
	switch {
	case errors.Is(err, ports.ErrNotFound):
		return newError(http.StatusNotFound, ErrNameNoSuchJob, "backfill job %q does not exist", p["id"])
	case errors.Is(err, domain.ErrJobNotRunning):
		return newError(http.StatusConflict, ErrNameJobNotRunning, "backfill job %q already ended", p["id"])
	case err != nil:
		return fmt.Errorf("cancel backfill job %s: %w", p["id"], err)
	}
	a.log.Info("backfill cancelled", "job", j.ID)
	return writeJSON(w, http.StatusOK, toBackfillJob(j))
}
