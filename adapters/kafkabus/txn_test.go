package kafkabus_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openbackbeat/backbeat/adapters/kafkabus"
	"github.com/openbackbeat/backbeat/ports"
)

// A batch that fails part way: the broker refuses one record (over the
// topic's max.message.bytes) and takes the others, on other partitions.
// The caller sends the batch again, as the populator does. Read
// committed, a transactional publisher's failed batch is seen nowhere, so
// every key is delivered once; a plain publisher's part that went through
// is seen, and then again. That is how a key's later entry came to be read
// before its earlier one after a Kafka outage.
func TestFailedBatchIsSeenWholeOrNotAtAll(t *testing.T) {
	cfg := testConfig(t)
	for _, tc := range []struct {
		name string
		pub  func(t *testing.T) *kafkabus.Publisher
		want int // deliveries of each key before its end marker
	}{
		{"transactional", func(t *testing.T) *kafkabus.Publisher {
			p, err := kafkabus.NewTransactionalPublisher(cfg, unique(t, "txn"))
			require.NoError(t, err)
			t.Cleanup(func() { assert.NoError(t, p.Close()) })
			return p
		}, 1},
		{"plain", func(t *testing.T) *kafkabus.Publisher { return newPublisher(t, cfg) }, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "transactional" && raceDetector {
				// Sarama's transaction manager reads the transaction's
				// error without the lock its writer holds when a record
				// fails while another partition's request starts
				// (IBM/sarama#2913, still so in v1.61.1): the race detector
				// fails this case about one run in three. task test runs it
				// again without -race.
				t.Skip("the race detector trips on Sarama's transaction error path (IBM/sarama#2913); run without -race")
			}
			ctx := t.Context()
			topic, group := unique(t, "topic"), unique(t, "group")
			createSmallRecordTopic(t, topic, 2048)
			pub := tc.pub(t)
			ch, err := newSubscriber(t, cfg).Subscribe(ctx, topic, group)
			require.NoError(t, err)

			const keys = 16
			batch := func(payload string) []ports.Message {
				var ms []ports.Message
				for k := range keys {
					ms = append(ms, ports.Message{Key: fmt.Sprintf("k%02d", k), Payload: []byte(payload)})
				}
				return ms
			}
			big := ports.Message{Key: "big", Payload: []byte(strings.Repeat("x", 10_000))}
			require.Error(t, pub.Publish(ctx, topic, append(batch("first try"), big)...), "the broker takes a record over max.message.bytes")
			require.NoError(t, pub.Publish(ctx, topic, batch("again")...))
			require.NoError(t, pub.Publish(ctx, topic, batch("end")...))

			before := map[string]int{}
			ended := map[string]bool{}
			timer := time.NewTimer(60 * time.Second)
			defer timer.Stop()
			for len(ended) < keys {
				select {
				case d := <-ch:
					d.Ack()
					if string(d.Payload) == "end" {
						ended[d.Key] = true
					} else if !ended[d.Key] {
						before[d.Key]++
					}
				case <-timer.C:
					t.Fatalf("%d of %d end markers within 60 s", len(ended), keys)
				}
			}
			// The big record's partition refused the whole of its part
			// (one request per partition): its keys are delivered once
			// either way. Every other key tells the publishers apart.
			most := 0
			for k := range keys {
				n := before[fmt.Sprintf("k%02d", k)]
				require.LessOrEqual(t, n, 2)
				require.GreaterOrEqual(t, n, 1)
				most = max(most, n)
			}
			assert.Equal(t, tc.want, most, "deliveries of a key before its end marker")
		})
	}
}

// createSmallRecordTopic creates topic with 8 partitions whose records may
// be at most maxBytes.
func createSmallRecordTopic(t *testing.T, topic string, maxBytes int) {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(brokers(), sarama.NewConfig())
	require.NoError(t, err)
	defer admin.Close()
	limit := fmt.Sprint(maxBytes)
	require.NoError(t, admin.CreateTopic(topic, &sarama.TopicDetail{
		NumPartitions: int32(kafkabus.DefaultTopicPartitions), ReplicationFactor: 1,
		ConfigEntries: map[string]*string{"max.message.bytes": &limit},
	}, false))
}

// A transactional publisher connects on its first Publish, not when it is
// made: every process builds the populator's publisher, and only the one
// that runs the populator should hold a connection for it.
func TestTransactionalPublisherConnectsOnFirstPublish(t *testing.T) {
	cfg := kafkabus.Config{Brokers: []string{"127.0.0.1:1"}}
	pub, err := kafkabus.NewTransactionalPublisher(cfg, "lazy-test")
	require.NoError(t, err, "made without reaching a broker")
	defer func() { assert.NoError(t, pub.Close()) }()
	err = pub.Publish(t.Context(), "t", ports.Message{Key: "k", Payload: []byte("v")})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "connect producer to [127.0.0.1:1]")
	_, err = kafkabus.NewPublisher(cfg)
	require.Error(t, err, "a plain publisher still connects when made")
}

// BenchmarkTransactionalPublish publishes populator-sized batches (24
// entries of 600 bytes) one after the other, as the populator does: each
// is a transaction, and the next one starts while the coordinator may
// still be writing the last one's markers.
func BenchmarkTransactionalPublish(b *testing.B) {
	cfg := testConfig(b)
	topic := unique(b, "topic")
	if err := kafkabus.EnsureTopics(b.Context(), cfg, topic); err != nil {
		b.Fatal(err)
	}
	pub, err := kafkabus.NewTransactionalPublisher(cfg, "bench-"+topic)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = pub.Close() }()
	msgs := make([]ports.Message, 24)
	for i := range msgs {
		msgs[i] = ports.Message{Key: fmt.Sprint(i), Payload: make([]byte, 600)}
	}
	if err := pub.Publish(b.Context(), topic, msgs...); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := pub.Publish(b.Context(), topic, msgs...); err != nil {
			b.Fatal(err)
		}
	}
}
