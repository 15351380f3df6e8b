package apiclient

import (
	"encoding/json"
	"fmt"

	"github.com/openbackbeat/backbeat/adapters/apiwire"
)

// Health is the healthcheck's answer: upstream's keys (topics,
// internalConnections with isrHealth, zookeeper and kafkaProducer) and
// the service's own (status, one connection per backing service).
type Health struct {
	Status string `json:"status"`
	// Topics are the bus topics' partitions, by topic name.
	Topics map[string]TopicHealth `json:"topics,omitempty"`
	// ISRHealth is upstream's internalConnections.isrHealth: "ok" when
	// every partition has all its replicas in sync, "error" when not, ""
	// when the API knows no topic.
	ISRHealth string `json:"-"`
	// InternalConnections are the other members of internalConnections:
	// each backing service, kafkaProducer and zookeeper.
	InternalConnections map[string]ServiceHealth `json:"-"`
}

// The healthcheck's parts (package apiwire).
type (
	// ServiceHealth is one backing service's health.
	ServiceHealth = apiwire.ServiceHealth
	// TopicHealth is one bus topic.
	TopicHealth = apiwire.TopicHealth
	// PartitionHealth is one partition's leader and replicas, by broker id.
	PartitionHealth = apiwire.PartitionHealth
)

// healthJSON is Health as sent: isrHealth is a string among objects.
type healthJSON struct {
	Status              string                     `json:"status"`
	Topics              map[string]TopicHealth     `json:"topics,omitempty"`
	InternalConnections map[string]json.RawMessage `json:"internalConnections"`
}

// UnmarshalJSON reads the healthcheck's body.
func (h *Health) UnmarshalJSON(b []byte) error {
	var raw healthJSON
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*h = Health{Status: raw.Status, Topics: raw.Topics, InternalConnections: map[string]ServiceHealth{}}
	for name, v := range raw.InternalConnections {
		if name == "isrHealth" {
			if err := json.Unmarshal(v, &h.ISRHealth); err != nil {
				return fmt.Errorf("isrHealth: %w", err)
			}
			continue
		}
		var s ServiceHealth
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("internalConnections.%s: %w", name, err)
		}
		h.InternalConnections[name] = s
	}
	return nil
}

// MarshalJSON writes h back in the healthcheck's shape.
func (h Health) MarshalJSON() ([]byte, error) {
	conns := make(map[string]any, len(h.InternalConnections)+1)
	for name, s := range h.InternalConnections {
		conns[name] = s
	}
	if h.ISRHealth != "" {
		conns["isrHealth"] = h.ISRHealth
	}
	return json.Marshal(struct {
		Topics              map[string]TopicHealth `json:"topics,omitempty"`
		InternalConnections map[string]any         `json:"internalConnections"`
		Status              string                 `json:"status"`
	}{h.Topics, conns, h.Status})
}
