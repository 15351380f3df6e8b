package domain_test

import (
	"reflect"
	"testing"

	"github.com/openbackbeat/backbeat/domain"
)

func TestReplicationRuleSites(t *testing.T) {
	tests := []struct {
		storageClass string
		want         []string
	}{
		{"site-a", []string{"site-a"}},
		{"site-a,site-b", []string{"site-a", "site-b"}},
		{" site-a , site-b ", []string{"site-a", "site-b"}},
		{"site-a:preferred_read,site-b", []string{"site-a", "site-b"}},
		{"site-a,site-b:preferred_read", []string{"site-a", "site-b"}},
		{" site-a:preferred_read ", []string{"site-a"}},
		{"site-a :preferred_read", []string{"site-a"}},
		{"site-a,,site-b,", []string{"site-a", "site-b"}},
		{"", nil},
		{" , ", nil},
		{":preferred_read", nil},
	}
	for _, tt := range tests {
		r := domain.ReplicationRule{StorageClass: tt.storageClass}
		if got := r.Sites(); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Sites() of %q = %q, want %q", tt.storageClass, got, tt.want)
		}
	}
}

func TestReplicationRuleDestinationBucketName(t *testing.T) {
	for arn, want := range map[string]string{"arn:aws:s3:::dst": "dst", "arn:aws:s3:::a.b-c": "a.b-c", "": ""} {
		if got := (domain.ReplicationRule{DestinationBucket: arn}).DestinationBucketName(); got != want {
			t.Errorf("DestinationBucketName() of %q = %q, want %q", arn, got, want)
		}
	}
}

func matchConfig() domain.ReplicationConfig {
	return domain.ReplicationConfig{
		Role: "arn:aws:iam::123456789012:role/r",
		Rules: []domain.ReplicationRule{
			{ID: "disabled-logs", Enabled: false, Prefix: "logs/", StorageClass: "x"},
			{ID: "logs", Enabled: true, Prefix: "logs/", StorageClass: "y"},
			{ID: "logs-2024", Enabled: true, Prefix: "logs/2024/", StorageClass: "w"},
			{ID: "img", Enabled: true, Prefix: "img/", StorageClass: "v"},
			{ID: "disabled-all", Enabled: false, Prefix: "", StorageClass: "u"},
		},
	}
}

func TestReplicationConfigMatch(t *testing.T) {
	tests := []struct {
		key    string
		wantID string // "" means no rule
	}{
		{"logs/a", "logs"},      // the disabled rule before it is skipped
		{"logs/2024/a", "logs"}, // the first enabled rule wins, not the longest prefix
		{"img/cat.jpg", "img"},
		{"img", ""},     // a prefix longer than the key does not match
		{"other/x", ""}, // only a disabled rule matches
		{"", ""},
		{"Logs/a", ""}, // prefixes are case sensitive
	}
	c := matchConfig()
	for _, tt := range tests {
		r, ok := c.Match(tt.key)
		if ok != (tt.wantID != "") || r.ID != tt.wantID {
			t.Errorf("Match(%q) = %q, %v; want %q", tt.key, r.ID, ok, tt.wantID)
		}
	}
	c.Rules = append(c.Rules, domain.ReplicationRule{ID: "all", Enabled: true, Prefix: ""})
	if r, ok := c.Match("other/x"); !ok || r.ID != "all" {
		t.Errorf("Match(other/x) with a catch-all rule = %q, %v", r.ID, ok)
	}
	if r, ok := (domain.ReplicationConfig{}).Match("a"); ok {
		t.Errorf("empty configuration matched rule %+v", r)
	}
}

func TestBucketRuleFor(t *testing.T) {
	c := matchConfig()
	tests := []struct {
		name   string
		bucket domain.Bucket
		wantID string
	}{
		{"versioned with configuration", domain.Bucket{Name: "b", VersioningEnabled: true, Replication: &c}, "img"},
		{"versioning not enabled", domain.Bucket{Name: "b", VersioningEnabled: false, Replication: &c}, ""},
		{"no configuration", domain.Bucket{Name: "b", VersioningEnabled: true}, ""},
		{"nothing", domain.Bucket{Name: "b"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, ok := tt.bucket.RuleFor("img/a")
			if ok != (tt.wantID != "") || r.ID != tt.wantID {
				t.Errorf("RuleFor(img/a) = %q, %v; want %q", r.ID, ok, tt.wantID)
			}
		})
	}
}

func TestNewReplicationInfo(t *testing.T) {
	rule := domain.ReplicationRule{
		ID: "r", Enabled: true, DestinationBucket: "arn:aws:s3:::dst",
		StorageClass: "site-a:preferred_read, site-b",
	}
	role := "arn:aws:iam::1:role/src,arn:aws:iam::1:role/dst"
	want := domain.ReplicationInfo{
		Status: domain.StatusPending,
		Backends: []domain.Backend{
			{Site: "site-a", Status: domain.StatusPending},
			{Site: "site-b", Status: domain.StatusPending},
		},
		Content:      []string{domain.ContentData, domain.ContentMetadata},
		Destination:  "arn:aws:s3:::dst",
		StorageClass: "site-a:preferred_read, site-b",
		Role:         role,
	}
	if got := domain.NewReplicationInfo(rule, role, true); !reflect.DeepEqual(got, want) {
		t.Errorf("NewReplicationInfo(hasData):\n got %+v\nwant %+v", got, want)
	}
	want.Content = []string{domain.ContentMetadata}
	got := domain.NewReplicationInfo(rule, role, false)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("NewReplicationInfo(metadata only):\n got %+v\nwant %+v", got, want)
	}
	// A new version is waiting for every site.
	o := domain.ObjectVersion{Replication: got}
	if sites := o.PendingSites(); !reflect.DeepEqual(sites, []string{"site-a", "site-b"}) {
		t.Errorf("PendingSites() of a new version = %q", sites)
	}
}
