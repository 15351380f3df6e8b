package memory_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/adapters/memory"
	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
	"github.com/openbackbeat/backbeat/ports/checkpointtest"
	"github.com/openbackbeat/backbeat/ports/journaltest"
	"github.com/openbackbeat/backbeat/ports/leasetest"
	"github.com/openbackbeat/backbeat/ports/metadatatest"
)

func TestMetadataContract(t *testing.T) {
	metadatatest.Run(t, func(t *testing.T) (ports.MetadataStore, ports.MetadataWriter) {
		m := memory.NewMetadata()
		return m, m
	})
}

func TestJournalContract(t *testing.T) {
	journaltest.Run(t, func(t *testing.T) (ports.Journal, ports.MetadataWriter) {
		m := memory.NewMetadata()
		return m, m
	})
}

func TestCheckpointsContract(t *testing.T) {
	checkpointtest.Run(t, func(t *testing.T) ports.Checkpoints { return memory.NewCheckpoints() })
	leasetest.Run(t, func(t *testing.T) ports.LeasedCheckpoints { return memory.NewCheckpoints() })
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func replicatedBucket(name, vFormat string) domain.Bucket {
	return domain.Bucket{Name: name, VersioningEnabled: true, VFormat: vFormat, Replication: &domain.ReplicationConfig{
		Rules: []domain.ReplicationRule{{ID: "r", Enabled: true, DestinationBucket: "arn:aws:s3:::dst", StorageClass: "site-a"}},
	}}
}

func pendingVersion(bucket, key, vid string) domain.ObjectVersion {
	return domain.ObjectVersion{
		Bucket: bucket, Key: key, VersionID: vid, MicroVersionID: "m-" + vid, Size: 1,
		Replication: domain.ReplicationInfo{Status: domain.StatusPending, Backends: []domain.Backend{{Site: "site-a", Status: domain.StatusPending}}},
	}
}

func keys(evs []ports.JournalEvent) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Key)
	}
	return out
}

// TestMetadataMasterFollowsNewestVersion checks the journal's view of the
// master document: it follows the newest version (smallest id), an older
// version written later leaves it alone, and an update of the version the
// master holds is journaled for both documents.
func TestMetadataMasterFollowsNewestVersion(t *testing.T) {
	m := memory.NewMetadata()
	ctx := testCtx(t)
	if err := m.PutBucket(ctx, replicatedBucket("b", "v0")); err != nil {
		t.Fatal(err)
	}
	cur, err := m.Open(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close(ctx)
	for _, vid := range []string{"0005", "0003", "0004"} { // 0003 is the newest
		if err := m.PutVersion(ctx, pendingVersion("b", "k", vid)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.UpdateVersion(ctx, "b", "k", "0003", func(v *domain.ObjectVersion) error {
		_, err := v.SetSiteStatus("site-a", domain.StatusCompleted, "d", "")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.UpdateVersion(ctx, "b", "k", "0005", func(v *domain.ObjectVersion) error {
		_, err := v.SetSiteStatus("site-a", domain.StatusCompleted, "d", "")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// An update that changes nothing writes nothing.
	if _, err := m.UpdateVersion(ctx, "b", "k", "0005", func(*domain.ObjectVersion) error { return nil }); err != nil {
		t.Fatal(err)
	}
	want := []string{"k\x000005", "k", "k\x000003", "k", "k\x000004", "k\x000003", "k", "k\x000005"}
	var evs []ports.JournalEvent
	for len(evs) < len(want) {
		batch, err := cur.Next(ctx, 100)
		if err != nil {
			t.Fatalf("Next after %q: %v", keys(evs), err)
		}
		evs = append(evs, batch...)
	}
	got := keys(evs)
	if len(got) != len(want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("events %q, want %q", got, want)
		}
	}
	master, err := m.Version(ctx, "b", "k", "")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := master.Site("site-a"); master.VersionID != "0003" || b.Status != domain.StatusCompleted {
		t.Fatalf("master = %s with site %+v, want 0003 COMPLETED", master.VersionID, b)
	}
}

func TestMetadataV1DeleteMarkerRemovesMaster(t *testing.T) {
	m := memory.NewMetadata()
	ctx := testCtx(t)
	if err := m.PutBucket(ctx, replicatedBucket("b1", "v1")); err != nil {
		t.Fatal(err)
	}
	if err := m.PutVersion(ctx, pendingVersion("b1", "k", "0002")); err != nil {
		t.Fatal(err)
	}
	dm := pendingVersion("b1", "k", "0001")
	dm.IsDeleteMarker = true
	if err := m.PutVersion(ctx, dm); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Version(ctx, "b1", "k", ""); !errors.Is(err, ports.ErrNotFound) {
		t.Fatalf("master after a v1 delete marker: err = %v, want ErrNotFound", err)
	}
	if v, err := m.Version(ctx, "b1", "k", "0001"); err != nil || !v.IsDeleteMarker {
		t.Fatalf("delete marker version = %+v, %v", v, err)
	}
}

func TestMetadataRefusesBadInput(t *testing.T) {
	m := memory.NewMetadata()
	ctx := testCtx(t)
	if err := m.PutBucket(ctx, domain.Bucket{Name: "x", VFormat: "v9"}); !errors.Is(err, domain.ErrPermanent) {
		t.Errorf("PutBucket with format v9: err = %v, want permanent", err)
	}
	if err := m.PutVersion(ctx, pendingVersion("nobucket", "k", "1")); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("PutVersion in a missing bucket: err = %v, want ErrNotFound", err)
	}
	if err := m.PutBucket(ctx, replicatedBucket("b", "")); err != nil {
		t.Fatal(err)
	}
	if b, err := m.Bucket(ctx, "b"); err != nil || b.VFormat != "v0" {
		t.Errorf("bucket put without format = %+v, %v; want v0", b, err)
	}
	bad := pendingVersion("b", "k", "1")
	bad.Replication.Status = "BOGUS"
	if err := m.PutVersion(ctx, bad); !errors.Is(err, domain.ErrPermanent) {
		t.Errorf("PutVersion with an unknown status: err = %v, want permanent", err)
	}
	if err := m.PutVersion(ctx, pendingVersion("b", "k", "1")); err != nil {
		t.Fatal(err)
	}
	_, err := m.UpdateVersion(ctx, "b", "k", "1", func(v *domain.ObjectVersion) error {
		v.VersionID = "2"
		return nil
	})
	if !errors.Is(err, domain.ErrPermanent) {
		t.Errorf("UpdateVersion changing the version id: err = %v, want permanent", err)
	}
	if _, err := m.Open(ctx, ports.Position("not a memory position")); !errors.Is(err, domain.ErrPermanent) {
		t.Errorf("Open at a foreign position: err = %v, want permanent", err)
	}
}

func TestJournalRefusesPositionPastEnd(t *testing.T) {
	a, b := memory.NewMetadata(), memory.NewMetadata()
	ctx := testCtx(t)
	if err := a.PutBucket(ctx, replicatedBucket("b", "v0")); err != nil {
		t.Fatal(err)
	}
	cur, err := a.Open(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close(ctx)
	if err := a.PutVersion(ctx, pendingVersion("b", "k", "1")); err != nil {
		t.Fatal(err)
	}
	evs, err := cur.Next(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Open(ctx, evs[len(evs)-1].Position); !errors.Is(err, domain.ErrPermanent) {
		t.Fatalf("Open of another journal's position: err = %v, want permanent", err)
	}
}

// TestJournalNextWakesOnWrite checks that a waiting Next returns as soon
// as a write lands, without polling.
func TestJournalNextWakesOnWrite(t *testing.T) {
	m := memory.NewMetadata()
	ctx := testCtx(t)
	if err := m.PutBucket(ctx, replicatedBucket("b", "v0")); err != nil {
		t.Fatal(err)
	}
	cur, err := m.Open(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close(ctx)
	got := make(chan []ports.JournalEvent, 1)
	go func() {
		evs, _ := cur.Next(ctx, 10)
		got <- evs
	}()
	if err := m.PutVersion(ctx, pendingVersion("b", "k", "1")); err != nil {
		t.Fatal(err)
	}
	select {
	case evs := <-got:
		if len(evs) == 0 || evs[0].Key != "k\x001" {
			t.Fatalf("woken Next returned %q", keys(evs))
		}
	case <-ctx.Done():
		t.Fatal("Next did not wake up on a write")
	}
	if err := cur.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := cur.Next(ctx, 1); err == nil {
		t.Fatal("Next on a closed cursor succeeded")
	}
}

func TestJournalHistoryLostContract(t *testing.T) {
	journaltest.RunHistoryLost(t, func(t *testing.T) (ports.Journal, ports.MetadataWriter, journaltest.Trim) {
		m := memory.NewMetadata()
		return m, m, func(*testing.T, string) { m.TrimJournal(0) }
	})
}
