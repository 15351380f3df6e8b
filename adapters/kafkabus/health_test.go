package kafkabus_test

import (
	"context"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openbackbeat/backbeat/adapters/kafkabus"
)

// The healthcheck lists the partitions of the replication topics with
// their leader, replicas and in-sync replicas, as upstream reads them from
// its producer's metadata (scality/backbeat lib/api/Healthcheck.js,
// docs/healthcheck.md).
func TestPublisherDescribesTopics(t *testing.T) {
	cfg := testConfig(t)
	ctx := t.Context()
	custom := cfg
	custom.TopicPartitions = 3
	a, b := unique(t, "a"), unique(t, "b")
	require.NoError(t, kafkabus.EnsureTopics(ctx, custom, a, b))
	pub := newPublisher(t, cfg)

	missing := unique(t, "missing")
	states, err := pub.Topics(ctx, a, missing, b)
	require.NoError(t, err)
	require.Len(t, states, 3)
	for i, name := range []string{a, missing, b} {
		assert.Equal(t, name, states[i].Name, "topics come in the order asked")
	}
	for _, st := range []kafkabus.TopicState{states[0], states[2]} {
		require.NoError(t, st.Err)
		require.Len(t, st.Partitions, 3)
		for i, p := range st.Partitions {
			assert.Equal(t, int32(i), p.ID, "partitions by id")
			assert.GreaterOrEqual(t, p.Leader, int32(0), "a leader")
			assert.Contains(t, p.Replicas, p.Leader)
			assert.Contains(t, p.ISR, p.Leader, "the leader is in sync")
			assert.NoError(t, p.Err)
		}
	}
	assert.ErrorIs(t, states[1].Err, sarama.ErrUnknownTopicOrPartition)
	assert.Empty(t, states[1].Partitions)

	// Asking does not create the missing topic.
	admin, err := sarama.NewClusterAdmin(cfg.Brokers, sarama.NewConfig())
	require.NoError(t, err)
	defer admin.Close()
	list, err := admin.ListTopics()
	require.NoError(t, err)
	assert.NotContains(t, list, missing)
}

func TestTopicsOfClosedOrCancelledPublisher(t *testing.T) {
	cfg := testConfig(t)
	pub, err := kafkabus.NewPublisher(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = pub.Topics(ctx, "t")
	assert.ErrorIs(t, err, context.Canceled)
	require.NoError(t, pub.Close())
	_, err = pub.Topics(t.Context(), "t")
	assert.ErrorContains(t, err, "closed")
	_, err = newPublisher(t, cfg).Topics(t.Context(), "")
	assert.Error(t, err)
	start := time.Now()
	_, err = newPublisher(t, cfg).Topics(t.Context())
	assert.NoError(t, err)
	assert.Less(t, time.Since(start), time.Second)
}
