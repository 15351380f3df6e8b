// Package kafkabus provides the bus ports (ports.Publisher and
// ports.Subscriber) on Apache Kafka, through Sarama, plus EnsureTopics and
// Healthy for the service's startup and healthcheck.
//
// Records use watermill-kafka's layout (its partitioning marshaler): the
// payload is the record value, the message key is the record key (so equal
// keys share a partition and keep their order), each header is a Kafka
// header (the W3C trace context travels there untouched), and a
// `_watermill_message_uuid` header carries a message id. Watermill tools
// and routers can therefore read and write these topics.
//
// Watermill-kafka's Publisher and Subscriber themselves are not used:
//
//   - its Publisher sends a batch one message at a time, waiting for each
//     acknowledgement; Publisher here sends the batch at once (Sarama's
//     SendMessages), which the populator's batches need;
//   - its Subscriber, while it waits for the application to take or ack a
//     message, watches neither the consumer group session nor a rebalance.
//     A paused site (the application stops reading) or one long copy then
//     holds up every rebalance of the group until the rebalance timeout
//     expels the member. It also lets out one message per partition at a
//     time, which caps a replicator's concurrency at its partition count.
//     Subscriber here is a Sarama consumer group handler that lets out a
//     window of deliveries per partition, marks offsets only on Ack (in
//     offset order), auto-commits only what was marked (every second, on
//     revocation and on Close), and releases a partition as soon as the
//     group rebalances.
//
// NewTransactionalPublisher makes every Publish one transaction, and
// Subscriber reads read_committed, so a batch that fails part way is seen
// nowhere and its retry is seen once, in order (the populator uses it).
//
// Sarama's protocol version is set explicitly (Config.Version): Sarama
// otherwise speaks an old protocol, and the v1.43 that watermill-kafka
// requires hangs consumer groups at protocol 2.8 and above, so go.mod pins
// v1.61.1.
package kafkabus
