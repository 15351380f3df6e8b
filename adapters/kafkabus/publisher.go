package kafkabus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

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
	sc  *sarama.Config
	// client is the producer's own connection to the cluster, made by
	// conn; Topics asks it for metadata. A transactional publisher
	// connects on first use, so a process that never publishes through it
	// opens no connection.
	clientMu  sync.Mutex
	client    sarama.Client
	producer  sarama.SyncProducer
	marshaler kafka.Marshaler

	// txnID, when set, makes every Publish one Kafka transaction
	// (NewTransactionalPublisher); producer is then made on the first one,
	// and again after a failure the producer cannot recover from.
	txnID string
	txnMu sync.Mutex // one transaction at a time; guards producer then

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
	return newPublisher(cfg, "")
}

// txnRetryBackoff is how long a transactional producer waits before it
// asks again. Most often it asks for the next transaction while the
// coordinator still writes the last one's commit markers
// (CONCURRENT_TRANSACTIONS): with Sarama's fixed 100 ms, a 24-entry batch
// took 31 ms on average on the local stack, 12-13 ms with this backoff
// (BenchmarkTransactionalPublish). 2 ms, doubling up to Sarama's 100 ms:
// about 4.5 s over its 50 tries.
func txnRetryBackoff(retries, _ int) time.Duration {
	return min(2*time.Millisecond<<min(max(retries, 0), 6), 100*time.Millisecond)
}

// TransactionTimeout is how long the brokers let a transaction of a
// transactional publisher stay open: one whose producer died is aborted
// after it, unless a producer with the same id comes first.
const TransactionTimeout = 30 * time.Second

// NewTransactionalPublisher connects a publisher whose every Publish is one
// Kafka transaction: consumers (at read_committed, as Subscriber reads)
// see all of its messages or none. A plain Publish that fails part way
// may have written a key's later message and not its earlier one (the
// producer gives up on a record while the next one still has retries
// left), and sending the batch again then puts the earlier after the
// later. Publishes are serialized. id names the producer to the brokers:
// a new producer with the same id aborts what an older one left open and
// fences it, so it should name the one writer, as a lease does. The
// connection and the producer are made on the first Publish, so a process
// that never publishes through it connects to nothing and fences nobody.
func NewTransactionalPublisher(cfg Config, id string) (*Publisher, error) {
	if id == "" {
		return nil, errors.New("kafkabus: transactional publisher: empty transactional id")
	}
	if cfg.DisableIdempotence {
		return nil, errors.New("kafkabus: transactional publisher: transactions need the idempotent producer (disableIdempotence is set)")
	}
	return newPublisher(cfg, id)
}

func newPublisher(cfg Config, txnID string) (*Publisher, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	sc, err := cfg.saramaConfig()
	if err != nil {
		return nil, err
	}
	if txnID != "" {
		sc.Producer.Transaction.ID = txnID
		sc.Producer.Transaction.Timeout = TransactionTimeout
		sc.Producer.Transaction.Retry.BackoffFunc = txnRetryBackoff
	}
	p := &Publisher{
		cfg:   cfg,
		sc:    sc,
		txnID: txnID,
		// watermill-kafka's marshaler defines the record layout (payload
		// as value, headers as Kafka headers, a message UUID header) so
		// that Watermill tools can read the topics; the partition key is
		// the message's ordering key.
		marshaler: kafka.NewWithPartitioningMarshaler(func(_ string, m *message.Message) (string, error) {
			key, _ := m.Context().Value(keyContextKey{}).(string)
			return key, nil
		}),
	}
	if txnID != "" {
		return p, nil
	}
	client, err := p.conn()
	if err != nil {
		return nil, err
	}
	if p.producer, err = sarama.NewSyncProducerFromClient(client); err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("kafkabus: connect producer to %v: %w", cfg.Brokers, err)
	}
	return p, nil
}

// conn returns the publisher's client, connecting it if it is not yet.
func (p *Publisher) conn() (sarama.Client, error) {
	p.clientMu.Lock()
	defer p.clientMu.Unlock()
	if p.client == nil {
		c, err := sarama.NewClient(p.cfg.Brokers, p.sc)
		if err != nil {
			return nil, fmt.Errorf("kafkabus: connect producer to %v: %w", p.cfg.Brokers, err)
		}
		p.client = c
	}
	return p.client, nil
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
		if p.txnID != "" {
			done <- p.sendInTransaction(records)
			return
		}
		done <- p.producer.SendMessages(records)
	}()
	select {
	case err := <-done:
		return sendError(topic, len(records), err)
	case <-ctx.Done():
		return fmt.Errorf("kafkabus: publish %d messages to %s: %w (some may have been accepted)", len(records), topic, ctx.Err())
	}
}

// sendInTransaction sends records as one transaction. On failure the
// transaction is aborted, or the producer dropped when it cannot be (its
// successor, with the same id, aborts it), and the error returned: the
// caller sends the whole batch again.
func (p *Publisher) sendInTransaction(records []*sarama.ProducerMessage) error {
	p.txnMu.Lock()
	defer p.txnMu.Unlock()
	if p.producer == nil {
		client, err := p.conn()
		if err != nil {
			return err
		}
		prod, err := sarama.NewSyncProducerFromClient(client)
		if err != nil {
			return fmt.Errorf("start transactional producer %q: %w", p.txnID, err)
		}
		p.producer = prod
	}
	err := p.producer.BeginTxn()
	if err == nil {
		err = p.producer.SendMessages(records)
	}
	if err == nil {
		if err = p.producer.CommitTxn(); err == nil {
			return nil
		}
		err = fmt.Errorf("commit transaction: %w", err)
	}
	st := p.producer.TxnStatus()
	open := st&(sarama.ProducerTxnFlagInTransaction|sarama.ProducerTxnFlagAbortableError) != 0
	if st&sarama.ProducerTxnFlagFatalError != 0 || (open && p.producer.AbortTxn() != nil) {
		_ = p.producer.Close()
		p.producer = nil
	}
	return err
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
	var err error
	if p.producer != nil {
		err = p.producer.Close()
	}
	p.clientMu.Lock()
	defer p.clientMu.Unlock()
	if p.client != nil {
		if cerr := p.client.Close(); cerr != nil && !errors.Is(cerr, sarama.ErrClosedClient) {
			err = errors.Join(err, cerr)
		}
	}
	if err != nil {
		return fmt.Errorf("kafkabus: close producer: %w", err)
	}
	return nil
}
