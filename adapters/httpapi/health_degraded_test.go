package httpapi

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/openbackbeat/backbeat/adapters/apiwire"
)

// Redis down degrades the service (metrics, failure listings and pause
// broadcasts lag) but does not stop replication: the healthcheck says
// degraded, with 200, and shows the populator's lease role.
func TestHealthcheckRedisDownIsDegraded(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withDeps(func(d *Deps) {
		d.Health = map[string]func(context.Context) error{
			"mongo": func(context.Context) error { return nil },
			"redis": func(context.Context) error { return errors.New("dial tcp 127.0.0.1:16379: connection refused") },
		}
		d.Degradable = map[string]bool{"redis": true}
		d.Roles = map[string]func() any{"populator": func() any { return map[string]any{"active": false, "owner": "host-1-ab"} }}
	}))
	rec := f.do(http.MethodGet, "/_/healthcheck", nil)
	body := decode[struct {
		Status              string                           `json:"status"`
		InternalConnections map[string]apiwire.ServiceHealth `json:"internalConnections"`
		Roles               map[string]map[string]any        `json:"roles"`
	}](t, rec, http.StatusOK)
	if body.Status != "degraded" || body.InternalConnections["redis"].Status != "degraded" || body.InternalConnections["mongo"].Status != "ok" {
		t.Fatalf("Redis down: %s, want status degraded (200) with redis degraded and mongo ok", rec.Body)
	}
	if p := body.Roles["populator"]; p == nil || p["active"] != false || p["owner"] != "host-1-ab" {
		t.Fatalf("roles: %v", body.Roles)
	}

	// MongoDB down stops the statuses: that is an error.
	f = newFixture(t, withDeps(func(d *Deps) {
		d.Health = map[string]func(context.Context) error{"mongo": func(context.Context) error { return errors.New("server selection timeout") }}
		d.Degradable = map[string]bool{"redis": true}
	}))
	if rec := f.do(http.MethodGet, "/_/healthcheck", nil); rec.Code != http.StatusInternalServerError {
		t.Fatalf("MongoDB down: %d %s, want 500", rec.Code, rec.Body)
	}
}
