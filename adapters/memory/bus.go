package memory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"sync"

	"github.com/openbackbeat/backbeat/ports"
)

// Defaults of BusConfig.
const (
	DefaultPartitions = 8
	DefaultWindow     = 256
)

// BusConfig configures a Bus; zero fields take their defaults.
type BusConfig struct {
	// Partitions is the number of partitions of each topic, fixed when the
	// topic is created on first use (default 8).
	Partitions int
	// Window is how many deliveries of one partition a subscription hands
	// out ahead of the group's acknowledged offset (default 256).
	Window int
}

// Validate reports every problem of the configuration.
func (c BusConfig) Validate() error {
	var errs []error
	if c.Partitions < 0 {
		errs = append(errs, fmt.Errorf("memory bus: partitions %d is negative", c.Partitions))
	}
	if c.Window < 0 {
		errs = append(errs, fmt.Errorf("memory bus: window %d is negative", c.Window))
	}
	return errors.Join(errs...)
}

func (c BusConfig) withDefaults() BusConfig {
	if c.Partitions == 0 {
		c.Partitions = DefaultPartitions
	}
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	return c
}

// Bus is an in-memory partitioned log with consumer groups (the package
// comment says why it is not gochannel). A message goes to partition
// fnv32a(key) mod Partitions of its topic, so messages of one key stay in
// order. Each consumer group keeps an acknowledged offset per partition; a
// subscription delivers each partition from there, in order, up to Window
// deliveries ahead of it, and Ack of offset o moves the group's position to
// o+1. A group has at most one active subscription per topic: a second
// Subscribe fails until the first has ended, after which a new one resumes
// at the acknowledged offsets, so what was not acknowledged is delivered
// again.
//
// Messages are never deleted: Bus is meant for tests and demos. It
// implements ports.Publisher and ports.Subscriber and is safe for
// concurrent use. Close ends every subscription.
type Bus struct {
	cfg BusConfig

	mu     sync.Mutex
	topics map[string]*topic
	closed bool
	done   chan struct{} // closed by Close
	wg     sync.WaitGroup
}

type topic struct {
	parts  []*partition
	log    []ports.Message // every message, in publish order
	groups map[string]*group
}

type partition struct {
	msgs []ports.Message
	grew chan struct{} // closed, and replaced, when msgs grows
}

type group struct {
	acked  []int64         // per partition: the offset after the last acknowledged
	moved  []chan struct{} // per partition: closed, and replaced, when acked moves
	active bool
}

var (
	_ ports.Publisher  = (*Bus)(nil)
	_ ports.Subscriber = (*Bus)(nil)
)

// NewBus returns an empty bus.
func NewBus(cfg BusConfig) (*Bus, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Bus{cfg: cfg.withDefaults(), topics: map[string]*topic{}, done: make(chan struct{})}, nil
}

var errBusClosed = errors.New("memory bus is closed")

// topicLocked returns the topic, creating it. The caller holds b.mu.
func (b *Bus) topicLocked(name string) *topic {
	t := b.topics[name]
	if t == nil {
		t = &topic{parts: make([]*partition, b.cfg.Partitions), groups: map[string]*group{}}
		for i := range t.parts {
			t.parts[i] = &partition{grew: make(chan struct{})}
		}
		b.topics[name] = t
	}
	return t
}

func partitionOf(key string, n int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}

func copyMessage(m ports.Message) ports.Message {
	m.Payload = bytes.Clone(m.Payload)
	m.Headers = maps.Clone(m.Headers)
	return m
}

// Publish appends copies of msgs to topic. It fails only when ctx has
// ended or the bus is closed, and then appends nothing.
func (b *Bus) Publish(ctx context.Context, topicName string, msgs ...ports.Message) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory bus: publish to %s: %w", topicName, err)
	}
	if topicName == "" {
		return errors.New("memory bus: publish: empty topic name")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return fmt.Errorf("memory bus: publish to %s: %w", topicName, errBusClosed)
	}
	t := b.topicLocked(topicName)
	touched := map[int]bool{}
	for _, m := range msgs {
		m = copyMessage(m)
		p := partitionOf(m.Key, len(t.parts))
		t.parts[p].msgs = append(t.parts[p].msgs, m)
		t.log = append(t.log, m)
		touched[p] = true
	}
	for p := range touched {
		close(t.parts[p].grew)
		t.parts[p].grew = make(chan struct{})
	}
	return nil
}

// Subscribe joins group on topic and delivers from the group's
// acknowledged offsets, one goroutine per partition feeding the channel.
func (b *Bus) Subscribe(ctx context.Context, topicName, groupName string) (<-chan *ports.Delivery, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory bus: subscribe to %s: %w", topicName, err)
	}
	if topicName == "" || groupName == "" {
		return nil, fmt.Errorf("memory bus: subscribe: empty topic (%q) or group (%q) name", topicName, groupName)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, fmt.Errorf("memory bus: subscribe to %s: %w", topicName, errBusClosed)
	}
	t := b.topicLocked(topicName)
	g := t.groups[groupName]
	if g == nil {
		g = &group{acked: make([]int64, len(t.parts)), moved: make([]chan struct{}, len(t.parts))}
		for i := range g.moved {
			g.moved[i] = make(chan struct{})
		}
		t.groups[groupName] = g
	}
	if g.active {
		return nil, fmt.Errorf("memory bus: group %q already has an active subscription to topic %q", groupName, topicName)
	}
	g.active = true

	subCtx, cancel := context.WithCancel(ctx)
	ch := make(chan *ports.Delivery)
	var parts sync.WaitGroup
	for p := range t.parts {
		start := g.acked[p]
		parts.Add(1)
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			defer parts.Done()
			b.deliver(subCtx, t.parts[p], g, int32(p), start, ch)
		}()
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		select {
		case <-subCtx.Done():
		case <-b.done:
		}
		cancel()
		parts.Wait()
		b.mu.Lock()
		g.active = false
		b.mu.Unlock()
		close(ch) // after active is cleared: a caller seeing the close may subscribe again
	}()
	return ch, nil
}

// deliver sends partition p's messages from offset next on, keeping at most
// Window of them ahead of the group's acknowledged offset.
func (b *Bus) deliver(ctx context.Context, part *partition, g *group, p int32, next int64, ch chan<- *ports.Delivery) {
	for {
		b.mu.Lock()
		for {
			next = max(next, g.acked[p]) // acknowledged meanwhile: no need to send
			if next < int64(len(part.msgs)) && next-g.acked[p] < int64(b.cfg.Window) {
				break
			}
			grew, moved := part.grew, g.moved[p]
			b.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-grew:
			case <-moved:
			}
			b.mu.Lock()
		}
		m := copyMessage(part.msgs[next])
		b.mu.Unlock()
		off := next
		d := ports.NewDelivery(m, p, off, func() { b.ack(g, p, off) })
		select {
		case ch <- d:
			next++
		case <-ctx.Done():
			return
		}
	}
}

// ack moves the group's position on p past off. Positions only move
// forward: callers ack in order, and a late ack of an earlier offset
// changes nothing.
func (b *Bus) ack(g *group, p int32, off int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if off+1 > g.acked[p] {
		g.acked[p] = off + 1
		close(g.moved[p])
		g.moved[p] = make(chan struct{})
	}
}

// Messages returns copies of every message published to topic, in publish
// order; tests use it to inspect a topic such as the dead-letter one.
func (b *Bus) Messages(topicName string) []ports.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.topics[topicName]
	if t == nil {
		return nil
	}
	out := make([]ports.Message, len(t.log))
	for i, m := range t.log {
		out[i] = copyMessage(m)
	}
	return out
}

// Unacked returns how many messages of topic group has not acknowledged:
// all of them for a group that never subscribed. Tests poll it to wait
// until a consumer has caught up.
func (b *Bus) Unacked(topicName, groupName string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.topics[topicName]
	if t == nil {
		return 0
	}
	n := len(t.log)
	if g := t.groups[groupName]; g != nil {
		for _, a := range g.acked {
			n -= int(a)
		}
	}
	return n
}

// Close ends every subscription (their channels close) and waits for their
// goroutines; Publish and Subscribe fail afterwards. Closing again is a
// no-op.
func (b *Bus) Close() error {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.done)
	}
	b.mu.Unlock()
	b.wg.Wait()
	return nil
}
