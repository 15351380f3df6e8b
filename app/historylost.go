package app

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// HistoryLostMargin is taken off the start of a lost range for the
// backfill's ModifiedSince: versions' last-modified times come from the
// writer's clock (CloudServer's), the journal's from MongoDB's, in whole
// seconds on the stand-in. A larger margin queues more, never loses.
const HistoryLostMargin = time.Minute

// HistoryLostState is what the populator says of the last time it found
// journal history gone, for the healthcheck.
type HistoryLostState struct {
	// Count is how many times this instance found history lost.
	Count int64 `json:"count"`
	// At is when it last did.
	At time.Time `json:"at"`
	// Buckets are the buckets whose events may have been lost.
	Buckets []string `json:"buckets"`
	// From and To bound the lost range (From zero: unknown, it may reach
	// back to any time).
	From time.Time `json:"from,omitzero"`
	To   time.Time `json:"to"`
	// Backfills are the backfill jobs started, by bucket; NotBackfilled
	// says why a bucket got none (the automatic backfill is off, the
	// bucket no longer replicates, ...).
	Backfills     map[string]string `json:"backfills,omitempty"`
	NotBackfilled map[string]string `json:"notBackfilled,omitempty"`
}

// HistoryLost returns the last history loss this populator found, or nil
// when it found none.
func (p *Populator) HistoryLost() *HistoryLostState {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lost == nil {
		return nil
	}
	st := *p.lost
	st.Buckets = slices.Clone(st.Buckets)
	st.Backfills, st.NotBackfilled = maps.Clone(st.Backfills), maps.Clone(st.NotBackfilled)
	return &st
}

// recoverHistory answers a journal that lost history after the
// checkpoint: it says so (error log, metric, healthcheck), starts a
// backfill of each bucket concerned for the versions written since the
// lost range began (unless p.Backfill is nil), then checkpoints the
// journal's Resume position, so that a restart neither reports the same
// loss again nor needs the history that is gone.
func (p *Populator) recoverHistory(ctx context.Context, hl *ports.HistoryLostError, t *Term) error {
	p.Telemetry.journalHistoryLost(ctx)
	st := HistoryLostState{At: time.Now().UTC(), Buckets: slices.Clone(hl.Buckets), From: hl.From.UTC(), To: hl.To.UTC()}
	if hl.From.IsZero() {
		st.From = time.Time{}
	}
	p.Log.ErrorContext(ctx, "journal history lost: writes in this range may never have been published",
		"buckets", hl.Buckets, "from", st.From, "to", st.To, "checkpoint", p.CheckpointName, "autoBackfill", p.Backfill != nil)
	req := domain.JobRequest{IncludePending: true}
	if !hl.From.IsZero() {
		req.ModifiedSince = hl.From.Add(-HistoryLostMargin).UTC()
	}
	for _, b := range hl.Buckets {
		if p.Backfill == nil {
			p.notBackfilled(&st, b, "automatic backfill is off (populator.backfillOnHistoryLost)")
			continue
		}
		req.Bucket = b
		var job domain.Job
		err := retryForever(ctx, func() error {
			var err error
			job, err = p.Backfill.Start(ctx, req)
			if errors.Is(err, ports.ErrNotFound) || errors.Is(err, ErrNoReplication) || errors.Is(err, domain.ErrInvalidJob) || errors.Is(err, ErrUnknownSite) {
				return fmt.Errorf("%w: %w", domain.ErrPermanent, err)
			}
			return err
		}, p.Log, "start the backfill of "+b)
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			p.notBackfilled(&st, b, err.Error())
			continue
		}
		if st.Backfills == nil {
			st.Backfills = map[string]string{}
		}
		st.Backfills[b] = job.ID
		p.Log.InfoContext(ctx, "backfill started for lost journal history", "bucket", b, "job", job.ID, "modifiedSince", req.ModifiedSince)
	}
	p.mu.Lock()
	if p.lost != nil {
		st.Count = p.lost.Count
	}
	st.Count++
	p.lost = &st
	p.mu.Unlock()
	return p.save(ctx, t, hl.Resume)
}

func (p *Populator) notBackfilled(st *HistoryLostState, bucket, why string) {
	if st.NotBackfilled == nil {
		st.NotBackfilled = map[string]string{}
	}
	st.NotBackfilled[bucket] = why
	p.Log.Error("lost journal history not backfilled: start a backfill with includePending and modifiedSince (POST /_/backfill)",
		"bucket", bucket, "reason", why, "modifiedSince", st.From.Add(-HistoryLostMargin))
}

func (t *Telemetry) journalHistoryLost(ctx context.Context) {
	if t != nil {
		t.historyLost.Add(ctx, 1)
	}
}
