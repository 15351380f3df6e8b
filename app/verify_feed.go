package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// A verify reads each side ahead of the merge, in a goroutine per side,
// at most feedAhead pages, so that the source walk, the site listings and
// the judgement of a batch (its tag reads) overlap. Source pages are
// larger than a batch: on MongoDB each page is one range query.
const (
	feedAhead      = 2
	verifySrcPage  = 2000
	verifySitePage = 1000
)

// sourcePage is one page of the source walk; last ends it.
type sourcePage struct {
	versions []domain.SourceVersion
	last     bool
	err      error
}

// sitePage is one page of a site listing; last ends it.
type sitePage struct {
	versions []domain.SiteVersion
	last     bool
	err      error
}

// receive takes the next page from a feed, or ctx's error.
func receive[T any](ctx context.Context, c <-chan T) (T, error) {
	select {
	case p := <-c:
		return p, nil
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// send hands a page to the merge; false when ctx ended first.
func send[T any](ctx context.Context, c chan<- T, p T) bool {
	select {
	case c <- p:
		return true
	case <-ctx.Done():
		return false
	}
}

// feedSource walks the source's versions after after, page by page, until
// the last page, an error (sent as the last page) or ctx's end.
func (w *verifyWalk) feedSource(ctx context.Context, after domain.VersionRef, out chan<- sourcePage) {
	size := max(w.cfg.BatchSize, verifySrcPage)
	for {
		vs, err := w.r.Scanner.ScanVersions(ctx, w.job.Bucket, w.job.Prefix, after, size)
		if errors.Is(err, ports.ErrNotFound) {
			err = fmt.Errorf("%w: %w", domain.ErrPermanent, err)
		}
		if err != nil {
			send(ctx, out, sourcePage{err: fmt.Errorf("walk %s after %v: %w", w.job.Bucket, after, err)})
			return
		}
		page := sourcePage{versions: make([]domain.SourceVersion, len(vs)), last: len(vs) < size}
		for i, v := range vs {
			page.versions[i] = domain.SourceVersion{ObjectVersion: v.ObjectVersion, Unreadable: v.Err != nil}
			if v.Err != nil {
				w.log.Warn("verify: an unreadable version is not compared", "key", v.Key, "version", v.VersionID, "err", v.Err)
			}
		}
		if len(vs) > 0 {
			after = vs[len(vs)-1].Ref()
		}
		if !send(ctx, out, page) || page.last {
			return
		}
	}
}

// feedSite lists target i's versions after pos, page by page, as
// feedSource walks the source. A destination bucket that does not exist
// holds nothing: every version is missing there.
func (w *verifyWalk) feedSite(ctx context.Context, i int, pos ports.ListPosition, out chan<- sitePage) {
	t := w.job.Verify.Targets[i]
	for {
		p, err := w.lists[i].ListVersions(ctx, t.Bucket, w.job.Prefix, pos, verifySitePage)
		if errors.Is(err, ports.ErrNotFound) {
			w.log.Warn("verify: the destination bucket does not exist", "site", t.Site, "bucket", t.Bucket)
			p, err = ports.VersionPage{}, nil
		}
		if err != nil {
			send(ctx, out, sitePage{err: fmt.Errorf("list %s at %s after %+v: %w", t.Bucket, t.Site, pos, err)})
			return
		}
		page := sitePage{versions: p.Versions, last: !p.More}
		pos = p.Next
		if !send(ctx, out, page) || page.last {
			return
		}
	}
}
