package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/openbackbeat/backbeat/ports"
)

// task is the work planned for one delivery: it runs under key, at most one
// per key at a time, and is dropped when a task with the same id is queued
// or running.
type task struct {
	key, id string
	run     func(ctx context.Context)
	// finish, when set, runs after run, once run has given its worker
	// back, in order per key among the finishes; the delivery is acked
	// only after it. It holds effects that may wait on a slower service
	// (Redis) without holding up the next runs (MongoDB).
	finish func(ctx context.Context)
}

// maxFinishing bounds the finishes waiting at once in a consumer: beyond
// it, runs wait for a finish to end (backpressure).
const maxFinishing = 4096

// consumer feeds deliveries of one topic to a KeyedRunner and acks them in
// order through a Ledger once their task is done. A task that could not
// finish because ctx ended must not call done: its delivery stays unacked
// and is delivered again after a restart.
type consumer struct {
	sub         ports.Subscriber
	topic       string
	group       string
	concurrency int
	gate        *Gate
	log         *slog.Logger
	// plan turns a delivery into a task; a nil task means the delivery
	// needs no work (skipped, or dead-lettered inside plan).
	plan func(ctx context.Context, d *ports.Delivery) *task
}

func (c *consumer) run(ctx context.Context) error {
	ch, err := c.sub.Subscribe(ctx, c.topic, c.group)
	if err != nil {
		if ctx.Err() != nil {
			return nil // asked to stop while starting: not a failure
		}
		return fmt.Errorf("subscribe to %s as %s: %w", c.topic, c.group, err)
	}
	ledger := NewLedger()
	runner := NewKeyedRunner(c.concurrency)
	finishing := NewKeyedRunner(maxFinishing)
	defer finishing.Wait()
	defer runner.Wait()
	for {
		if err := c.gate.Wait(ctx); err != nil {
			return nil
		}
		var d *ports.Delivery
		var ok bool
		select {
		case <-ctx.Done():
			return nil
		case d, ok = <-ch:
		}
		if !ok {
			return nil
		}
		ledger.Track(d)
		t := c.plan(ctx, d)
		if t == nil {
			ledger.Done(d)
			continue
		}
		if !runner.Submit(t.key, t.id, func() {
			// The gate is checked again as the task starts: a pause may
			// have come while the delivery was awaited, or while the task
			// queued behind its key or for a worker. Copies already
			// running finish; the others wait here, unacked.
			if err := c.gate.Wait(ctx); err != nil {
				return
			}
			t.run(ctx)
			if ctx.Err() != nil {
				return
			}
			if t.finish == nil {
				ledger.Done(d)
				return
			}
			if !finishing.Submit(t.key, t.id, func() {
				t.finish(ctx)
				if ctx.Err() == nil {
					ledger.Done(d)
				}
			}) {
				// Identical to a task still finishing: its finish does
				// the work, and the ledger acks this one after it.
				ledger.Done(d)
			}
		}) {
			c.log.Debug("dropped an entry identical to one in flight", "topic", c.topic, "id", t.id)
			ledger.Done(d)
		}
	}
}
