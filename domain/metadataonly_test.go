package domain_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/openbackbeat/backbeat/domain"
)

func TestGenerationFollowsTagChangesOnly(t *testing.T) {
	o := sampleObject()
	g := o.Generation()

	retagged := o
	retagged.Tags = map[string]string{"team": "b", "env": "prod"}
	if retagged.Generation() == g {
		t.Error("a tag change in place kept the generation: a copy outcome computed before it would be applied after it")
	}
	untagged := o
	untagged.Tags = nil
	if untagged.Generation() == g || untagged.Generation() != "mv1" {
		t.Errorf("without tags the generation is %q, want mv1 (and not %q)", untagged.Generation(), g)
	}
	same := o
	same.Tags = map[string]string{"env": "prod", "team": "a"}
	if same.Generation() != g {
		t.Error("the same tags give another generation")
	}
	// Tags whose concatenations collide are told apart.
	a, b := o, o
	a.Tags, b.Tags = map[string]string{"ab": "c"}, map[string]string{"a": "bc"}
	if a.Generation() == b.Generation() {
		t.Error("tags {ab:c} and {a:bc} have one generation")
	}
	// A status write-back changes neither part.
	done := o
	if _, err := done.SetSiteStatus("site-a", domain.StatusCompleted, "dst-1", ""); err != nil {
		t.Fatal(err)
	}
	if done.Generation() != g {
		t.Error("a status write-back changed the generation: every outcome would be stale")
	}
}

func TestMetadataOnly(t *testing.T) {
	tests := []struct {
		name    string
		content []string
		marker  bool
		want    bool
	}{
		{"data and metadata", []string{domain.ContentData, domain.ContentMetadata}, false, false},
		{"put tagging", []string{domain.ContentMetadata, domain.ContentPutTagging}, false, true},
		{"delete tagging", []string{domain.ContentMetadata, domain.ContentDeleteTagging}, false, true},
		{"metadata alone (empty object)", []string{domain.ContentMetadata}, false, true},
		{"delete marker", []string{domain.ContentMetadata}, true, false},
		{"no content (older writer)", nil, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := sampleObject()
			o.Replication.Content, o.IsDeleteMarker = tt.content, tt.marker
			if got := o.MetadataOnly(); got != tt.want {
				t.Errorf("MetadataOnly() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRequeueMetadata(t *testing.T) {
	o := sampleObject()
	for _, s := range []string{"site-a", "site-b"} {
		if _, err := o.SetSiteStatus(s, domain.StatusCompleted, "dst-"+s, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := o.SetSiteStatus("site-b", domain.StatusFailed, "", "x"); !errors.Is(err, domain.ErrIllegalTransition) {
		t.Fatalf("COMPLETED -> FAILED: %v", err)
	}
	if !o.RequeueMetadata(domain.ContentPutTagging) {
		t.Fatal("RequeueMetadata refused a replicated version")
	}
	if o.Replication.Status != domain.StatusPending || !slices.Equal(o.Replication.Content, []string{domain.ContentMetadata, domain.ContentPutTagging}) {
		t.Fatalf("after RequeueMetadata: status %s, content %v", o.Replication.Status, o.Replication.Content)
	}
	for _, b := range o.Replication.Backends {
		if b.Status != domain.StatusPending || b.DataStoreVersionID != "dst-"+b.Site {
			t.Errorf("site %s after RequeueMetadata: %+v, want PENDING keeping its destination version", b.Site, b)
		}
	}
	if !slices.Equal(o.PendingSites(), []string{"site-a", "site-b"}) {
		t.Errorf("PendingSites() = %v", o.PendingSites())
	}
	o.RequeueMetadata("")
	if !slices.Equal(o.Replication.Content, []string{domain.ContentMetadata}) {
		t.Errorf("content for METADATA alone = %v", o.Replication.Content)
	}
	replica := sampleObject()
	replica.Replication = domain.ReplicationInfo{Status: domain.StatusReplica}
	if replica.RequeueMetadata(domain.ContentPutTagging) {
		t.Error("a replica was queued for replication")
	}
}

func TestOutcomeCompletedCountsOnlyCopiedBytes(t *testing.T) {
	o := sampleObject()
	for _, tt := range []struct {
		action domain.Action
		bytes  int64
	}{{domain.ActionCopied, o.Size}, {domain.ActionMetadata, 0}, {domain.ActionNone, 0}} {
		out := domain.NewOutcome(o, "site-a", domain.StatusCompleted)
		out.Completed(tt.action, "dst-1", o.Size)
		if out.Bytes != tt.bytes || out.Action != tt.action || out.DataStoreVersionID != "dst-1" {
			t.Errorf("Completed(%s): bytes %d action %q dst %q, want bytes %d", tt.action, out.Bytes, out.Action, out.DataStoreVersionID, tt.bytes)
		}
		back, err := domain.DecodeOutcome(out.Encode())
		if err != nil || back != out {
			t.Errorf("outcome round trip: %+v, %v", back, err)
		}
	}
	bad := domain.NewOutcome(o, "site-a", domain.StatusCompleted)
	bad.Action = "teleported"
	if _, err := domain.DecodeOutcome(bad.Encode()); !errors.Is(err, domain.ErrPoison) {
		t.Errorf("an unknown action decoded: %v", err)
	}
}
