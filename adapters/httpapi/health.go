package httpapi

import (
	"context"
	_ "embed"
	"fmt"
	"net/http"
	"strconv"
	"sync"

	"github.com/openbackbeat/backbeat/adapters/apiwire"
)

//go:embed openapi.yaml
var openapiDoc []byte

// OpenAPI returns the API's OpenAPI 3 document (YAML).
func OpenAPI() []byte { return append([]byte(nil), openapiDoc...) }

func (a *api) openapi(w http.ResponseWriter, _ *http.Request, _ params) error {
	h := w.Header()
	h.Set("Content-Type", "application/yaml")
	h.Set("Content-Length", strconv.Itoa(len(openapiDoc)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(openapiDoc)
	return nil
}

// prometheusContentType is the text exposition format's content type, as
// upstream's prom-client sends it.
const prometheusContentType = "text/plain; version=0.0.4; charset=utf-8"

// prometheus answers /metrics and /_/monitoring/metrics from
// Deps.Prometheus, or with an empty exposition, which is valid.
func (a *api) prometheus(w http.ResponseWriter, r *http.Request, _ params) error {
	if a.deps.Prometheus != nil {
		a.deps.Prometheus.ServeHTTP(w, r)
		return nil
	}
	w.Header().Set("Content-Type", prometheusContentType)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
	return nil
}

// healthBody is upstream's healthcheck body (scality/backbeat
// lib/api/Healthcheck.js, docs/healthcheck.md) with additions:
//
//   - topics: each bus topic's partitions with their leader, replicas and
//     in-sync replicas (isrs), from the cluster's metadata as the
//     publisher sees it; a topic the cluster does not know has an error.
//   - internalConnections: upstream's isrHealth ("ok" when every
//     partition has all its replicas in sync), zookeeper (this service
//     uses none: status ok, and details say so) and kafkaProducer (ok when
//     the publisher reaches the cluster); plus one entry per backing
//     service the process checks (mongo, kafka, redis), ok or error with
//     the error.
//   - status: error when any service check fails, the publisher cannot
//     reach the cluster, a topic is unknown or a partition has no leader
//     or no in-sync replica (upstream answers 500 for the last), else ok.
//     The HTTP status is 500 with the same body when it is error, so that
//     a probe needs only the status code. Partitions short of in-sync
//     replicas make isrHealth error but, as upstream, not the status.
type healthBody struct {
	Topics              map[string]apiwire.TopicHealth `json:"topics"`
	InternalConnections map[string]any                 `json:"internalConnections"`
	Status              string                         `json:"status"`
	// Roles is the state of this process's roles (Deps.Roles).
	Roles map[string]any `json:"roles,omitempty"`
}

// zookeeperState answers upstream's zookeeper entry: a struct rather than
// apiwire.ServiceHealth's Details map, so that name comes before
// description, as upstream sends them.
type zookeeperState struct {
	Status  string           `json:"status"`
	Details zookeeperDetails `json:"details"`
}

type zookeeperDetails struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// noZookeeper is what the zookeeper entry says: upstream keeps its
// checkpoints and site state in ZooKeeper, this service does not.
var noZookeeper = zookeeperState{Status: "ok", Details: zookeeperDetails{
	Name:        "NOT_USED",
	Description: "this service uses no ZooKeeper: checkpoints and leases live in MongoDB, site state in Redis (see the mongo and redis entries)",
}}

// BusTopic is one bus topic as Deps.Bus describes it.
type BusTopic struct {
	Name string
	// Err says the cluster does not know the topic now.
	Err        error
	Partitions []BusPartition
}

// BusPartition is one partition of a bus topic, by broker id.
type BusPartition struct {
	ID, Leader int32 // Leader is -1 when the partition has none
	Replicas   []int32
	ISRs       []int32
	Err        error // the partition's error in the metadata, if any
}

func (a *api) healthcheck(w http.ResponseWriter, r *http.Request, _ params) error {
	body := healthBody{Status: "ok", Topics: map[string]apiwire.TopicHealth{}, InternalConnections: map[string]any{"zookeeper": noZookeeper}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	healthy, degraded := true, false
	for name, check := range a.deps.Health {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(r.Context(), a.cfg.HealthTimeout)
			defer cancel()
			st := apiwire.ServiceHealth{Status: "ok"}
			if err := safeCheck(ctx, check); err != nil {
				st = apiwire.ServiceHealth{Status: "error", Error: err.Error()}
				if a.deps.Degradable[name] {
					st.Status = "degraded"
				}
			}
			mu.Lock()
			body.InternalConnections[name] = st
			healthy = healthy && st.Status != "error"
			degraded = degraded || st.Status == "degraded"
			mu.Unlock()
		})
	}
	for name, state := range a.deps.Roles {
		if body.Roles == nil {
			body.Roles = map[string]any{}
		}
		body.Roles[name] = state()
	}
	if a.deps.Bus != nil {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(r.Context(), a.cfg.HealthTimeout)
			defer cancel()
			topics, err := safeTopics(ctx, a.deps.Bus)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				body.InternalConnections["kafkaProducer"] = apiwire.ServiceHealth{Status: "error", Error: err.Error()}
				healthy = false
				return
			}
			body.InternalConnections["kafkaProducer"] = apiwire.ServiceHealth{Status: "ok"}
			ok, isr := a.describeTopics(topics, body.Topics)
			healthy = healthy && ok
			if isr != "" {
				body.InternalConnections["isrHealth"] = isr
			}
		})
	}
	wg.Wait()
	status := http.StatusOK
	switch {
	case !healthy:
		body.Status, status = "error", http.StatusInternalServerError
	case degraded:
		body.Status = "degraded"
	}
	return writeJSON(w, status, body)
}

// describeTopics fills out with topics and judges them: ok is false when
// a topic is unknown or a partition has no leader or no in-sync replica;
// isr is upstream's isrHealth over the known topics ("" when none is
// known, as upstream omits it then).
func (a *api) describeTopics(topics []BusTopic, out map[string]apiwire.TopicHealth) (ok bool, isr string) {
	ok = true
	for _, t := range topics {
		th := apiwire.TopicHealth{Name: t.Name, Partitions: []apiwire.PartitionHealth{}}
		if t.Err != nil {
			th.Error, ok = t.Err.Error(), false
		} else if isr == "" {
			isr = "ok"
		}
		for _, p := range t.Partitions {
			ph := apiwire.PartitionHealth{ID: p.ID, Leader: p.Leader, Replicas: orEmpty(p.Replicas), ISRs: orEmpty(p.ISRs)}
			if p.Err != nil {
				ph.Error = p.Err.Error()
			}
			if p.Leader < 0 || len(p.ISRs) == 0 {
				ok = false
			}
			// Upstream compares with a fixed 3 (its deployments' replication
			// factor); here a partition is healthy when every replica is in
			// sync, whatever the topic's replication factor.
			if len(p.ISRs) < len(p.Replicas) || len(p.ISRs) == 0 {
				isr = "error"
			}
			th.Partitions = append(th.Partitions, ph)
		}
		out[t.Name] = th
	}
	return ok, isr
}

func orEmpty(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return s
}

// safeTopics runs Deps.Bus, turning a panic into an error.
func safeTopics(ctx context.Context, bus func(context.Context) ([]BusTopic, error)) (topics []BusTopic, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("bus description panicked: %v", v)
		}
	}()
	return bus(ctx)
}

// safeCheck runs a check, turning a panic into an error.
func safeCheck(ctx context.Context, check func(context.Context) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("health check panicked: %v", v)
		}
	}()
	if check == nil {
		return fmt.Errorf("no health check")
	}
	return check(ctx)
}
