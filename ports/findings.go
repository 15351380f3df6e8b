package ports

import (
	"context"

	"github.com/openbackbeat/backbeat/domain"
)

// FindingStore keeps the findings of verify jobs beside the jobs, where
// every API instance reads the same ones. Findings are identified and
// ordered by domain.Finding.SortKey: report order, status-lies first.
type FindingStore interface {
	// PutFindings stores findings of job. A finding whose sort key is
	// stored already replaces it, so that a batch stored again (its runner
	// crashed before the checkpoint) adds nothing. Safe for concurrent
	// use by different jobs.
	PutFindings(ctx context.Context, job string, findings []domain.Finding) error
	// Findings returns up to limit findings of job in report order: only
	// of kind unless it is empty, only those whose sort key is greater
	// than after unless it is empty. more says that findings follow the
	// last one returned (pass its SortKey as after). A job with no
	// findings, or none stored, has an empty page, not an error.
	Findings(ctx context.Context, job string, kind domain.FindingKind, after string, limit int) (page []domain.Finding, more bool, err error)
}
