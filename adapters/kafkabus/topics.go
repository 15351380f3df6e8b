package kafkabus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
)

// EnsureTopics creates the topics that do not exist yet, with
// cfg.TopicPartitions partitions and cfg.TopicReplication replicas, and
// waits until every partition of every topic has a leader. Existing
// topics are left as they are. It serves the service's startup and
// Subscribe (a consumer may start before the topic exists).
func EnsureTopics(ctx context.Context, cfg Config, topics ...string) error {
	if len(topics) == 0 {
		return nil
	}
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	for _, t := range topics {
		if t == "" {
			return errors.New("kafkabus: ensure topics: empty topic name")
		}
	}
	sc, err := cfg.saramaConfig()
	if err != nil {
		return err
	}
	boundByContext(ctx, sc)
	admin, err := sarama.NewClusterAdmin(cfg.Brokers, sc)
	if err != nil {
		return fmt.Errorf("kafkabus: ensure topics: connect to %v: %w", cfg.Brokers, err)
	}
	defer admin.Close()

	metas, err := admin.DescribeTopics(topics)
	if err != nil {
		return fmt.Errorf("kafkabus: ensure topics: describe %v: %w", topics, err)
	}
	exists := map[string]bool{}
	for _, m := range metas {
		switch {
		case errors.Is(m.Err, sarama.ErrNoError), errors.Is(m.Err, sarama.ErrLeaderNotAvailable):
			exists[m.Name] = true
		case errors.Is(m.Err, sarama.ErrUnknownTopicOrPartition):
		default:
			return fmt.Errorf("kafkabus: ensure topics: describe %s: %w", m.Name, m.Err)
		}
	}
	for _, t := range topics {
		if exists[t] {
			continue
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("kafkabus: ensure topics: %w", err)
		}
		detail := &sarama.TopicDetail{NumPartitions: cfg.TopicPartitions, ReplicationFactor: cfg.TopicReplication}
		err := admin.CreateTopic(t, detail, false)
		if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
			return fmt.Errorf("kafkabus: ensure topics: create %s with %d partitions, replication %d: %w", t, cfg.TopicPartitions, cfg.TopicReplication, err)
		}
	}
	return waitForLeaders(ctx, cfg, topics)
}

// waitForLeaders polls the metadata until every partition of topics has a
// leader: a topic just created is not usable at once.
func waitForLeaders(ctx context.Context, cfg Config, topics []string) error {
	sc, err := cfg.saramaConfig()
	if err != nil {
		return err
	}
	boundByContext(ctx, sc)
	sc.Metadata.AllowAutoTopicCreation = false
	client, err := sarama.NewClient(cfg.Brokers, sc)
	if err != nil {
		return fmt.Errorf("kafkabus: ensure topics: connect to %v: %w", cfg.Brokers, err)
	}
	defer client.Close()
	deadline := time.Now().Add(30 * time.Second)
	if d, ok := ctx.Deadline(); ok {
		deadline = d
	}
	for {
		err := leadersReady(client, topics)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kafkabus: ensure topics: partitions without a leader: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kafkabus: ensure topics: %w (last: %v)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func leadersReady(client sarama.Client, topics []string) error {
	if err := client.RefreshMetadata(topics...); err != nil {
		return err
	}
	for _, t := range topics {
		parts, err := client.Partitions(t)
		if err != nil {
			return fmt.Errorf("topic %s: %w", t, err)
		}
		if len(parts) == 0 {
			return fmt.Errorf("topic %s has no partitions yet", t)
		}
		for _, p := range parts {
			if _, err := client.Leader(t, p); err != nil {
				return fmt.Errorf("topic %s partition %d: %w", t, p, err)
			}
		}
	}
	return nil
}

// Healthy reports whether the cluster answers a metadata request and has
// at least one broker, within ctx's deadline.
func Healthy(ctx context.Context, cfg Config) error {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("kafkabus: health: %w", err)
	}
	sc, err := cfg.saramaConfig()
	if err != nil {
		return err
	}
	boundByContext(ctx, sc)
	sc.Metadata.Retry.Max = 0
	sc.Metadata.Full = false
	client, err := sarama.NewClient(cfg.Brokers, sc)
	if err != nil {
		return fmt.Errorf("kafkabus: health: connect to %v: %w", cfg.Brokers, err)
	}
	defer client.Close()
	if err := client.RefreshMetadata(); err != nil {
		return fmt.Errorf("kafkabus: health: metadata from %v: %w", cfg.Brokers, err)
	}
	if len(client.Brokers()) == 0 {
		return fmt.Errorf("kafkabus: health: the cluster at %v lists no broker", cfg.Brokers)
	}
	return nil
}

// boundByContext shortens sc's network timeouts to ctx's deadline, since
// Sarama's calls take no context.
func boundByContext(ctx context.Context, sc *sarama.Config) {
	d, ok := ctx.Deadline()
	if !ok {
		return
	}
	left := max(time.Until(d), 100*time.Millisecond)
	for _, t := range []*time.Duration{&sc.Net.DialTimeout, &sc.Net.ReadTimeout, &sc.Net.WriteTimeout, &sc.Admin.Timeout} {
		*t = min(*t, left)
	}
	sc.Metadata.Retry.Max = min(sc.Metadata.Retry.Max, 1)
	sc.Admin.Retry.Max = min(sc.Admin.Retry.Max, 1)
}
