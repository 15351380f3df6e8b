package apiwire

// The healthcheck's body itself (GET /_/healthcheck) is written by each
// side in its own way: internalConnections mixes objects and a string
// (isrHealth), which the server sends as it builds it and the client
// splits when it reads it.

// ServiceHealth is one backing service's health: a member of
// internalConnections.
type ServiceHealth struct {
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
	// Details are zookeeper's (the service uses none, and says so).
	Details map[string]any `json:"details,omitempty"`
}

// TopicHealth is one bus topic.
type TopicHealth struct {
	Name       string            `json:"name"`
	Partitions []PartitionHealth `json:"partitions"`
	Error      string            `json:"error,omitempty"`
}

// PartitionHealth is one partition's leader and replicas, by broker id.
type PartitionHealth struct {
	ID       int32   `json:"id"`
	Leader   int32   `json:"leader"`
	Replicas []int32 `json:"replicas"`
	ISRs     []int32 `json:"isrs"`
	Error    string  `json:"error,omitempty"`
}
