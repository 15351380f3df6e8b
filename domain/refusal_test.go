package domain_test

import (
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/openbackbeat/backbeat/domain"
)

func TestBucketRefusals(t *testing.T) {
	t.Parallel()
	rules := &domain.ReplicationConfig{Role: "r", Rules: []domain.ReplicationRule{
		{ID: "photos", Enabled: true, Prefix: "photos/", StorageClass: "site-a,site-b"},
		{ID: "off", Enabled: false, Prefix: "off/", StorageClass: "site-a"},
		{ID: "far", Enabled: true, Prefix: "far/", StorageClass: "site-a,site-z:preferred_read"},
	}}
	bucket := domain.Bucket{Name: "b", VersioningEnabled: true, Replication: rules}
	known := []string{"site-a", "site-b"}
	disabled := "replication disabled for object: versioning off or no enabled rule matches the key"
	tests := []struct {
		name    string
		bucket  domain.Bucket
		key     string
		pending []string
		want    map[string]string
		bad     string // part of the poison error; empty: none
	}{
		{"every site served", bucket, "photos/a.jpg", []string{"site-a", "site-b"}, map[string]string{}, ""},
		{"no rule matches", bucket, "docs/a", []string{"site-a"}, map[string]string{"site-a": disabled}, ""},
		{"disabled rule", bucket, "off/a", []string{"site-a"}, map[string]string{"site-a": disabled}, ""},
		{"versioning off", domain.Bucket{Name: "b", Replication: rules}, "photos/a", []string{"site-a"}, map[string]string{"site-a": disabled}, ""},
		{"no configuration", domain.Bucket{Name: "b", VersioningEnabled: true}, "photos/a", []string{"site-b"}, map[string]string{"site-b": disabled}, ""},
		{"site not in the rule", bucket, "far/a", []string{"site-a", "site-b"},
			map[string]string{"site-b": `replication rule "far" does not replicate to site "site-b"`}, ""},
		{"site unknown to the service", bucket, "far/a", []string{"site-a", "site-z"},
			map[string]string{"site-z": `unknown site "site-z": not configured in this service (sites: site-a, site-b)`}, "unknown site(s) site-z"},
		{"nothing pending", bucket, "photos/a", nil, map[string]string{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, bad := tt.bucket.Refusals(tt.key, tt.pending, known)
			if !maps.Equal(got, tt.want) {
				t.Errorf("refused %v, want %v", got, tt.want)
			}
			switch {
			case tt.bad == "" && bad != nil:
				t.Errorf("bad input %v, want none", bad)
			case tt.bad != "" && (bad == nil || !errors.Is(bad, domain.ErrPoison) || !strings.Contains(bad.Error(), tt.bad)):
				t.Errorf("bad input %v, want a poison error with %q", bad, tt.bad)
			}
		})
	}
}

func TestRefuseAll(t *testing.T) {
	t.Parallel()
	got := domain.RefuseAll([]string{"site-a", "site-b"}, "source bucket does not exist")
	want := map[string]string{"site-a": "source bucket does not exist", "site-b": "source bucket does not exist"}
	if !maps.Equal(got, want) {
		t.Errorf("RefuseAll = %v, want %v", got, want)
	}
}
