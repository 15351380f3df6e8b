package mongometa

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// Findings of verify jobs live beside the jobs, in Config.JobCollection
// with "_findings" appended (so "__" keeps it out of the journal too), one
// document per finding whose _id is the job id, NUL, and the finding's
// sort key: one range of _id holds a job's findings in report order, and
// a kind's are a sub-range (the sort key starts with the kind's rank), so
// every read is a range scan of the _id index.

var _ ports.FindingStore = (*Store)(nil)

// FindingsSuffix names the findings collection after the job collection.
const FindingsSuffix = "_findings"

// findingDoc is the stored form of a domain.Finding.
type findingDoc struct {
	ID            string `bson:"_id"`
	Job           string `bson:"job"`
	Kind          string `bson:"kind"`
	Site          string `bson:"site"`
	Key           string `bson:"key"`
	VersionID     string `bson:"versionId,omitempty"`
	SiteVersionID string `bson:"siteVersionId,omitempty"`
	Detail        string `bson:"detail,omitempty"`
}

func (s *Store) findings() *mongo.Collection {
	return s.db.Collection(s.cfg.JobCollection + FindingsSuffix)
}

// PutFindings upserts one document per finding, in one unordered bulk
// write.
func (s *Store) PutFindings(ctx context.Context, job string, findings []domain.Finding) error {
	if job == "" {
		return fmt.Errorf("mongometa: put findings: %w: empty job id", domain.ErrPermanent)
	}
	if len(findings) == 0 {
		return nil
	}
	models := make([]mongo.WriteModel, 0, len(findings))
	for _, f := range findings {
		d := findingDoc{
			ID: job + "\x00" + f.SortKey(), Job: job, Kind: string(f.Kind), Site: f.Site, Key: f.Key,
			VersionID: f.VersionID, SiteVersionID: f.SiteVersionID, Detail: f.Detail,
		}
		models = append(models, mongo.NewReplaceOneModel().SetFilter(bson.D{{Key: "_id", Value: d.ID}}).SetReplacement(d).SetUpsert(true))
	}
	octx, cancel := s.op(ctx)
	defer cancel()
	if _, err := s.findings().BulkWrite(octx, models, options.BulkWrite().SetOrdered(false)); err != nil {
		return fmt.Errorf("mongometa: put %d findings of job %s: %w", len(findings), job, err)
	}
	return nil
}

// Findings reads one page of job's findings, in _id order.
func (s *Store) Findings(ctx context.Context, job string, kind domain.FindingKind, after string, limit int) ([]domain.Finding, bool, error) {
	if limit < 1 {
		return nil, false, fmt.Errorf("mongometa: findings of %s: %w: limit %d, want at least 1", job, domain.ErrPermanent, limit)
	}
	lo, hi := job+"\x00", job+"\x01"
	if kind != "" {
		rank := fmt.Sprintf("%02d", kind.Rank())
		lo, hi = job+"\x00"+rank+"\x00", job+"\x00"+rank+"\x01"
	}
	op := "$gte"
	if a := job + "\x00" + after; after != "" && a >= lo {
		lo, op = a, "$gt"
	}
	filter := bson.D{{Key: "_id", Value: bson.D{{Key: op, Value: lo}, {Key: "$lt", Value: hi}}}}
	octx, cancel := s.op(ctx)
	defer cancel()
	cur, err := s.findings().Find(octx, filter, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(limit)+1))
	if err != nil {
		return nil, false, fmt.Errorf("mongometa: findings of job %s: %w", job, err)
	}
	var docs []findingDoc
	if err := cur.All(octx, &docs); err != nil {
		return nil, false, fmt.Errorf("mongometa: findings of job %s: %w", job, err)
	}
	more := len(docs) > limit
	if more {
		docs = docs[:limit]
	}
	out := make([]domain.Finding, len(docs))
	for i, d := range docs {
		out[i] = domain.Finding{
			Kind: domain.FindingKind(d.Kind), Site: d.Site, Key: d.Key,
			VersionID: d.VersionID, SiteVersionID: d.SiteVersionID, Detail: d.Detail,
		}
	}
	return out, more, nil
}
