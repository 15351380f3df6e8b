package app

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/ports"
)

// chanSubscriber hands out one channel of deliveries for any topic.
type chanSubscriber chan *ports.Delivery

func (s chanSubscriber) Subscribe(context.Context, string, string) (<-chan *ports.Delivery, error) {
	return s, nil
}

func (s chanSubscriber) Close() error { return nil }

// pauseFixture runs a consumer whose tasks, keyed by the message key, report
// their payload on ran and wait for a value on release when the payload
// says "hold".
type pauseFixture struct {
	t       *testing.T
	deliver chanSubscriber
	gate    *Gate
	ran     chan string
	release chan struct{}
	offset  int64
}

func newPauseFixture(t *testing.T) *pauseFixture {
	f := &pauseFixture{t: t, deliver: make(chanSubscriber), gate: NewGate(), ran: make(chan string, 16), release: make(chan struct{})}
	c := &consumer{sub: f.deliver, topic: "t", group: "g", concurrency: 4, gate: f.gate, log: slog.New(slog.DiscardHandler),
		plan: func(_ context.Context, d *ports.Delivery) *task {
			p := string(d.Payload)
			return &task{key: d.Key, id: fmt.Sprint(d.Offset), run: func(context.Context) {
				f.ran <- p
				if p == "hold" {
					<-f.release
				}
			}}
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return f
}

func (f *pauseFixture) send(key, payload string) {
	f.offset++
	f.deliver <- ports.NewDelivery(ports.Message{Key: key, Payload: []byte(payload)}, 0, f.offset, func() {})
}

func (f *pauseFixture) expectRun(want string) {
	f.t.Helper()
	select {
	case got := <-f.ran:
		if got != want {
			f.t.Fatalf("ran %q, want %q", got, want)
		}
	case <-time.After(5 * time.Second):
		f.t.Fatalf("%q did not run", want)
	}
}

// expectNothing checks that no task starts for a while: a paused consumer
// must hold what it has.
func (f *pauseFixture) expectNothing() {
	f.t.Helper()
	select {
	case got := <-f.ran:
		f.t.Fatalf("%q ran while paused", got)
	case <-time.After(100 * time.Millisecond):
	}
}

// A delivery received after the pause, while the consumer was already
// waiting on its subscription, waits for the resume.
func TestPauseHoldsADeliveryAwaitedBeforeIt(t *testing.T) {
	f := newPauseFixture(t)
	f.send("k1", "first")
	f.expectRun("first") // the loop is back to waiting for a delivery
	f.gate.Set(true)
	go f.send("k2", "after the pause")
	f.expectNothing()
	f.gate.Set(false)
	f.expectRun("after the pause")
}

// A task queued behind its key when the pause comes does not start once
// the one before it finishes.
func TestPauseHoldsATaskQueuedBehindItsKey(t *testing.T) {
	f := newPauseFixture(t)
	f.send("k", "hold")
	f.expectRun("hold")
	f.send("k", "queued")
	f.gate.Set(true)
	f.release <- struct{}{} // the running copy finishes
	f.expectNothing()
	f.gate.Set(false)
	f.expectRun("queued")
}

// A consumer asked to stop before its subscription is up stops cleanly:
// shutting down during start-up is not a failure of the role.
func TestConsumerStoppedWhileSubscribingIsNoFailure(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c := &consumer{sub: cancelledSubscriber{}, topic: "t", group: "g", concurrency: 1, log: slog.New(slog.DiscardHandler)}
	if err := c.run(ctx); err != nil {
		t.Fatalf("run after cancel: %v, want nil", err)
	}
}

// cancelledSubscriber fails every subscription with its context's error,
// as the adapters do once the context has ended.
type cancelledSubscriber struct{}

func (cancelledSubscriber) Subscribe(ctx context.Context, topic, _ string) (<-chan *ports.Delivery, error) {
	return nil, fmt.Errorf("subscribe to %s: %w", topic, ctx.Err())
}

func (cancelledSubscriber) Close() error { return nil }

// A delivery whose task is identical to one still finishing (a duplicate
// read while the first's finish waits on a slow service) is acked once
// the first is: its finish is dropped, as its run would have been, and
// the partition's later deliveries are not held behind it for good.
func TestDuplicateOfAFinishingTaskIsAcked(t *testing.T) {
	deliver := make(chanSubscriber)
	release := make(chan struct{})
	finishing := make(chan struct{}, 1)
	finishes := 0
	c := &consumer{sub: deliver, topic: "t", group: "g", concurrency: 4, gate: NewGate(), log: slog.New(slog.DiscardHandler),
		plan: func(_ context.Context, d *ports.Delivery) *task {
			return &task{key: d.Key, id: string(d.Payload), run: func(context.Context) {},
				finish: func(context.Context) {
					finishes++ // finishes of one key run one at a time
					if finishes == 1 {
						finishing <- struct{}{}
						<-release
					}
				}}
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	acked := make(chan int64, 3)
	send := func(offset int64, payload string) {
		deliver <- ports.NewDelivery(ports.Message{Key: "k", Payload: []byte(payload)}, 0, offset, func() { acked <- offset })
	}
	send(1, "same")
	<-finishing
	send(2, "same")
	send(3, "next")
	close(release)
	for _, want := range []int64{1, 2, 3} {
		select {
		case got := <-acked:
			if got != want {
				t.Fatalf("acked offset %d, want %d", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("offset %d was never acked", want)
		}
	}
}
