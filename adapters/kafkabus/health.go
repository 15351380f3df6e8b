package kafkabus

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/IBM/sarama"
)

// TopicState is one topic as the cluster's metadata describes it.
type TopicState struct {
	Name string
	// Err is set when the cluster does not know the topic, or cannot
	// describe it now (sarama.ErrUnknownTopicOrPartition, ...).
	Err        error
	Partitions []PartitionState
}

// PartitionState is one partition's leader and replicas, by broker id.
type PartitionState struct {
	ID int32
	// Leader is the broker leading the partition, -1 when it has none.
	Leader   int32
	Replicas []int32
	// ISR are the replicas in sync with the leader.
	ISR []int32
	// Err is the partition's error in the metadata (no leader, a replica
	// not available), or nil.
	Err error
}

// Topics describes topics as the cluster's metadata has them now, asked
// through the publisher's own connection, so that its answer also says
// whether the publisher reaches the cluster: upstream's healthcheck reads
// the same from its producer (scality/backbeat lib/api/Healthcheck.js).
// Topics are listed in the order asked, partitions by id; a topic the
// cluster does not know has Err set and is never created. The error says
// the cluster could not be asked: the publisher is closed or reaches no
// broker before ctx ends.
func (p *Publisher) Topics(ctx context.Context, topics ...string) ([]TopicState, error) {
	if len(topics) == 0 {
		return nil, nil
	}
	if slices.Contains(topics, "") {
		return nil, errors.New("kafkabus: describe topics: empty topic name")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("kafkabus: describe topics: %w", err)
	}
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		return nil, errors.New("kafkabus: describe topics: publisher is closed")
	}
	p.sending.Add(1)
	p.mu.RUnlock()
	type answer struct {
		resp *sarama.MetadataResponse
		err  error
	}
	done := make(chan answer, 1)
	// Sarama's calls take no context: run it aside so that the caller
	// stops waiting when ctx ends.
	go func() {
		defer p.sending.Done()
		client, err := p.conn()
		if err != nil {
			done <- answer{err: err}
			return
		}
		b := client.LeastLoadedBroker()
		if b == nil {
			done <- answer{err: errors.New("no broker available")}
			return
		}
		req := sarama.NewMetadataRequest(client.Config().Version, topics)
		req.AllowAutoTopicCreation = false
		resp, err := b.GetMetadata(req)
		if err != nil {
			// The connection is likely broken: let the next call redial.
			_ = b.Close()
		}
		done <- answer{resp, err}
	}()
	select {
	case a := <-done:
		if a.err != nil {
			return nil, fmt.Errorf("kafkabus: describe topics %v: %w", topics, a.err)
		}
		return topicStates(topics, a.resp), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("kafkabus: describe topics %v: %w", topics, ctx.Err())
	}
}

func topicStates(topics []string, resp *sarama.MetadataResponse) []TopicState {
	byName := map[string]*sarama.TopicMetadata{}
	for _, t := range resp.Topics {
		byName[t.Name] = t
	}
	out := make([]TopicState, 0, len(topics))
	for _, name := range topics {
		st := TopicState{Name: name}
		t, ok := byName[name]
		switch {
		case !ok:
			st.Err = sarama.ErrUnknownTopicOrPartition
		case !errors.Is(t.Err, sarama.ErrNoError):
			st.Err = t.Err
		}
		if ok {
			for _, pm := range t.Partitions {
				ps := PartitionState{ID: pm.ID, Leader: pm.Leader, Replicas: slices.Clone(pm.Replicas), ISR: slices.Clone(pm.Isr)}
				if !errors.Is(pm.Err, sarama.ErrNoError) {
					ps.Err = pm.Err
				}
				st.Partitions = append(st.Partitions, ps)
			}
			slices.SortFunc(st.Partitions, func(a, b PartitionState) int { return int(a.ID - b.ID) })
		}
		out = append(out, st)
	}
	return out
}
