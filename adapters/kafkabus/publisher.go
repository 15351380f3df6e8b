package kafkabus

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// Publisher is a ports.Publisher on Kafka. It is safe for concurrent use.
type Publisher struct {
	cfg Config
	// client is the producer's own connection to the cluster; Topics
	// asks it for metadata.
	client    sarama.Client
	producer  sarama.SyncProducer
	marshaler kafka.Marshaler

	mu     sync.RWMutex // closed, and Add on sending
	closed bool
	// sending counts SendMessages calls still running; Close waits for
	// them, since sending on a closed producer panics.
	sending sync.WaitGroup
}

var _ ports.Publisher = (*Publisher)(nil)

// keyContextKey carries ports.Message.Key to the partitioning marshaler.
type keyContextKey struct{}

// NewPublisher connects a publisher to the brokers of cfg.
func NewPublisher(cfg Config) (*Publisher, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	sc, err := cfg.saramaConfig()
	if err != nil {
		return nil, err
	}
	client, err := sarama.NewClient(cfg.Brokers, sc)
	if err != nil {
		return nil, fmt.Errorf("kafkabus: connect producer to %v: %w", cfg.Brokers, err)
	}
	producer, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("kafkabus: connect producer to %v: %w", cfg.Brokers, err)
	}
	return &Publisher{
		cfg:      cfg,
		client:   client,
		producer: producer,
		// watermill-kafka's marshaler defines the record layout (payload
		// as value, headers as Kafka headers, a message UUID header) so
		// that Watermill tools can read the topics; the partition key is
		// the message's ordering key.
		marshaler: kafka.NewWithPartitioningMarshaler(func(_ string, m *message.Message) (string, error) {
			key, _ := m.Context().Value(keyContextKey{}).(string)
			return key, nil
		}),
	}, nil
}

// Publish sends msgs to topic as one batch and returns once the brokers
// acknowledged all of them (every in-sync replica wrote them), or on the
// first failure, or when ctx ends (then some may have been accepted).
// Messages with equal keys land on the same partition, in slice order;
// messages without a key are spread over partitions.
//
// An error wrapping domain.ErrPoison means a message can never be
// published as it is (too large for the bus, or a reserved header):
// sending it again would fail again.
//
// Watermill-kafka's own Publisher is not used because it sends messages
// one at a time, waiting for each acknowledgement: a batch costs one round
// trip per message instead of a few in all.
func (p *Publisher) Publish(ctx context.Context, topic string, msgs ...ports.Message) error {
	if topic == "" {
		return errors.New("kafkabus: publish: empty topic name")
	}
	if len(msgs) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("kafkabus: publish to %s: %w", topic, err)
	}
	records := make([]*sarama.ProducerMessage, len(msgs))
	for i, m := range msgs {
		pm, err := p.record(topic, m)
		if err != nil {
			return fmt.Errorf("kafkabus: publish to %s: message %d (key %q): %w", topic, i, m.Key, err)
		}
		records[i] = pm
	}

	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		return fmt.Errorf("kafkabus: publish to %s: publisher is closed", topic)
	}
	p.sending.Add(1)
	p.mu.RUnlock()
	// SendMessages does not take a context: run it aside so that a
	// cancelled caller does not wait for the producer's retries.
	done := make(chan error, 1)
	go func() {
		defer p.sending.Done()
		done <- p.producer.SendMessages(records)
	}()
	select {
	case err := <-done:
		return sendError(topic, len(records), err)
	case <-ctx.Done():
		return fmt.Errorf("kafkabus: publish %d messages to %s: %w (some may have been accepted)", len(records), topic, ctx.Err())
	}
}

// record converts one message into a Kafka record.
func (p *Publisher) record(topic string, m ports.Message) (*sarama.ProducerMessage, error) {
	wm := message.NewMessage(watermill.NewUUID(), m.Payload)
	for k, v := range m.Headers {
		wm.Metadata.Set(k, v)
	}
	wm.SetContext(context.WithValue(context.Background(), keyContextKey{}, m.Key))
	pm, err := p.marshaler.Marshal(topic, wm)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", domain.ErrPoison, err)
	}
	if m.Key == "" {
		// No key: let the partitioner spread the records. An empty but
		// non-nil key would hash, sending them all to one partition.
		pm.Key = nil
	}
	if size := recordSize(pm); size > p.cfg.MaxMessageBytes {
		return nil, fmt.Errorf("%w: record of %d bytes is over the %d bytes limit (maxMessageBytes)", domain.ErrPoison, size, p.cfg.MaxMessageBytes)
	}
	return pm, nil
}

// recordSize approximates the size Kafka counts for a record.
func recordSize(pm *sarama.ProducerMessage) int {
	n := 36 // record and batch overhead, roughly
	if pm.Key != nil {
		n += pm.Key.Length()
	}
	if pm.Value != nil {
		n += pm.Value.Length()
	}
	for _, h := range pm.Headers {
		n += len(h.Key) + len(h.Value) + 8
	}
	return n
}

// sendError translates SendMessages' error, classifying failures that a
// retry cannot fix.
func sendError(topic string, n int, err error) error {
	if err == nil {
		return nil
	}
	var perrs sarama.ProducerErrors
	if !errors.As(err, &perrs) || len(perrs) == 0 {
		return fmt.Errorf("kafkabus: publish %d messages to %s: %w", n, topic, err)
	}
	first := perrs[0].Err
	var cfgErr sarama.ConfigurationError
	for _, pe := range perrs {
		if errors.Is(pe.Err, sarama.ErrMessageSizeTooLarge) || errors.Is(pe.Err, sarama.ErrMessageSetSizeTooLarge) ||
			errors.Is(pe.Err, sarama.ErrInvalidRecord) || errors.As(pe.Err, &cfgErr) {
			return fmt.Errorf("kafkabus: publish %d messages to %s: %d failed: %w: %v", n, topic, len(perrs), domain.ErrPoison, pe.Err)
		}
	}
	return fmt.Errorf("kafkabus: publish %d messages to %s: %d failed, first: %w", n, topic, len(perrs), first)
}

// Close waits for publishes in progress, flushes and closes the producer.
// Publish fails after Close; a second Close does nothing.
func (p *Publisher) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	p.sending.Wait()
	// A producer made from a client leaves the client open.
	err := p.producer.Close()
	if cerr := p.client.Close(); cerr != nil && !errors.Is(cerr, sarama.ErrClosedClient) {
		err = errors.Join(err, cerr)
	}
	if err != nil {
		return fmt.Errorf("kafkabus: close producer: %w", err)
	}
	return nil
}
