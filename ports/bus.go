package ports

import "context"

// Message is one record on the bus.
type Message struct {
	// Key orders messages: those with equal keys are delivered in the order
	// they were published (they share a partition).
	Key     string
	Payload []byte
	// Headers carry metadata such as the trace context.
	Headers map[string]string
}

// Publisher sends messages to a topic.
type Publisher interface {
	// Publish returns nil only once the bus has durably accepted every
	// message; on error some may have been accepted (at-least-once).
	Publish(ctx context.Context, topic string, msgs ...Message) error
	Close() error
}

// Delivery is a message received from a topic partition.
type Delivery struct {
	Message
	Partition int32
	Offset    int64
	ack       func()
}

// NewDelivery is used by adapters to build a delivery whose Ack calls ack.
func NewDelivery(m Message, partition int32, offset int64, ack func()) *Delivery {
	return &Delivery{Message: m, Partition: partition, Offset: offset, ack: ack}
}

// Ack records that this delivery's effect is done: the group's position on
// its partition moves past it. Callers ack the deliveries of a partition in
// offset order (app.Ledger does this); a delivery never acked is delivered
// again to the group after a restart or rebalance, and an acknowledged one
// is not, once the subscription has ended cleanly. An ack that arrives
// after a rebalance moved the partition away may be ignored: the message is
// then delivered again (at-least-once).
func (d *Delivery) Ack() {
	if d.ack != nil {
		d.ack()
	}
}

// Subscriber receives messages as a member of a consumer group.
type Subscriber interface {
	// Subscribe joins group on topic. Every message published to the topic
	// reaches one member of the group, in publish order per partition,
	// starting after the group's acknowledged position (or at the start of
	// the topic for a new group). The channel closes when ctx ends or the
	// subscriber is closed. Several deliveries of a partition may be
	// outstanding at once, up to an adapter-defined window.
	Subscribe(ctx context.Context, topic, group string) (<-chan *Delivery, error)
	Close() error
}
