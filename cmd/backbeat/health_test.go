package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/openbackbeat/backbeat/adapters/httpapi"
	"github.com/openbackbeat/backbeat/app"
)

// On the real stack the healthcheck lists every bus topic with its
// partitions, leaders and in-sync replicas read through the publisher, as
// upstream's (scality/backbeat lib/api/Healthcheck.js, docs/healthcheck.md).
func TestHealthcheckOnTheRealStack(t *testing.T) {
	cfg := realStack(t)
	ctx := context.Background()
	w, err := wire(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.close)
	h := httpapi.New(httpapi.Deps{
		Sites:    &app.SiteService{Control: w.control, Sites: cfg.SiteNames()},
		Retrier:  &app.FailedRetrier{Metadata: w.metadata, Failures: w.failures, Locker: w.locker, Publisher: w.pub, Topics: cfg.Topics},
		Operator: must(w.operator()), Health: w.health, Bus: w.bus,
	}, httpapi.Config{})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/_/healthcheck", nil))
	var body struct {
		Topics map[string]struct {
			Name       string `json:"name"`
			Partitions []struct {
				ID       int32   `json:"id"`
				Leader   int32   `json:"leader"`
				Replicas []int32 `json:"replicas"`
				ISRs     []int32 `json:"isrs"`
			} `json:"partitions"`
		} `json:"topics"`
		InternalConnections map[string]any `json:"internalConnections"`
		Status              string         `json:"status"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != http.StatusOK || body.Status != "ok" {
		t.Fatalf("healthcheck: %d %s (%v)", rec.Code, rec.Body, err)
	}
	for _, name := range []string{cfg.Topics.Entries, cfg.Topics.Status, cfg.Topics.Replay, cfg.Topics.DeadLetter} {
		tp, ok := body.Topics[name]
		if !ok || tp.Name != name || len(tp.Partitions) != int(cfg.Kafka.TopicPartitions) {
			t.Fatalf("topic %s: %+v", name, tp)
		}
		for i, p := range tp.Partitions {
			if p.ID != int32(i) || p.Leader < 0 || len(p.Replicas) == 0 || len(p.ISRs) != len(p.Replicas) {
				t.Errorf("topic %s partition %+v", name, p)
			}
		}
	}
	c := body.InternalConnections
	if c["isrHealth"] != "ok" || c["kafkaProducer"].(map[string]any)["status"] != "ok" || c["zookeeper"].(map[string]any)["status"] != "ok" {
		t.Errorf("internalConnections %v", c)
	}
	for _, s := range []string{"mongo", "kafka", "redis"} {
		if c[s].(map[string]any)["status"] != "ok" {
			t.Errorf("%s: %v", s, c[s])
		}
	}
}
