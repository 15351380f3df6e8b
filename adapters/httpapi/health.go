package httpapi

import (
	"context"
	_ "embed"
	"fmt"
	"net/http"
	"strconv"
	"sync"
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

// healthBody approximates upstream's healthcheck. Upstream answers
// {topics: <Kafka partitions>, internalConnections: {zookeeper: {status},
// kafkaProducer: {status}, isrHealth}}; here every backing service the
// process uses has an entry in internalConnections, with status "ok" or
// "error" (and the error), and status sums them up. The HTTP status is 200
// when every service is healthy and 500 otherwise, so that a probe needs
// only the status code.
type healthBody struct {
	Status              string                  `json:"status"`
	InternalConnections map[string]serviceState `json:"internalConnections"`
}

type serviceState struct {
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

func (a *api) healthcheck(w http.ResponseWriter, r *http.Request, _ params) error {
	body := healthBody{Status: "ok", InternalConnections: make(map[string]serviceState, len(a.deps.Health))}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, check := range a.deps.Health {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(r.Context(), a.cfg.HealthTimeout)
			defer cancel()
			st := serviceState{Status: "ok"}
			if err := safeCheck(ctx, check); err != nil {
				st = serviceState{Status: "error", Error: err.Error()}
			}
			mu.Lock()
			body.InternalConnections[name] = st
			mu.Unlock()
		})
	}
	wg.Wait()
	status := http.StatusOK
	for _, st := range body.InternalConnections {
		if st.Status != "ok" {
			body.Status, status = "error", http.StatusInternalServerError
		}
	}
	return writeJSON(w, status, body)
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
