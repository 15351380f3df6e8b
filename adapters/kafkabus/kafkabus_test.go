package kafkabus_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openbackbeat/backbeat/adapters/internal/stacktest"
	"github.com/openbackbeat/backbeat/adapters/kafkabus"
	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
	"github.com/openbackbeat/backbeat/ports/bustest"
)

// brokers are the test cluster's: the local stack's Kafka unless
// BACKBEAT_TEST_KAFKA_BROKERS names others (comma-separated).
func brokers() []string {
	if b := os.Getenv("BACKBEAT_TEST_KAFKA_BROKERS"); b != "" {
		return strings.Split(b, ",")
	}
	return []string{"127.0.0.1:19092"}
}

// testConfig returns the configuration of the test cluster, or skips the
// test loudly when a broker does not answer (fails it at once instead when
// CI=true).
func testConfig(t testing.TB) kafkabus.Config {
	t.Helper()
	stacktest.Require(t, stacktest.Kafka, brokers()...)
	// Warnings only: every rebalance logs its assignment at info level.
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return kafkabus.Config{Brokers: brokers(), ClientID: "kafkabus-test", Logger: log}
}

func newPublisher(t *testing.T, cfg kafkabus.Config) *kafkabus.Publisher {
	t.Helper()
	p, err := kafkabus.NewPublisher(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, p.Close()) })
	return p
}

func newSubscriber(t *testing.T, cfg kafkabus.Config) *kafkabus.Subscriber {
	t.Helper()
	s, err := kafkabus.NewSubscriber(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	return s
}

var nameChars = regexp.MustCompile(`[^a-zA-Z0-9]+`)

// unique returns a topic or group name no other test or run uses. A
// topic is deleted when the test ends, passed or failed.
func unique(t testing.TB, what string) string {
	n := nameChars.ReplaceAllString(t.Name(), "-")
	if len(n) > 60 {
		n = n[len(n)-60:]
	}
	name := fmt.Sprintf("kb-%s-%s-%x", what, strings.Trim(n, "-"), time.Now().UnixNano())
	if what == "topic" {
		t.Cleanup(func() { deleteTopic(t, name) })
	}
	return name
}

// deleteTopic deletes topic, if it was created.
func deleteTopic(t testing.TB, topic string) {
	admin, err := sarama.NewClusterAdmin(brokers(), sarama.NewConfig())
	if err != nil {
		t.Logf("delete topic %s: %v", topic, err)
		return
	}
	defer admin.Close()
	if err := admin.DeleteTopic(topic); err != nil && !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		t.Logf("delete topic %s: %v", topic, err)
	}
}

// TestBusContract runs the contract suite on the broker, and then checks
// that the suite left none of its topics behind (run after every case has
// ended, passed or failed).
func TestBusContract(t *testing.T) {
	cfg := testConfig(t)
	runContract(t, func(t *testing.T) ports.Publisher { return newPublisher(t, cfg) })
}

// TestTransactionalBusContract runs the contract suite with a publisher
// whose every Publish is a transaction.
func TestTransactionalBusContract(t *testing.T) {
	cfg := testConfig(t)
	runContract(t, func(t *testing.T) ports.Publisher {
		p, err := kafkabus.NewTransactionalPublisher(cfg, unique(t, "txn"))
		require.NoError(t, err)
		t.Cleanup(func() { assert.NoError(t, p.Close()) })
		return p
	})
}

func runContract(t *testing.T, newPub func(t *testing.T) ports.Publisher) {
	cfg := testConfig(t)
	var mu sync.Mutex
	used, deleted := map[string]bool{}, map[string]bool{}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for topic := range used {
			assert.True(t, deleted[topic], "topic %s used by a case was not deleted", topic)
		}
		assertGone(t, used)
	})
	bustest.Run(t, func(t *testing.T) (ports.Publisher, ports.Subscriber) {
		return newPub(t), newSubscriber(t, cfg)
	}, bustest.Features{
		Partitions: kafkabus.DefaultTopicPartitions, MinWindow: 32,
		// The broker creates a topic on first use; noting it is enough.
		CreateTopic: func(t *testing.T, topic string) { mu.Lock(); used[topic] = true; mu.Unlock() },
		DeleteTopic: func(t *testing.T, topic string) {
			deleteTopic(t, topic)
			mu.Lock()
			deleted[topic] = true
			mu.Unlock()
		},
	})
}

// assertGone waits up to 30 s for the broker to list none of topics
// (deletion completes in the background).
func assertGone(t *testing.T, topics map[string]bool) {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(brokers(), sarama.NewConfig())
	require.NoError(t, err)
	defer admin.Close()
	var left []string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		listed, err := admin.ListTopics()
		require.NoError(t, err)
		left = left[:0]
		for topic := range topics {
			if _, ok := listed[topic]; ok {
				left = append(left, topic)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
	}
	assert.Empty(t, left, "topics the contract suite left on the broker")
}

// receive takes n deliveries from ch within d, without acking them: n
// must not exceed what the window lets out.
func receive(t *testing.T, ch <-chan *ports.Delivery, n int, d time.Duration) []*ports.Delivery {
	t.Helper()
	return receiveAck(t, ch, n, d, false)
}

// receiveAck takes n deliveries from ch within d, acking each if ack.
func receiveAck(t *testing.T, ch <-chan *ports.Delivery, n int, d time.Duration, ack bool) []*ports.Delivery {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	var got []*ports.Delivery
	for len(got) < n {
		select {
		case del, ok := <-ch:
			if !ok {
				t.Fatalf("channel closed after %d of %d deliveries", len(got), n)
			}
			got = append(got, del)
			if ack {
				del.Ack()
			}
		case <-timer.C:
			t.Fatalf("received %d of %d deliveries within %s", len(got), n, d)
		}
	}
	return got
}

// quiet checks that ch delivers nothing for d (used only after everything
// expected has arrived, to catch extra deliveries).
func quiet(t *testing.T, ch <-chan *ports.Delivery, d time.Duration) {
	t.Helper()
	select {
	case del, ok := <-ch:
		if ok {
			t.Fatalf("unexpected delivery %q from partition %d offset %d", del.Payload, del.Partition, del.Offset)
		}
	case <-time.After(d):
	}
}

func drainUntilClosed(t *testing.T, ch <-chan *ports.Delivery) {
	t.Helper()
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timer.C:
			t.Fatalf("channel not closed within 30s")
		}
	}
}

func msgs(n int, keys int, prefix string) []ports.Message {
	out := make([]ports.Message, n)
	for i := range out {
		out[i] = ports.Message{
			Key:     fmt.Sprintf("bucket/key-%d", i%keys),
			Payload: fmt.Appendf(nil, "%s-%d", prefix, i),
			Headers: map[string]string{"traceparent": fmt.Sprintf("00-%032x-%016x-01", i+1, i+1), "tracestate": "vendor=x"},
		}
	}
	return out
}

// TestUnackedRedeliveredAfterClose acks a prefix of each partition's
// deliveries and one delivery out of order, closes the subscriber, and
// checks that a new member of the group gets exactly what was not covered
// by an acked prefix.
func TestUnackedRedeliveredAfterClose(t *testing.T) {
	cfg := testConfig(t)
	ctx := t.Context()
	topic, group := unique(t, "topic"), unique(t, "group")
	pub := newPublisher(t, cfg)
	sent := msgs(80, 16, "m")
	require.NoError(t, pub.Publish(ctx, topic, sent...))

	sub1, err := kafkabus.NewSubscriber(cfg)
	require.NoError(t, err)
	ch, err := sub1.Subscribe(ctx, topic, group)
	require.NoError(t, err)
	got := receive(t, ch, len(sent), 60*time.Second)
	byPartition := map[int32][]*ports.Delivery{}
	for _, d := range got {
		byPartition[d.Partition] = append(byPartition[d.Partition], d)
	}
	require.Greater(t, len(byPartition), 1, "16 keys should spread over several partitions")
	want := map[string]bool{} // payloads to be delivered again
	outOfOrder := false
	for p, ds := range byPartition {
		for i := 1; i < len(ds); i++ {
			require.Greater(t, ds[i].Offset, ds[i-1].Offset, "partition %d out of offset order", p)
		}
		half := len(ds) / 2
		for _, d := range ds[:half] {
			d.Ack()
		}
		for _, d := range ds[half:] {
			want[string(d.Payload)] = true
		}
		// Acking a later delivery alone must not move the position past
		// the unacked ones before it.
		if !outOfOrder && len(ds)-half >= 2 {
			ds[len(ds)-1].Ack()
			outOfOrder = true
		}
	}
	require.True(t, outOfOrder, "no partition had two unacked deliveries")
	require.NoError(t, sub1.Close())
	drainUntilClosed(t, ch)

	start := time.Now()
	sub2 := newSubscriber(t, cfg)
	ch, err = sub2.Subscribe(ctx, topic, group)
	require.NoError(t, err)
	again := receive(t, ch, len(want), 60*time.Second)
	t.Logf("a new member of the group resumed after %s", time.Since(start))
	for _, d := range again {
		require.True(t, want[string(d.Payload)], "delivered again: %q, which was acked", d.Payload)
		delete(want, string(d.Payload))
		d.Ack()
	}
	require.Empty(t, want)
	quiet(t, ch, 2*time.Second)
}

// TestPerKeyOrderAcrossPartitions publishes many keys from several
// publishers at once and checks that each key keeps its order, stays on one
// partition, and that the keys use all 8 partitions.
func TestPerKeyOrderAcrossPartitions(t *testing.T) {
	cfg := testConfig(t)
	ctx := t.Context()
	topic, group := unique(t, "topic"), unique(t, "group")
	require.NoError(t, kafkabus.EnsureTopics(ctx, cfg, topic))
	sub := newSubscriber(t, cfg)
	ch, err := sub.Subscribe(ctx, topic, group)
	require.NoError(t, err)

	const keys, perKey, publishers = 64, 40, 4
	var wg sync.WaitGroup
	errs := make(chan error, publishers)
	for p := range publishers {
		pub := newPublisher(t, cfg)
		wg.Go(func() {
			// Publisher p owns keys p, p+publishers, ...: per-key order is
			// the order of its own batches.
			for seq := range perKey {
				var batch []ports.Message
				for k := p; k < keys; k += publishers {
					batch = append(batch, ports.Message{Key: fmt.Sprintf("b/k%02d", k), Payload: fmt.Appendf(nil, "%d:%d", k, seq)})
				}
				if err := pub.Publish(ctx, topic, batch...); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	got := receiveAck(t, ch, keys*perKey, 60*time.Second, true) // more than the window: ack as they come
	next := map[string]int{}
	partOf := map[string]int32{}
	partitions := map[int32]bool{}
	for _, d := range got {
		var k, seq int
		_, err := fmt.Sscanf(string(d.Payload), "%d:%d", &k, &seq)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("b/k%02d", k), d.Key)
		require.Equal(t, next[d.Key], seq, "key %s: message %d delivered when %d was due", d.Key, seq, next[d.Key])
		next[d.Key]++
		if p, ok := partOf[d.Key]; ok {
			require.Equal(t, p, d.Partition, "key %s on two partitions", d.Key)
		}
		partOf[d.Key] = d.Partition
		partitions[d.Partition] = true
	}
	assert.Len(t, partitions, 8, "64 keys should use all 8 partitions")
}

// TestStalledMemberDoesNotBlockRebalance: a member whose application stops
// reading (a paused site) must still give up partitions at once when
// another member joins, rather than hold the group's rebalance.
func TestStalledMemberDoesNotBlockRebalance(t *testing.T) {
	cfg := testConfig(t)
	ctx := t.Context()
	topic, group := unique(t, "topic"), unique(t, "group")
	pub := newPublisher(t, cfg)
	require.NoError(t, pub.Publish(ctx, topic, msgs(200, 50, "m")...))

	stalled := newSubscriber(t, cfg)
	chA, err := stalled.Subscribe(ctx, topic, group)
	require.NoError(t, err)
	receive(t, chA, 1, 60*time.Second) // then never reads again

	other := newSubscriber(t, cfg)
	start := time.Now()
	chB, err := other.Subscribe(ctx, topic, group)
	require.NoError(t, err)
	// The rebalance timeout is 15 s: a member that held the rebalance
	// would delay the newcomer's first delivery by that much.
	d := receive(t, chB, 1, 8*time.Second)[0]
	t.Logf("the new member got its first delivery %s after joining", time.Since(start))
	d.Ack()
}

// TestRestartedMemberResumesQuickly closes the only member of a group and
// starts another: it must receive new messages within a few seconds.
func TestRestartedMemberResumesQuickly(t *testing.T) {
	cfg := testConfig(t)
	ctx := t.Context()
	topic, group := unique(t, "topic"), unique(t, "group")
	pub := newPublisher(t, cfg)
	require.NoError(t, pub.Publish(ctx, topic, ports.Message{Key: "k", Payload: []byte("first")}))
	sub1, err := kafkabus.NewSubscriber(cfg)
	require.NoError(t, err)
	ch, err := sub1.Subscribe(ctx, topic, group)
	require.NoError(t, err)
	receive(t, ch, 1, 60*time.Second)[0].Ack()
	require.NoError(t, sub1.Close())
	drainUntilClosed(t, ch)

	require.NoError(t, pub.Publish(ctx, topic, ports.Message{Key: "k", Payload: []byte("second")}))
	start := time.Now()
	sub2 := newSubscriber(t, cfg)
	ch, err = sub2.Subscribe(ctx, topic, group)
	require.NoError(t, err)
	d := receive(t, ch, 1, 10*time.Second)[0]
	t.Logf("the restarted member resumed after %s", time.Since(start))
	require.Equal(t, "second", string(d.Payload), "the acked message was delivered again")
	d.Ack()
}

func TestHeadersCarriedIntact(t *testing.T) {
	cfg := testConfig(t)
	ctx := t.Context()
	topic := unique(t, "topic")
	pub := newPublisher(t, cfg)
	headers := map[string]string{
		"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"tracestate":  "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
		"baggage":     "userId=alice,serverNode=DF%2028",
		"empty":       "",
	}
	require.NoError(t, pub.Publish(ctx, topic,
		ports.Message{Key: "k", Payload: []byte("with headers"), Headers: headers},
		ports.Message{Payload: []byte("no key, no headers")},
	))
	sub := newSubscriber(t, cfg)
	ch, err := sub.Subscribe(ctx, topic, unique(t, "group"))
	require.NoError(t, err)
	for _, d := range receive(t, ch, 2, 60*time.Second) {
		switch string(d.Payload) {
		case "with headers":
			assert.Equal(t, headers, d.Headers, "headers must arrive as sent, without Watermill's message id")
			assert.Equal(t, "k", d.Key)
		case "no key, no headers":
			assert.Empty(t, d.Headers)
			assert.Empty(t, d.Key)
		default:
			t.Fatalf("unexpected payload %q", d.Payload)
		}
		d.Ack()
	}
}

func TestPublishTooLargeIsPoison(t *testing.T) {
	cfg := testConfig(t)
	pub := newPublisher(t, cfg)
	err := pub.Publish(t.Context(), unique(t, "topic"), ports.Message{Key: "k", Payload: bytes.Repeat([]byte("x"), 2<<20)})
	require.Error(t, err)
	assert.ErrorIs(t, err, domain.ErrPoison)

	err = pub.Publish(t.Context(), unique(t, "topic"), ports.Message{Key: "k", Payload: []byte("x"), Headers: map[string]string{"_watermill_message_uuid": "x"}})
	assert.ErrorIs(t, err, domain.ErrPoison, "a reserved header cannot be published")
}

func TestPublishAfterClose(t *testing.T) {
	cfg := testConfig(t)
	pub, err := kafkabus.NewPublisher(cfg)
	require.NoError(t, err)
	require.NoError(t, pub.Close())
	require.NoError(t, pub.Close())
	assert.Error(t, pub.Publish(t.Context(), unique(t, "topic"), ports.Message{Key: "k"}))

	sub, err := kafkabus.NewSubscriber(cfg)
	require.NoError(t, err)
	require.NoError(t, sub.Close())
	_, err = sub.Subscribe(t.Context(), unique(t, "topic"), "g")
	assert.Error(t, err)
}

func TestEnsureTopicsAndHealthy(t *testing.T) {
	cfg := testConfig(t)
	ctx := t.Context()
	require.NoError(t, kafkabus.Healthy(ctx, cfg))

	custom := cfg
	custom.TopicPartitions = 3
	a, b := unique(t, "a"), unique(t, "b")
	require.NoError(t, kafkabus.EnsureTopics(ctx, custom, a, b))
	require.NoError(t, kafkabus.EnsureTopics(ctx, cfg, a, b), "existing topics are left alone")

	client, err := sarama.NewClient(cfg.Brokers, sarama.NewConfig())
	require.NoError(t, err)
	defer client.Close()
	for _, topic := range []string{a, b} {
		parts, err := client.Partitions(topic)
		require.NoError(t, err)
		assert.Len(t, parts, 3, "topic %s", topic)
	}

	// A topic a subscriber creates gets the default 8 partitions.
	c := unique(t, "c")
	sub := newSubscriber(t, cfg)
	subCtx, cancel := context.WithCancel(ctx)
	ch, err := sub.Subscribe(subCtx, c, unique(t, "group"))
	require.NoError(t, err)
	require.NoError(t, client.RefreshMetadata(c))
	parts, err := client.Partitions(c)
	require.NoError(t, err)
	assert.Len(t, parts, kafkabus.DefaultTopicPartitions)
	cancel()
	drainUntilClosed(t, ch)
}

func TestHealthyUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	start := time.Now()
	err := kafkabus.Healthy(ctx, kafkabus.Config{Brokers: []string{"127.0.0.1:1"}})
	require.Error(t, err)
	assert.Less(t, time.Since(start), 5*time.Second)
}

func TestConfigValidate(t *testing.T) {
	require.NoError(t, kafkabus.Config{Brokers: []string{"h:9092"}}.Validate())
	err := kafkabus.Config{
		Brokers: []string{"nohost"}, Version: "x", Window: -1, Compression: "brotli",
		SessionTimeout: time.Second, HeartbeatInterval: 2 * time.Second,
	}.Validate()
	require.Error(t, err)
	for _, want := range []string{"brokers[0]", "version", "window", "compression", "heartbeatInterval"} {
		assert.Contains(t, err.Error(), want)
	}
	err = kafkabus.Config{}.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "brokers")
	_, err = kafkabus.NewPublisher(kafkabus.Config{})
	assert.Error(t, err)
	_, err = kafkabus.NewSubscriber(kafkabus.Config{})
	assert.Error(t, err)
}

// TestPublishThroughput measures batched publishing: 10,000 messages of
// 1 KiB in batches of 500.
func TestPublishThroughput(t *testing.T) {
	if testing.Short() {
		t.Skip("measurement skipped in -short mode")
	}
	cfg := testConfig(t)
	ctx := t.Context()
	topic := unique(t, "topic")
	require.NoError(t, kafkabus.EnsureTopics(ctx, cfg, topic))
	pub := newPublisher(t, cfg)
	const total, batch, size = 10000, 500, 1024
	payload := bytes.Repeat([]byte("p"), size)
	all := make([]ports.Message, total)
	for i := range all {
		all[i] = ports.Message{Key: fmt.Sprintf("bucket/key-%d", i%1000), Payload: payload,
			Headers: map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}
	}
	start := time.Now()
	for i := 0; i < total; i += batch {
		require.NoError(t, pub.Publish(ctx, topic, all[i:i+batch]...))
	}
	elapsed := time.Since(start)
	rate := float64(total) / elapsed.Seconds()
	t.Logf("published %d x %d B in batches of %d in %s: %.0f msgs/s, %.1f MiB/s", total, size, batch, elapsed.Round(time.Millisecond), rate, rate*size/(1<<20))
	fmt.Printf("kafkabus publish throughput: %.0f msgs/s (%d x %d B, batches of %d)\n", rate, total, size, batch)
}

func TestPublishCancelledContext(t *testing.T) {
	cfg := testConfig(t)
	pub := newPublisher(t, cfg)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := pub.Publish(ctx, unique(t, "topic"), ports.Message{Key: "k"})
	assert.True(t, errors.Is(err, context.Canceled), "err = %v", err)
}
