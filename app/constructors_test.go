package app_test

import (
	"strings"
	"testing"

	"github.com/openbackbeat/backbeat/adapters/memory"
	"github.com/openbackbeat/backbeat/app"
)

// The use cases' constructors refuse a missing dependency or a bad setting
// with an error naming each, and fill in the defaults of unset settings.
func TestConstructorsRefuseWhatIsMissing(t *testing.T) {
	_, err := app.NewReplicator("", app.ReplicatorDeps{}, app.ReplicationConfig{MaxReplays: -1})
	wantAll(t, "NewReplicator", err, "Subscriber", "Publisher", "Source", "Destination", "site is not named", "maxReplays")
	_, err = app.NewPopulator(app.PopulatorDeps{}, app.PopulatorConfig{BatchSize: -1})
	wantAll(t, "NewPopulator", err, "Journal", "Checkpoints", "Metadata", "Publisher", "Sites", "batchSize")
	_, err = app.NewStatusApplier(app.StatusApplierDeps{}, app.ReplicationConfig{Concurrency: -1})
	wantAll(t, "NewStatusApplier", err, "Subscriber", "Publisher", "Metadata", "Failures", "concurrency")

	bus, err := memory.NewBus(memory.BusConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = bus.Close() }()
	objects := memory.NewObjects()
	r, err := app.NewReplicator("site-a", app.ReplicatorDeps{Subscriber: bus, Publisher: bus, Source: objects, Destination: objects}, app.ReplicationConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Concurrency != app.DefaultReplication.Concurrency || r.GroupPrefix != app.DefaultReplication.GroupPrefix ||
		r.Topics != app.DefaultTopics || r.Log == nil || r.Site() != "site-a" {
		t.Errorf("replicator without settings: %+v, %+v; want the defaults", r.ReplicationConfig, r.Topics)
	}
	meta := memory.NewMetadata()
	lease := &app.Leadership{}
	p, err := app.NewPopulator(app.PopulatorDeps{Journal: meta, Checkpoints: memory.NewCheckpoints(), Metadata: meta, Publisher: bus,
		Sites: []string{"site-a"}, Lease: lease}, app.PopulatorConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if p.PopulatorConfig != app.DefaultPopulator || lease.Name != app.DefaultPopulator.CheckpointName {
		t.Errorf("populator without settings: %+v, lease %q; want the defaults, the lease named after the checkpoint", p.PopulatorConfig, lease.Name)
	}
}

func wantAll(t *testing.T, what string, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s accepted what is missing", what)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v; does not name %s", what, err, p)
		}
	}
}
