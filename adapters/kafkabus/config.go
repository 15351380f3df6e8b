package kafkabus

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/IBM/sarama"
)

// Defaults of Config.
const (
	DefaultClientID = "backbeat"
	// DefaultVersion is the Kafka protocol version spoken. It must not be
	// above the brokers' version; 3.6 is supported by every broker from 3.6
	// on and is what the local stack (Kafka 3.9) is tested with.
	DefaultVersion           = "3.6.0"
	DefaultTopicPartitions   = 8
	DefaultTopicReplication  = 1
	DefaultWindow            = 64
	DefaultSessionTimeout    = 10 * time.Second
	DefaultHeartbeatInterval = time.Second
	DefaultRebalanceTimeout  = 15 * time.Second
	DefaultCommitInterval    = time.Second
	DefaultDialTimeout       = 10 * time.Second
	// DefaultMaxMessageBytes is Sarama's default, a little below the
	// broker's default message.max.bytes (1 MiB + 12): Sarama fills
	// batches up to this size, and its estimate of a batch's size must
	// stay under the broker's limit.
	DefaultMaxMessageBytes = 1000000
	DefaultCompression     = "none"
)

// Config reaches a Kafka cluster, for publishers, subscribers and topic
// administration. The zero value of every field but Brokers means its
// default.
type Config struct {
	// Brokers are host:port addresses of some brokers of the cluster.
	Brokers []string `yaml:"brokers"`
	// ClientID names this process in broker logs and quotas.
	ClientID string `yaml:"clientId"`
	// Version is the Kafka protocol version to speak ("3.6.0"), at most the
	// oldest broker's version. Sarama needs it explicitly: it otherwise
	// speaks a very old protocol.
	Version string `yaml:"version"`
	// TopicPartitions and TopicReplication shape the topics this package
	// creates (EnsureTopics, and Subscribe on a missing topic).
	TopicPartitions  int32 `yaml:"partitions"`
	TopicReplication int16 `yaml:"topicReplication"`
	// Window is how many deliveries of one partition a subscription lets
	// out before the oldest is acked (see Subscriber). With Sarama's own
	// read-ahead it bounds a subscription's memory: about (Window + 256)
	// records per assigned partition.
	Window int `yaml:"window"`
	// SessionTimeout is how long the group coordinator waits for a
	// heartbeat before it gives a silent member's partitions to others;
	// HeartbeatInterval is how often members send one; RebalanceTimeout is
	// how long members have to rejoin during a rebalance. Short values let
	// a restarted member resume within seconds.
	SessionTimeout    time.Duration `yaml:"sessionTimeout"`
	HeartbeatInterval time.Duration `yaml:"heartbeatInterval"`
	RebalanceTimeout  time.Duration `yaml:"rebalanceTimeout"`
	// CommitInterval is how often acked positions are committed; they are
	// also committed when a partition is revoked and on Close.
	CommitInterval time.Duration `yaml:"commitInterval"`
	// DialTimeout bounds connecting to a broker, and each request's wait.
	DialTimeout time.Duration `yaml:"dialTimeout"`
	// MaxMessageBytes is the largest record the publisher sends.
	MaxMessageBytes int `yaml:"maxMessageBytes"`
	// Compression of published batches: none, gzip, snappy, lz4 or zstd.
	Compression string `yaml:"compression"`
	// DisableIdempotence turns off the idempotent producer (for brokers or
	// ACLs that refuse it). Idempotence keeps a retried send from writing
	// a record twice or out of order. Named as a negative so that the zero
	// value is the safe behaviour.
	DisableIdempotence bool `yaml:"disableIdempotence"`
	// Logger receives consumer group errors and rebalances; nil means
	// slog.Default().
	Logger *slog.Logger `yaml:"-"`
}

// WithDefaults returns c with every unset field set to its default.
func (c Config) WithDefaults() Config {
	c.ClientID = cmp.Or(c.ClientID, DefaultClientID)
	c.Version = cmp.Or(c.Version, DefaultVersion)
	c.TopicPartitions = cmp.Or(c.TopicPartitions, DefaultTopicPartitions)
	c.TopicReplication = cmp.Or(c.TopicReplication, DefaultTopicReplication)
	c.Window = cmp.Or(c.Window, DefaultWindow)
	c.SessionTimeout = cmp.Or(c.SessionTimeout, DefaultSessionTimeout)
	c.HeartbeatInterval = cmp.Or(c.HeartbeatInterval, DefaultHeartbeatInterval)
	c.RebalanceTimeout = cmp.Or(c.RebalanceTimeout, DefaultRebalanceTimeout)
	c.CommitInterval = cmp.Or(c.CommitInterval, DefaultCommitInterval)
	c.DialTimeout = cmp.Or(c.DialTimeout, DefaultDialTimeout)
	c.MaxMessageBytes = cmp.Or(c.MaxMessageBytes, DefaultMaxMessageBytes)
	c.Compression = cmp.Or(c.Compression, DefaultCompression)
	c.Logger = cmp.Or(c.Logger, slog.Default())
	return c
}

// Validate reports every problem of c (after defaults) at once.
func (c Config) Validate() error {
	c = c.WithDefaults()
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("kafkabus: "+format, args...))
	}
	if len(c.Brokers) == 0 {
		add("brokers: at least one host:port is required")
	}
	for i, b := range c.Brokers {
		host, port, ok := strings.Cut(b, ":")
		if !ok || host == "" || port == "" {
			add("brokers[%d] %q is not host:port", i, b)
		}
	}
	if _, err := sarama.ParseKafkaVersion(c.Version); err != nil {
		add("version %q is not a Kafka version such as 3.6.0", c.Version)
	}
	if c.TopicPartitions < 0 {
		add("topicPartitions %d is negative", c.TopicPartitions)
	}
	if c.TopicReplication < 0 {
		add("topicReplication %d is negative", c.TopicReplication)
	}
	if c.Window < 0 {
		add("window %d is negative", c.Window)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"sessionTimeout", c.SessionTimeout}, {"heartbeatInterval", c.HeartbeatInterval},
		{"rebalanceTimeout", c.RebalanceTimeout}, {"commitInterval", c.CommitInterval},
		{"dialTimeout", c.DialTimeout},
	} {
		if d.v < 0 {
			add("%s %s is negative", d.name, d.v)
		}
	}
	if c.HeartbeatInterval >= c.SessionTimeout {
		add("heartbeatInterval %s must be shorter than sessionTimeout %s", c.HeartbeatInterval, c.SessionTimeout)
	}
	if c.MaxMessageBytes < 0 {
		add("maxMessageBytes %d is negative", c.MaxMessageBytes)
	}
	if _, ok := compressionCodecs[c.Compression]; !ok {
		add("compression %q is not one of none, gzip, snappy, lz4, zstd", c.Compression)
	}
	return errors.Join(errs...)
}

var compressionCodecs = map[string]sarama.CompressionCodec{
	"none":   sarama.CompressionNone,
	"gzip":   sarama.CompressionGZIP,
	"snappy": sarama.CompressionSnappy,
	"lz4":    sarama.CompressionLZ4,
	"zstd":   sarama.CompressionZSTD,
}

// saramaConfig translates c, already defaulted and valid, into the one
// Sarama configuration every client of this package uses.
func (c Config) saramaConfig() (*sarama.Config, error) {
	sc := sarama.NewConfig()
	sc.ClientID = c.ClientID
	v, err := sarama.ParseKafkaVersion(c.Version)
	if err != nil {
		return nil, fmt.Errorf("kafkabus: version %q: %w", c.Version, err)
	}
	sc.Version = v
	sc.Net.DialTimeout = c.DialTimeout
	sc.Metadata.Retry.Backoff = 250 * time.Millisecond

	// Publisher: a record counts as published once every in-sync replica
	// has it; idempotence makes the producer's own retries safe.
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Return.Successes = true
	sc.Producer.Return.Errors = true
	sc.Producer.Retry.Max = 10
	sc.Producer.Retry.Backoff = 100 * time.Millisecond
	sc.Producer.MaxMessageBytes = c.MaxMessageBytes
	sc.Producer.Compression = compressionCodecs[c.Compression]
	sc.Producer.Partitioner = sarama.NewHashPartitioner
	if !c.DisableIdempotence {
		sc.Producer.Idempotent = true
		sc.Net.MaxOpenRequests = 1 // Sarama's requirement for idempotence
	}

	// Subscriber: positions move only when the application acks (the
	// handler marks offsets on Ack, auto-commit sends what was marked), a
	// new group starts at the oldest record.
	// read_committed: a transactional publisher's batch is seen whole or
	// not at all (plain records are seen as soon as written, as before).
	sc.Consumer.IsolationLevel = sarama.ReadCommitted
	sc.Consumer.Return.Errors = true
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	sc.Consumer.Offsets.AutoCommit.Enable = true
	sc.Consumer.Offsets.AutoCommit.Interval = c.CommitInterval
	sc.Consumer.Group.Session.Timeout = c.SessionTimeout
	sc.Consumer.Group.Heartbeat.Interval = c.HeartbeatInterval
	sc.Consumer.Group.Rebalance.Timeout = c.RebalanceTimeout
	// Cooperative sticky assignment (KIP-429) moves as few partitions as
	// possible when members come and go, and members keep consuming the
	// partitions they keep during the rebalance: only revoked claims end
	// (their unacked deliveries are redelivered to the new owner). The
	// eager sticky strategy comes second, so that a group still holding
	// members of an older release agrees on it during a rolling upgrade.
	// Strategies are stateful: a config serves one group.
	sc.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyCooperativeSticky(), sarama.NewBalanceStrategySticky()}

	if err := sc.Validate(); err != nil {
		return nil, fmt.Errorf("kafkabus: sarama configuration: %w", err)
	}
	return sc, nil
}
