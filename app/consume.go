package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/openbackbeat/backbeat/domain"
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
			finishing.Submit(t.key, t.id, func() {
				t.finish(ctx)
				if ctx.Err() == nil {
					ledger.Done(d)
				}
			})
		}) {
			c.log.Debug("dropped an entry identical to one in flight", "topic", c.topic, "id", t.id)
			ledger.Done(d)
		}
	}
}

// Gate blocks consumers while their site is paused.
type Gate struct {
	mu      sync.Mutex
	paused  bool
	resumed chan struct{} // closed while running
}

// NewGate returns an open gate.
func NewGate() *Gate {
	ch := make(chan struct{})
	close(ch)
	return &Gate{resumed: ch}
}

// Set pauses or resumes.
func (g *Gate) Set(paused bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if paused == g.paused {
		return
	}
	g.paused = paused
	if paused {
		g.resumed = make(chan struct{})
	} else {
		close(g.resumed)
	}
}

// Paused reports whether the gate is closed.
func (g *Gate) Paused() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.paused
}

// Wait returns once the gate is open, or ctx's error. A nil gate is
// always open.
func (g *Gate) Wait(ctx context.Context) error {
	if g == nil {
		return ctx.Err()
	}
	g.mu.Lock()
	ch := g.resumed
	g.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// DeadLetter is the record published to the dead-letter topic.
type DeadLetter struct {
	Reason  string            `json:"reason"`
	Source  string            `json:"source"` // topic or "journal"
	Key     string            `json:"key,omitempty"`
	Payload string            `json:"payload"`
	Headers map[string]string `json:"headers,omitempty"`
	At      time.Time         `json:"at"`
	// Truncated is the payload's original size when it was cut.
	Truncated int `json:"truncated,omitempty"`
}

// maxDeadLetterPayload bounds the input kept in a dead letter.
const maxDeadLetterPayload = 64 << 10

// deadLetter publishes bad input with the reason it was rejected, retrying
// until it is accepted or ctx ends: bad input is never dropped silently.
func deadLetter(ctx context.Context, pub ports.Publisher, topic, source string, m ports.Message, reason error, log *slog.Logger, tel *Telemetry) error {
	rec := DeadLetter{Reason: reason.Error(), Source: source, Key: m.Key, Payload: string(m.Payload), Headers: m.Headers, At: time.Now().UTC()}
	if len(rec.Payload) > maxDeadLetterPayload {
		// Keep the record publishable: the reason and the start of the
		// input say enough to find the rest at its source.
		rec.Payload = rec.Payload[:maxDeadLetterPayload]
		rec.Truncated = len(m.Payload)
	}
	payload, _ := json.Marshal(rec)
	log.WarnContext(ctx, "dead-lettered bad input", "source", source, "key", m.Key, "reason", rec.Reason)
	err := retryForever(ctx, func() error {
		return pub.Publish(ctx, topic, ports.Message{Key: m.Key, Payload: payload})
	}, log, "publish to dead-letter topic")
	if err == nil {
		tel.deadLettered(ctx, source)
	}
	return err
}

// retryForever retries fn with capped backoff until it succeeds, fails
// with an error that retrying cannot fix (returned as is), or ctx ends. It
// serves effects that must happen (a status write, a publish) where giving
// up on a transient failure would lose work.
func retryForever(ctx context.Context, fn func() error, log *slog.Logger, what string) error {
	delay := 50 * time.Millisecond
	for {
		err := fn()
		if err == nil || domain.Classify(err) != domain.Transient {
			return err
		}
		log.WarnContext(ctx, "retrying", "what", what, "err", err, "in", delay)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (last error: %v)", what, ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(delay*2, 5*time.Second)
	}
}

// traceContext extracts the trace context carried in message headers.
func traceContext(ctx context.Context, headers map[string]string) context.Context {
	return otel.GetTextMapPropagator().Extract(ctx, propagation.MapCarrier(headers))
}

// traceHeaders returns headers carrying ctx's trace context.
func traceHeaders(ctx context.Context) map[string]string {
	h := map[string]string{}
	otel.GetTextMapPropagator().Inject(ctx, propagation.MapCarrier(h))
	return h
}
