package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// Operator answers the operators' queries that join several ports: failed
// entries with their versions' metadata, counts summed over sites, and an
// object's copy progress from its metadata and the replicators' reports.
// The HTTP API formats what it returns. Make one with NewOperator.
type Operator struct {
	OperatorDeps
}

// OperatorDeps are the ports the queries read.
type OperatorDeps struct {
	Failures ports.FailureStore    // required
	Metrics  ports.MetricsRecorder // required
	Metadata ports.MetadataStore   // required
	// Progress gives the bytes of copies in flight; optional: without it an
	// object's progress comes from its metadata alone.
	Progress ports.ProgressStore
}

// NewOperator returns the operators' queries; a missing dependency is an
// error that names it.
func NewOperator(deps OperatorDeps) (*Operator, error) {
	errs := requireDeps(dep{"Failures", deps.Failures}, dep{"Metrics", deps.Metrics}, dep{"Metadata", deps.Metadata})
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("operator queries: %w", err)
	}
	return &Operator{OperatorDeps: deps}, nil
}

// metadataConcurrency bounds the metadata reads of one query, as
// upstream's mapLimit(10).
const metadataConcurrency = 10

// FailedVersion is a failed entry with what its version's metadata says.
type FailedVersion struct {
	ports.FailedEntry
	Size         int64
	LastModified time.Time
	// Reason is why the site's copy failed, from replicationInfo.
	Reason string
}

// FailedPage lists one page of site's failed entries, from marker (see
// ports.FailurePage), each with its version's metadata.
func (o *Operator) FailedPage(ctx context.Context, site string, marker int64, limit int) ([]FailedVersion, ports.FailurePage, error) {
	page, err := o.Failures.List(ctx, site, marker, limit)
	if err != nil {
		return nil, page, fmt.Errorf("list failed entries of site %s: %w", site, err)
	}
	versions, err := o.describe(ctx, page.Entries)
	return versions, page, err
}

// FailedOf lists the failed entries of one version, at every site.
func (o *Operator) FailedOf(ctx context.Context, bucket, key, versionID string) ([]FailedVersion, error) {
	entries, err := o.Failures.Find(ctx, bucket, key, versionID)
	if err != nil {
		return nil, fmt.Errorf("find failed entries of %s/%s %s: %w", bucket, key, versionID, err)
	}
	return o.describe(ctx, entries)
}

// describe re-reads each entry's version for its size and date, as
// upstream does, and for the site's failure reason. Versions that no
// longer exist are dropped: they cannot be retried. Any other read error
// fails the query rather than hide entries.
func (o *Operator) describe(ctx context.Context, entries []ports.FailedEntry) ([]FailedVersion, error) {
	out := make([]*FailedVersion, len(entries))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(metadataConcurrency)
	for i, e := range entries {
		g.Go(func() error {
			v, err := o.Metadata.Version(gctx, e.Bucket, e.Key, e.VersionID)
			if errors.Is(err, ports.ErrNotFound) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("read metadata of %s/%s %s: %w", e.Bucket, e.Key, e.VersionID, err)
			}
			out[i] = &FailedVersion{FailedEntry: e, Size: v.Size, LastModified: v.LastModified}
			if b, ok := v.Site(e.Site); ok {
				out[i].Reason = b.Reason
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	versions := make([]FailedVersion, 0, len(out))
	for _, v := range out {
		if v != nil {
			versions = append(versions, *v)
		}
	}
	return versions, nil
}

// SumMetrics adds the counts of sites over window.
func (o *Operator) SumMetrics(ctx context.Context, sites []string, window time.Duration) (ports.SiteMetrics, error) {
	var sum ports.SiteMetrics
	add := func(to *ports.Counts, c ports.Counts) { to.Ops += c.Ops; to.Bytes += c.Bytes }
	for _, s := range sites {
		m, err := o.Metrics.Site(ctx, s, window)
		if err != nil {
			return sum, fmt.Errorf("metrics of site %s: %w", s, err)
		}
		add(&sum.Queued, m.Queued)
		add(&sum.Completed, m.Completed)
		add(&sum.Failed, m.Failed)
		add(&sum.Pending, m.Pending)
	}
	return sum, nil
}

// ObjectProgress is how far the copy of one version to one site is.
type ObjectProgress struct {
	// Replicated is false for an unknown version or one not replicated to
	// the site: it has no progress.
	Replicated bool
	// Total is the bytes the copy writes (0 for a delete marker or a
	// metadata-only change), Done those the site holds.
	Total, Done int64
	// Completed says the version's metadata has the site COMPLETED.
	Completed bool
}

// ObjectProgress reads the progress of the copy of a version to site: the
// replicator's report of its latest attempt, part by part for a multipart
// copy; a site COMPLETED in the version's metadata is done whatever the
// report says, and without a report none of its bytes are.
func (o *Operator) ObjectProgress(ctx context.Context, site, bucket, key, versionID string) (ObjectProgress, error) {
	v, err := o.Metadata.Version(ctx, bucket, key, versionID)
	switch {
	case errors.Is(err, ports.ErrNotFound):
		return ObjectProgress{}, nil
	case err != nil:
		return ObjectProgress{}, fmt.Errorf("read metadata of %s/%s: %w", bucket, key, err)
	}
	b, ok := v.Site(site)
	if !ok {
		return ObjectProgress{}, nil
	}
	p := ObjectProgress{Replicated: true}
	if v.NeedsData() {
		p.Total = v.Size
	}
	if b.Status == domain.StatusCompleted {
		p.Done, p.Completed = p.Total, true
		return p, nil
	}
	cp, found, err := o.CopyProgress(ctx, site, bucket, key, versionID)
	if err != nil {
		return p, err
	}
	if found && cp.Total > 0 {
		p.Total, p.Done = cp.Total, cp.Done
	}
	return p, nil
}

// CopyProgress reads the replicator's report of a copy, if there is one.
func (o *Operator) CopyProgress(ctx context.Context, site, bucket, key, versionID string) (ports.CopyProgress, bool, error) {
	if o.Progress == nil {
		return ports.CopyProgress{}, false, nil
	}
	cp, err := o.Progress.Progress(ctx, ports.CopyRef{Site: site, Bucket: bucket, Key: key, VersionID: versionID})
	switch {
	case errors.Is(err, ports.ErrNotFound):
		return ports.CopyProgress{}, false, nil
	case err != nil:
		return ports.CopyProgress{}, false, fmt.Errorf("read progress of %s/%s %s to %s: %w", bucket, key, versionID, site, err)
	}
	return cp, true, nil
}
