package main

import (
	"context"

	"github.com/openbackbeat/backbeat/adapters/httpapi"
	"github.com/openbackbeat/backbeat/adapters/kafkabus"
)

// busHealth describes topics for the API's healthcheck through pub's own
// connection, so that an error also says the publisher cannot reach Kafka
// (upstream's kafkaProducer status).
func busHealth(pub *kafkabus.Publisher, topics ...string) func(context.Context) ([]httpapi.BusTopic, error) {
	return func(ctx context.Context) ([]httpapi.BusTopic, error) {
		states, err := pub.Topics(ctx, topics...)
		if err != nil {
			return nil, err
		}
		out := make([]httpapi.BusTopic, len(states))
		for i, st := range states {
			out[i] = httpapi.BusTopic{Name: st.Name, Err: st.Err}
			for _, p := range st.Partitions {
				out[i].Partitions = append(out[i].Partitions, httpapi.BusPartition{
					ID: p.ID, Leader: p.Leader, Replicas: p.Replicas, ISRs: p.ISR, Err: p.Err,
				})
			}
		}
		return out, nil
	}
}
