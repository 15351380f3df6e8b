package kafkabus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"

	"github.com/openbackbeat/backbeat/ports"
)

// Subscriber is a ports.Subscriber on Kafka consumer groups. Each
// Subscribe call is one member of its group with its own connections.
//
// A subscription lets out up to Config.Window deliveries per partition
// before the oldest one is acked. Acks move the group's position to just
// past the longest acked prefix of each partition (an ack out of order
// waits for the earlier ones), and positions are committed every
// Config.CommitInterval, when a partition is revoked, and on Close.
// Deliveries never acked are therefore delivered again to the group's
// next owner of their partition. An ack that arrives after its partition
// was revoked is ignored: the new owner delivers the record again.
type Subscriber struct {
	cfg Config

	mu      sync.Mutex // closed, and Add on subs
	closed  bool
	closing chan struct{}
	subs    sync.WaitGroup // running subscriptions
}

var _ ports.Subscriber = (*Subscriber)(nil)

// NewSubscriber returns a subscriber to the brokers of cfg. It connects
// on Subscribe.
func NewSubscriber(cfg Config) (*Subscriber, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if _, err := cfg.saramaConfig(); err != nil {
		return nil, err
	}
	return &Subscriber{cfg: cfg, closing: make(chan struct{})}, nil
}

// Subscribe joins group on topic, creating the topic when it does not
// exist yet (a consumer may start before any publisher). It returns once
// the group member is created; partitions are assigned in the background.
func (s *Subscriber) Subscribe(ctx context.Context, topic, group string) (<-chan *ports.Delivery, error) {
	if topic == "" || group == "" {
		return nil, fmt.Errorf("kafkabus: subscribe: topic %q and group %q must not be empty", topic, group)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, fmt.Errorf("kafkabus: subscribe to %s as %s: subscriber is closed", topic, group)
	}
	s.subs.Add(1)
	s.mu.Unlock()
	started := false
	defer func() {
		if !started {
			s.subs.Done()
		}
	}()

	if err := EnsureTopics(ctx, s.cfg, topic); err != nil {
		return nil, fmt.Errorf("kafkabus: subscribe to %s as %s: %w", topic, group, err)
	}
	sc, err := s.cfg.saramaConfig()
	if err != nil {
		return nil, err
	}
	cg, err := sarama.NewConsumerGroup(s.cfg.Brokers, group, sc)
	if err != nil {
		return nil, fmt.Errorf("kafkabus: subscribe to %s as %s: join consumer group: %w", topic, group, err)
	}
	out := make(chan *ports.Delivery)
	log := s.cfg.Logger.With("topic", topic, "group", group)
	sub := &subscription{
		topic: topic,
		group: cg,
		out:   out,
		log:   log,
		handler: &groupHandler{
			out:    out,
			window: s.cfg.Window,
			log:    log,
		},
	}
	runCtx, cancel := context.WithCancel(ctx)
	started = true
	go func() {
		defer s.subs.Done()
		sub.run(runCtx, cancel, s.closing)
	}()
	return out, nil
}

// Close ends every subscription: their channels close once their
// partitions are released and acked positions committed. Subscribe fails
// after Close; a second Close does nothing.
func (s *Subscriber) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closing)
	s.mu.Unlock()
	s.subs.Wait()
	return nil
}

// subscription is one group member consuming one topic.
type subscription struct {
	topic   string
	group   sarama.ConsumerGroup
	handler *groupHandler
	out     chan *ports.Delivery
	log     *slog.Logger
}

// run consumes until ctx ends or closing closes, then leaves the group
// and closes the delivery channel.
func (s *subscription) run(ctx context.Context, cancel context.CancelFunc, closing <-chan struct{}) {
	defer close(s.out)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	wg.Add(2)
	go func() {
		defer wg.Done()
		select {
		case <-closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	go func() {
		defer wg.Done()
		// Closed by group.Close.
		for err := range s.group.Errors() {
			s.log.Warn("kafkabus: consumer group error", "err", err)
		}
	}()

	const retryDelay = time.Second
	for ctx.Err() == nil {
		// Consume returns at the end of each group generation (a
		// rebalance); calling it again joins the next one.
		err := s.group.Consume(ctx, []string{s.topic}, s.handler)
		if ctx.Err() != nil || errors.Is(err, sarama.ErrClosedConsumerGroup) {
			break
		}
		if err != nil {
			s.log.Warn("kafkabus: consume failed, retrying", "err", err, "in", retryDelay)
			select {
			case <-ctx.Done():
			case <-time.After(retryDelay):
			}
		}
	}
	// Leaves the group at once, so that the partitions move to other
	// members without waiting for the session timeout.
	if err := s.group.Close(); err != nil {
		s.log.Warn("kafkabus: leave consumer group", "err", err)
	}
}

// groupHandler turns the records of each claimed partition into
// deliveries.
type groupHandler struct {
	out    chan<- *ports.Delivery
	window int
	log    *slog.Logger
}

func (h *groupHandler) Setup(sess sarama.ConsumerGroupSession) error {
	h.log.Info("kafkabus: partitions assigned", "member", sess.MemberID(), "generation", sess.GenerationID(), "claims", sess.Claims())
	return nil
}

func (h *groupHandler) Cleanup(sess sarama.ConsumerGroupSession) error {
	h.log.Debug("kafkabus: partitions released", "generation", sess.GenerationID())
	return nil
}

// ConsumeClaim delivers one partition's records until the session ends.
// It never waits for the application beyond the session: a paused or
// slow consumer must not hold up a rebalance of the whole group.
func (h *groupHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	acks := newPartitionAcks(sess, claim.Topic(), claim.Partition(), h.window)
	defer acks.revoke()
	done := sess.Context().Done()
	for {
		if !acks.waitRoom(done) {
			return nil
		}
		var rec *sarama.ConsumerMessage
		select {
		case r, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			rec = r
		case <-done:
			return nil
		}
		acks.add(rec.Offset)
		d := ports.NewDelivery(toMessage(rec), rec.Partition, rec.Offset, func() { acks.ack(rec.Offset) })
		select {
		case h.out <- d:
		case <-done:
			return nil
		}
	}
}

// toMessage converts a record written by Publisher (or any producer).
func toMessage(rec *sarama.ConsumerMessage) ports.Message {
	m := ports.Message{Key: string(rec.Key), Payload: rec.Value}
	for _, h := range rec.Headers {
		if h == nil || string(h.Key) == kafka.UUIDHeaderKey {
			continue // Watermill's message id, not an application header
		}
		if m.Headers == nil {
			m.Headers = make(map[string]string, len(rec.Headers))
		}
		m.Headers[string(h.Key)] = string(h.Value)
	}
	return m
}

// partitionAcks tracks the deliveries of one partition claim not yet
// acked, in offset order, and marks the position past the acked prefix.
type partitionAcks struct {
	sess      sarama.ConsumerGroupSession
	topic     string
	partition int32
	window    int
	freed     chan struct{} // signalled when the window gains room

	mu      sync.Mutex
	pending []pendingRecord
	revoked bool
}

type pendingRecord struct {
	offset int64
	acked  bool
}

func newPartitionAcks(sess sarama.ConsumerGroupSession, topic string, partition int32, window int) *partitionAcks {
	return &partitionAcks{sess: sess, topic: topic, partition: partition, window: window, freed: make(chan struct{}, 1)}
}

func (p *partitionAcks) add(offset int64) {
	p.mu.Lock()
	p.pending = append(p.pending, pendingRecord{offset: offset})
	p.mu.Unlock()
}

// ack records that offset is done and marks the position past every
// acked delivery at the head of the partition.
func (p *partitionAcks) ack(offset int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.revoked {
		return
	}
	found := false
	for i := range p.pending {
		if p.pending[i].offset == offset {
			p.pending[i].acked = true
			found = true
			break
		}
	}
	if !found {
		return // acked twice
	}
	n := 0
	for n < len(p.pending) && p.pending[n].acked {
		n++
	}
	if n == 0 {
		return
	}
	next := p.pending[n-1].offset + 1
	p.pending = append(p.pending[:0], p.pending[n:]...)
	p.sess.MarkOffset(p.topic, p.partition, next, "")
	select {
	case p.freed <- struct{}{}:
	default:
	}
}

// waitRoom waits until fewer than window deliveries are unacked, or done.
func (p *partitionAcks) waitRoom(done <-chan struct{}) bool {
	for {
		p.mu.Lock()
		full := len(p.pending) >= p.window
		p.mu.Unlock()
		if !full {
			return true
		}
		select {
		case <-p.freed:
		case <-done:
			return false
		}
	}
}

// revoke makes later acks no-ops: the claim ended and its records belong
// to the partition's next owner.
func (p *partitionAcks) revoke() {
	p.mu.Lock()
	p.revoked = true
	p.mu.Unlock()
}
