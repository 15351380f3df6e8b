package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// EpochHeader carries, on every entry a leased populator publishes, the
// fencing epoch of its grant: in each partition the epochs never go down,
// which is how tests (and an operator reading the topic) can tell that a
// fenced populator published nothing after its successor began.
const EpochHeader = "backbeat-populator-epoch"

// PopulatorDeps are the ports a Populator drives.
type PopulatorDeps struct {
	Journal     ports.Journal     // required
	Checkpoints ports.Checkpoints // required
	Metadata    ports.MetadataStore
	Publisher   ports.Publisher // required, as Metadata is
	// Sites are the destination sites this service replicates to; a version
	// naming another site fails for that site with a clear reason.
	// Required.
	Sites []string
	// Topics' unnamed topics take DefaultTopics' names.
	Topics    Topics
	Metrics   ports.MetricsRecorder // optional
	Telemetry *Telemetry            // optional
	Log       *slog.Logger          // optional
	// Lease, when set, makes this instance one of several that may run:
	// it reads and publishes only while it holds the lease named after its
	// checkpoint, and its checkpoint saves are fenced with its grant (the
	// lease store is the checkpoint store). A standby that takes over
	// resumes from the last checkpoint saved.
	Lease *Leadership
	// Backfill, when set, starts a backfill job for each bucket whose
	// journal history was lost after the checkpoint (see recoverHistory).
	// Nil: the loss is reported, and left to the operator.
	Backfill *BackfillService
}

// Populator tails the metadata journal and publishes one replication entry
// per object version that is PENDING for some site. It saves the journal
// position only after the bus accepted everything before it, so a crash
// repeats entries (the replicators are idempotent) but never skips one.
// Make one with NewPopulator.
type Populator struct {
	PopulatorDeps
	PopulatorConfig

	mu        sync.Mutex
	lost      *HistoryLostState
	backlog   *metricsBacklog
	buckets   map[string]cachedBucket
	ready     chan struct{}
	readyOnce sync.Once
}

// NewPopulator returns a populator. cfg's unset fields take their
// defaults; a missing dependency or a bad setting is an error that names
// it. A Lease is named after the checkpoint.
func NewPopulator(deps PopulatorDeps, cfg PopulatorConfig) (*Populator, error) {
	errs := requireDeps(dep{"Journal", deps.Journal}, dep{"Checkpoints", deps.Checkpoints},
		dep{"Metadata", deps.Metadata}, dep{"Publisher", deps.Publisher})
	if len(deps.Sites) == 0 {
		errs = append(errs, errors.New("no destination site (Sites)"))
	}
	cfg = cfg.WithDefaults()
	errs = append(errs, cfg.Validate())
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("populator: %w", err)
	}
	deps.Topics = deps.Topics.WithDefaults()
	deps.Log = orDiscard(deps.Log)
	if deps.Lease != nil {
		deps.Lease.Name = cfg.CheckpointName
	}
	return &Populator{PopulatorDeps: deps, PopulatorConfig: cfg}, nil
}

// counts is where the populator's counts go: they never wait on Redis.
func (p *Populator) counts() *metricsBacklog {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.backlog == nil {
		p.backlog = newMetricsBacklog(p.Metrics, p.Log)
	}
	return p.backlog
}

// Ready is closed once the journal is open: writes made after that are
// seen even on a first start, which begins at the journal's end.
func (p *Populator) Ready() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ready == nil {
		p.ready = make(chan struct{})
	}
	return p.ready
}

// Run publishes entries until ctx ends: all along, or, with a Lease, in
// the terms this instance holds it.
func (p *Populator) Run(ctx context.Context) error {
	if p.Lease == nil {
		return p.run(ctx, nil)
	}
	return p.Lease.Run(ctx, p.run)
}

// run reads the journal from the last checkpoint and publishes until ctx
// ends or, under a lease, term t is lost. A journal that lost history
// after the checkpoint is answered by recoverHistory, then read on from
// where it says.
func (p *Populator) run(ctx context.Context, t *Term) error {
	from, err := p.Checkpoints.Load(ctx, p.CheckpointName)
	if err != nil {
		if ctx.Err() != nil {
			return nil // asked to stop while starting: not a failure
		}
		return fmt.Errorf("load populator checkpoint: %w", err)
	}
	for {
		err := p.read(ctx, t, from)
		var hl *ports.HistoryLostError
		if !errors.As(err, &hl) {
			return err
		}
		if err := p.recoverHistory(ctx, hl, t); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		from = hl.Resume
	}
}

// read opens the journal at from and publishes until ctx ends or an error.
func (p *Populator) read(ctx context.Context, t *Term, from ports.Position) error {
	cur, err := p.Journal.Open(ctx, from)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("open journal: %w", err)
	}
	defer func() { _ = cur.Close(context.WithoutCancel(ctx)) }()
	p.Ready() // make sure the channel exists
	p.readyOnce.Do(func() { close(p.ready) })
	// The next batch is read while this one is published and
	// checkpointed: a journal read (a getMore) and a publish each wait on
	// their server, one after the other they add up. Batches are still
	// processed, and checkpointed, one at a time in journal order.
	rctx, stop := context.WithCancel(ctx)
	batches := make(chan journalBatch, 1)
	var reader sync.WaitGroup
	reader.Go(func() { readAhead(rctx, cur, p.BatchSize, batches) })
	defer reader.Wait() // before the cursor closes
	defer stop()
	for b := range batches {
		if b.err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("read journal: %w", b.err)
		}
		if err := p.process(ctx, b.events, t); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
	return nil // ctx ended
}

// journalBatch is one read of the journal: events, or the error that
// ended the reads.
type journalBatch struct {
	events []ports.JournalEvent
	err    error
}

// readAhead sends the journal's batches to out until a read fails or ctx
// ends, then closes out.
func readAhead(ctx context.Context, cur ports.JournalCursor, size int, out chan<- journalBatch) {
	defer close(out)
	for {
		events, err := cur.Next(ctx, size)
		select {
		case out <- journalBatch{events, err}:
		case <-ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

// process publishes the entries of a batch of events, then checkpoints.
// Under a lease, nothing is published once term t is past its deadline,
// and the checkpoint is saved only if t is still the lease's grant.
func (p *Populator) process(ctx context.Context, events []ports.JournalEvent, t *Term) error {
	var msgs []ports.Message
	var queued []queuedSite
	var sizes []int64 // each entry's bytes of data
	for _, ev := range events {
		m, sites, err := p.entryFor(ctx, ev)
		if err != nil {
			if domain.Classify(err) != domain.Poison {
				return err
			}
			if err := p.deadLetterEvent(ctx, ev, err); err != nil {
				return err
			}
			continue
		}
		if m != nil {
			msgs = append(msgs, *m)
			queued = append(queued, sites...)
			if len(sites) > 0 {
				sizes = append(sizes, sites[0].bytes)
			}
		}
	}
	if !t.Valid() {
		return fmt.Errorf("populator: %w: the lease's term ran out before publishing", ports.ErrLeaseLost)
	}
	if t != nil {
		epoch := strconv.FormatInt(t.Grant.Epoch, 10)
		for i := range msgs {
			msgs[i].Headers[EpochHeader] = epoch
		}
	}
	if err := p.publish(ctx, msgs); err != nil {
		return err
	}
	p.Telemetry.batchPublished(ctx, p.CheckpointName, sizes, queued, events[len(events)-1].Time)
	// The shared counts are the backlog the API and the other processes
	// read, not instrumentation: they are recorded once each (ports.Op).
	counts := make([]deferredCount, len(queued))
	for i, q := range queued {
		counts[i] = deferredCount{site: q.site, kind: ports.MetricQueued, ops: 1, bytes: q.bytes}
	}
	p.counts().recordAll(ctx, counts)
	return p.save(ctx, t, events[len(events)-1].Position)
}

// save checkpoints pos; under a lease, only while term t is the grant.
func (p *Populator) save(ctx context.Context, t *Term, pos ports.Position) error {
	save := func() error { return p.Checkpoints.Save(ctx, p.CheckpointName, pos) }
	if t != nil {
		save = func() error {
			err := p.Lease.Leases.SaveFenced(ctx, t.Grant, pos)
			if errors.Is(err, ports.ErrLeaseLost) {
				return fmt.Errorf("%w: %w", domain.ErrPermanent, err) // fenced: retrying cannot help
			}
			return err
		}
	}
	return retryForever(ctx, save, p.Log, "save checkpoint")
}

// deadLetterEvent keeps a journal event as a dead letter, with why.
func (p *Populator) deadLetterEvent(ctx context.Context, ev ports.JournalEvent, why error) error {
	m := ports.Message{Key: domain.OrderingKey(ev.Bucket, ev.Key), Payload: ev.Value}
	return deadLetter(ctx, p.Publisher, p.Topics.DeadLetter, "journal", m, fmt.Errorf("journal event %s/%q: %w", ev.Bucket, ev.Key, why), p.Log, p.Telemetry)
}

// publish sends a batch of entries. When the bus refuses the batch for
// good (say, an entry over its size limit), each entry is sent alone and
// those refused go to the dead-letter topic, so one bad entry neither blocks
// the journal nor takes the others with it.
func (p *Populator) publish(ctx context.Context, msgs []ports.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	send := func(ms ...ports.Message) error {
		return retryForever(ctx, func() error { return p.Publisher.Publish(ctx, p.Topics.Entries, ms...) }, p.Log, "publish entries")
	}
	err := send(msgs...)
	if err == nil || ctx.Err() != nil {
		return err
	}
	for _, m := range msgs {
		if err := send(m); err != nil {
			if ctx.Err() != nil {
				return err
			}
			if err := deadLetter(ctx, p.Publisher, p.Topics.DeadLetter, "journal", m, fmt.Errorf("entry refused by the bus: %w", err), p.Log, p.Telemetry); err != nil {
				return err
			}
		}
	}
	return nil
}

type queuedSite struct {
	site  string
	bytes int64
}

// entryFor decides what one journal event produces: nothing (a master key,
// a version with nothing PENDING, a replica), an entry, or a poison error.
func (p *Populator) entryFor(ctx context.Context, ev ports.JournalEvent) (*ports.Message, []queuedSite, error) {
	key, vid, isVersion := domain.SplitVersionedKey(ev.Key)
	if !isVersion || key == "" {
		return nil, nil, nil // masters repeat their latest version's event
	}
	obj, err := domain.ParseObjectMD(ev.Bucket, ev.Value)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", domain.ErrPoison, err)
	}
	obj.Key, obj.VersionID = key, vid
	if obj.Replication.Status != domain.StatusPending {
		return nil, nil, nil // only new writes are queued; REPLICA never is
	}
	pending := obj.PendingSites()
	if len(pending) == 0 {
		return nil, nil, nil
	}
	refused, bad, err := p.refusedSites(ctx, obj, pending)
	if err != nil {
		return nil, nil, err
	}
	if bad != nil {
		// Bad input (an unusable bucket document or configuration, a site
		// this service does not know) is also kept as a dead letter, with
		// the reason, beside the FAILED status operators see and retry.
		if err := p.deadLetterEvent(ctx, ev, bad); err != nil {
			return nil, nil, err
		}
	}
	if len(refused) > 0 {
		if err := p.failSites(ctx, obj, refused); err != nil {
			return nil, nil, err
		}
		pending = slices.DeleteFunc(pending, func(s string) bool { _, bad := refused[s]; return bad })
		if len(pending) == 0 {
			return nil, nil, nil
		}
	}
	// The entry's own span: its context goes in the message's headers.
	ctx, span := tracer.Start(ctx, "populate", trace.WithAttributes(
		attribute.String("bucket", obj.Bucket), attribute.String("key", key), attribute.String("version", vid)))
	defer span.End()
	entry := domain.NewEntry(ev.Bucket, ev.Key, ev.Value)
	var bytes int64
	if obj.NeedsData() {
		bytes = obj.Size
	}
	sites := make([]queuedSite, 0, len(pending))
	for _, s := range pending {
		sites = append(sites, queuedSite{site: s, bytes: bytes})
	}
	return &ports.Message{Key: entry.OrderingKey(), Payload: entry.Encode(), Headers: traceHeaders(ctx)}, sites, nil
}
