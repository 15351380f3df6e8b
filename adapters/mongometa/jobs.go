package mongometa

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/openbackbeat/backbeat/adapters/internal/mongodoc"
	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// Job documents live in Config.JobCollection of the metadata database,
// one per job, with a revision that every update increments: UpdateJob's
// compare-and-swap filters on {_id, rev}. The service keeps no local state:
// any API instance can resume any job from its document.

var _ ports.JobStore = (*Store)(nil)

// jobDoc is the stored form of a domain.Job.
type jobDoc struct {
	ID             string                  `bson:"_id"`
	Rev            int64                   `bson:"rev"`
	Kind           string                  `bson:"kind"`
	Bucket         string                  `bson:"bucket"`
	Prefix         string                  `bson:"prefix"`
	Sites          []string                `bson:"sites"`
	IncludeFailed  bool                    `bson:"includeFailed"`
	IncludePending bool                    `bson:"includePending,omitempty"`
	ModifiedSince  time.Time               `bson:"modifiedSince,omitempty"`
	DryRun         bool                    `bson:"dryRun"`
	Rate           float64                 `bson:"rate"`
	State          string                  `bson:"state"`
	Error          string                  `bson:"error,omitempty"`
	Total          int64                   `bson:"total"`
	Scanned        int64                   `bson:"scanned"`
	Queued         int64                   `bson:"queued"`
	BytesQueued    int64                   `bson:"bytesQueued"`
	Skipped        map[string]int64        `bson:"skipped"`
	PerSite        map[string]siteCountDoc `bson:"perSite"`
	StartedAt      time.Time               `bson:"startedAt"`
	UpdatedAt      time.Time               `bson:"updatedAt"`
	Checkpoint     refDoc                  `bson:"checkpoint"`
	Batch          *batchDoc               `bson:"batch"`
	Verify         *verifyDoc              `bson:"verify,omitempty"`
}

type siteCountDoc struct {
	Versions int64 `bson:"versions"`
	Bytes    int64 `bson:"bytes"`
}

type refDoc struct {
	Key       string `bson:"key"`
	VersionID string `bson:"versionId"`
}

type batchDoc struct {
	Last    refDoc       `bson:"last"`
	Planned []plannedDoc `bson:"planned"`
}

type plannedDoc struct {
	Key       string   `bson:"key"`
	VersionID string   `bson:"versionId"`
	Sites     []string `bson:"sites"`
}

func toJobDoc(j domain.Job, rev int64) jobDoc {
	d := jobDoc{
		ID: j.ID, Rev: rev, Kind: string(j.Kind), Bucket: j.Bucket, Prefix: j.Prefix, Sites: j.Sites,
		IncludeFailed: j.IncludeFailed, IncludePending: j.IncludePending, ModifiedSince: j.ModifiedSince.UTC(),
		DryRun: j.DryRun, Rate: j.Rate, State: string(j.State), Error: j.Error,
		Total: j.Total, Scanned: j.Scanned, Queued: j.Queued, BytesQueued: j.BytesQueued,
		Skipped: map[string]int64{}, PerSite: map[string]siteCountDoc{},
		StartedAt: j.StartedAt.UTC(), UpdatedAt: j.UpdatedAt.UTC(),
		Checkpoint: refDoc(j.Checkpoint),
	}
	if d.Sites == nil {
		d.Sites = []string{}
	}
	for r, n := range j.Skipped {
		d.Skipped[mongodoc.EscapeField(string(r))] = n
	}
	for s, c := range j.PerSite {
		d.PerSite[mongodoc.EscapeField(s)] = siteCountDoc(c)
	}
	if j.Batch != nil {
		b := &batchDoc{Last: refDoc(j.Batch.Last), Planned: []plannedDoc{}}
		for _, p := range j.Batch.Planned {
			b.Planned = append(b.Planned, plannedDoc{Key: p.Key, VersionID: p.VersionID, Sites: p.Sites})
		}
		d.Batch = b
	}
	d.Verify = toVerifyDoc(j.Verify)
	return d
}

func (d jobDoc) job() domain.Job {
	j := domain.Job{
		ID: d.ID, Kind: domain.JobKind(d.Kind), Bucket: d.Bucket, Prefix: d.Prefix, Sites: d.Sites,
		IncludeFailed: d.IncludeFailed, IncludePending: d.IncludePending, DryRun: d.DryRun, Rate: d.Rate,
		State: domain.JobState(d.State), Error: d.Error,
		Total: d.Total, StartedAt: d.StartedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC(),
		Checkpoint: domain.VersionRef(d.Checkpoint),
		JobCounts: domain.JobCounts{
			Scanned: d.Scanned, Queued: d.Queued, BytesQueued: d.BytesQueued,
			Skipped: map[domain.SkipReason]int64{}, PerSite: map[string]domain.SiteCount{},
		},
	}
	if !d.ModifiedSince.IsZero() {
		j.ModifiedSince = d.ModifiedSince.UTC()
	}
	for r, n := range d.Skipped {
		j.Skipped[domain.SkipReason(mongodoc.UnescapeField(r))] = n
	}
	for s, c := range d.PerSite {
		j.PerSite[mongodoc.UnescapeField(s)] = domain.SiteCount(c)
	}
	if d.Batch != nil {
		b := &domain.JobBatch{Last: domain.VersionRef(d.Batch.Last)}
		for _, p := range d.Batch.Planned {
			b.Planned = append(b.Planned, domain.PlannedVersion{VersionRef: domain.VersionRef{Key: p.Key, VersionID: p.VersionID}, Sites: p.Sites})
		}
		j.Batch = b
	}
	j.Verify = d.Verify.state()
	return j
}

// CreateJob inserts j's document.
func (s *Store) CreateJob(ctx context.Context, j domain.Job) error {
	if j.ID == "" {
		return fmt.Errorf("mongometa: create job: %w: empty id", domain.ErrPermanent)
	}
	octx, cancel := s.op(ctx)
	defer cancel()
	_, err := s.jobs.InsertOne(octx, toJobDoc(j, 1))
	if mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("mongometa: create job %s: %w: the id exists", j.ID, ports.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("mongometa: create job %s: %w", j.ID, err)
	}
	return nil
}

// Job reads one job.
func (s *Store) Job(ctx context.Context, id string) (domain.Job, error) {
	d, err := s.readJob(ctx, id)
	if err != nil {
		return domain.Job{}, err
	}
	return d.job(), nil
}

func (s *Store) readJob(ctx context.Context, id string) (jobDoc, error) {
	octx, cancel := s.op(ctx)
	defer cancel()
	var d jobDoc
	err := s.jobs.FindOne(octx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return jobDoc{}, fmt.Errorf("mongometa: job %s: %w", id, ports.ErrNotFound)
	}
	if err != nil {
		return jobDoc{}, fmt.Errorf("mongometa: read job %s: %w", id, err)
	}
	return d, nil
}

// Jobs lists the jobs f selects, newest first.
func (s *Store) Jobs(ctx context.Context, f ports.JobFilter) ([]domain.Job, error) {
	filter := bson.D{}
	if f.Kind != "" {
		filter = append(filter, bson.E{Key: "kind", Value: string(f.Kind)})
	}
	if f.State != "" {
		filter = append(filter, bson.E{Key: "state", Value: string(f.State)})
	}
	octx, cancel := s.op(ctx)
	defer cancel()
	cur, err := s.jobs.Find(octx, filter, options.Find().SetSort(bson.D{{Key: "startedAt", Value: -1}, {Key: "_id", Value: -1}}))
	if err != nil {
		return nil, fmt.Errorf("mongometa: list jobs: %w", err)
	}
	var docs []jobDoc
	if err := cur.All(octx, &docs); err != nil {
		return nil, fmt.Errorf("mongometa: list jobs: %w", err)
	}
	out := make([]domain.Job, 0, len(docs))
	for _, d := range docs {
		out = append(out, d.job())
	}
	return out, nil
}

// UpdateJob runs update on the job as read and replaces the document if
// its revision is still the one read.
func (s *Store) UpdateJob(ctx context.Context, id string, update func(*domain.Job) error) (domain.Job, error) {
	for attempt := 1; ; attempt++ {
		d, err := s.readJob(ctx, id)
		if err != nil {
			return domain.Job{}, err
		}
		next := d.job()
		if err := update(&next); err != nil {
			return domain.Job{}, err
		}
		if next.ID != id {
			return domain.Job{}, fmt.Errorf("mongometa: update job %s: %w: the update changed the job's id", id, domain.ErrPermanent)
		}
		octx, cancel := s.op(ctx)
		res, err := s.jobs.ReplaceOne(octx, bson.D{{Key: "_id", Value: id}, {Key: "rev", Value: d.Rev}}, toJobDoc(next, d.Rev+1))
		cancel()
		if err != nil {
			return domain.Job{}, fmt.Errorf("mongometa: update job %s: %w", id, err)
		}
		if res.MatchedCount == 1 {
			return next, nil
		}
		if attempt >= s.cfg.MaxAttempts {
			return domain.Job{}, fmt.Errorf("mongometa: update job %s after %d attempts: %w", id, attempt, ports.ErrConflict)
		}
		if err := sleep(ctx, casBackoff.Delay(attempt)); err != nil {
			return domain.Job{}, err
		}
	}
}
