package memory_test

import (
	"context"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/adapters/memory"
	"github.com/openbackbeat/backbeat/ports"
	"github.com/openbackbeat/backbeat/ports/bustest"
)

func newBus(t *testing.T, cfg memory.BusConfig) *memory.Bus {
	t.Helper()
	b, err := memory.NewBus(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestBusContract(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  memory.BusConfig
		f    bustest.Features
	}{
		{"defaults", memory.BusConfig{}, bustest.Features{Partitions: memory.DefaultPartitions, MinWindow: memory.DefaultWindow, Timeout: 10 * time.Second}},
		{"one partition, window 1", memory.BusConfig{Partitions: 1, Window: 1}, bustest.Features{Partitions: 1, Timeout: 10 * time.Second}},
		{"3 partitions, window 4", memory.BusConfig{Partitions: 3, Window: 4}, bustest.Features{Partitions: 3, MinWindow: 4, Timeout: 10 * time.Second}},
	} {
		t.Run(c.name, func(t *testing.T) {
			bustest.Run(t, func(t *testing.T) (ports.Publisher, ports.Subscriber) {
				b := newBus(t, c.cfg)
				return b, b
			}, c.f)
		})
	}
}

func TestBusConfigValidate(t *testing.T) {
	if _, err := memory.NewBus(memory.BusConfig{Partitions: -1, Window: -2}); err == nil {
		t.Fatal("NewBus accepted negative partitions and window")
	}
}

// TestBusOneSubscriptionPerGroup checks that a group has one active
// subscription per topic, and that another group is not affected.
func TestBusOneSubscriptionPerGroup(t *testing.T) {
	b := newBus(t, memory.BusConfig{})
	ctx, cancel := context.WithCancel(testCtx(t))
	ch, err := b.Subscribe(ctx, "t", "g")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Subscribe(testCtx(t), "t", "g"); err == nil {
		t.Fatal("a second subscription of the same group succeeded while the first is active")
	}
	other, err := b.Subscribe(ctx, "t", "other")
	if err != nil {
		t.Fatalf("another group: %v", err)
	}
	cancel()
	for range ch {
	}
	for range other {
	}
	ch, err = b.Subscribe(testCtx(t), "t", "g")
	if err != nil {
		t.Fatalf("subscribing again once the first subscription ended: %v", err)
	}
	_ = b.Close()
	for range ch {
	}
	if err := b.Publish(testCtx(t), "t", ports.Message{Key: "k"}); err == nil {
		t.Fatal("Publish on a closed bus succeeded")
	}
	if _, err := b.Subscribe(testCtx(t), "t", "g"); err == nil {
		t.Fatal("Subscribe on a closed bus succeeded")
	}
}

// TestBusWindowHoldsBack checks that a subscription stops Window deliveries
// ahead of the acknowledged offset and goes on once one is acknowledged.
func TestBusWindowHoldsBack(t *testing.T) {
	b := newBus(t, memory.BusConfig{Partitions: 1, Window: 2})
	ctx := testCtx(t)
	for i := range 3 {
		if err := b.Publish(ctx, "t", ports.Message{Key: "k", Payload: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	ch, err := b.Subscribe(ctx, "t", "g")
	if err != nil {
		t.Fatal(err)
	}
	first, second := <-ch, <-ch
	select {
	case d := <-ch:
		t.Fatalf("a third delivery (offset %d) came with two unacknowledged and a window of 2", d.Offset)
	default:
	}
	if n := b.Unacked("t", "g"); n != 3 {
		t.Fatalf("Unacked = %d, want 3", n)
	}
	first.Ack()
	if third := <-ch; third.Offset != 2 {
		t.Fatalf("after an ack, delivery of offset %d, want 2", third.Offset)
	}
	second.Ack()
	if n := b.Unacked("t", "g"); n != 1 {
		t.Fatalf("Unacked = %d, want 1", n)
	}
}

func TestBusMessagesInPublishOrder(t *testing.T) {
	b := newBus(t, memory.BusConfig{})
	ctx := testCtx(t)
	var sent []string
	for i := range 20 {
		k := string(rune('a' + i%7))
		sent = append(sent, k)
		if err := b.Publish(ctx, "dead", ports.Message{Key: k, Payload: []byte(k), Headers: map[string]string{"i": k}}); err != nil {
			t.Fatal(err)
		}
	}
	got := b.Messages("dead")
	if len(got) != len(sent) {
		t.Fatalf("Messages returned %d messages, want %d", len(got), len(sent))
	}
	for i, m := range got {
		if m.Key != sent[i] || string(m.Payload) != sent[i] || m.Headers["i"] != sent[i] {
			t.Fatalf("message #%d = %+v, want key %q", i, m, sent[i])
		}
	}
	got[0].Payload[0] = 'X' // a copy: the topic is unchanged
	if b.Messages("dead")[0].Payload[0] == 'X' {
		t.Fatal("Messages returned the bus's own payload")
	}
	if b.Messages("never") != nil {
		t.Fatal("Messages of an unknown topic is not nil")
	}
}
