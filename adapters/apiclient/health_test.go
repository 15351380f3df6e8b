package apiclient_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/openbackbeat/backbeat/adapters/apiclient"
)

// The healthcheck's body has upstream's keys (scality/backbeat
// docs/healthcheck.md), isrHealth a string among objects, beside ours.
func TestHealthReadsUpstreamKeys(t *testing.T) {
	t.Parallel()
	const body = `{"topics":{"backbeat-replication":{"name":"backbeat-replication","partitions":[{"id":0,"leader":2,"replicas":[0,1,2],"isrs":[2,0,1]}]}},` +
		`"internalConnections":{"isrHealth":"ok","kafkaProducer":{"status":"ok"},"redis":{"status":"ok"},` +
		`"zookeeper":{"status":"ok","details":{"name":"NOT_USED","description":"none"}}},"status":"ok"}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	}))
	defer srv.Close()
	c, _ := apiclient.New(srv.URL)
	h, err := c.Health(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p := h.Topics["backbeat-replication"].Partitions
	if h.Status != "ok" || h.ISRHealth != "ok" || len(p) != 1 || p[0].Leader != 2 || len(p[0].ISRs) != 3 ||
		h.InternalConnections["kafkaProducer"].Status != "ok" || h.InternalConnections["zookeeper"].Details["name"] != "NOT_USED" {
		t.Fatalf("Health: %+v", h)
	}
	if _, ok := h.InternalConnections["isrHealth"]; ok {
		t.Error("isrHealth listed as a connection")
	}
	// Encoded again, it is the body received (ctl --json prints it).
	out, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if got := mustCompact(t, string(out)); got != mustCompact(t, body) {
		t.Errorf("re-encoded\n%s\nwant\n%s", got, mustCompact(t, body))
	}
}

func mustCompact(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}
