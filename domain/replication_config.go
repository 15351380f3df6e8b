package domain

import (
	"strings"
)

// Bucket is what replication needs to know of a source bucket.
type Bucket struct {
	Name              string
	VersioningEnabled bool
	// VFormat is the metadata key format of the bucket: "v0" or "v1".
	VFormat     string
	Replication *ReplicationConfig
}

// ReplicationConfig is a bucket's replication configuration, in the shape
// of AWS PutBucketReplication.
type ReplicationConfig struct {
	Role  string
	Rules []ReplicationRule
}

// ReplicationRule sends keys starting with Prefix to the sites named in
// StorageClass, into DestinationBucket.
type ReplicationRule struct {
	ID      string
	Enabled bool
	Prefix  string
	// DestinationBucket is an ARN: arn:aws:s3:::name.
	DestinationBucket string
	// StorageClass names one or more destination sites, comma separated.
	StorageClass string
}

// DestinationBucketPrefix starts every destination bucket ARN.
const DestinationBucketPrefix = "arn:aws:s3:::"

// Sites lists the sites the rule replicates to. A `:preferred_read` suffix
// on a site name, as upstream allows, is dropped.
func (r ReplicationRule) Sites() []string {
	var sites []string
	for _, s := range strings.Split(r.StorageClass, ",") {
		s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), ":preferred_read"))
		if s != "" {
			sites = append(sites, s)
		}
	}
	return sites
}

// DestinationBucketName is the bucket name inside the destination ARN.
func (r ReplicationRule) DestinationBucketName() string { return bucketOfARN(r.DestinationBucket) }

// DestinationBucketName is the bucket name inside the destination ARN the
// writer recorded for the version (empty when it recorded none).
func (i ReplicationInfo) DestinationBucketName() string { return bucketOfARN(i.Destination) }

func bucketOfARN(arn string) string { return strings.TrimPrefix(arn, DestinationBucketPrefix) }

// Match returns the first enabled rule whose prefix starts key, as
// CloudServer does when it writes an object.
func (c ReplicationConfig) Match(key string) (ReplicationRule, bool) {
	for _, r := range c.Rules {
		if r.Enabled && strings.HasPrefix(key, r.Prefix) {
			return r, true
		}
	}
	return ReplicationRule{}, false
}

// RuleFor returns the rule that replicates key in this bucket: none when
// versioning is not enabled, the bucket has no configuration, or no enabled
// rule matches.
func (b Bucket) RuleFor(key string) (ReplicationRule, bool) {
	if !b.VersioningEnabled || b.Replication == nil {
		return ReplicationRule{}, false
	}
	return b.Replication.Match(key)
}

// NewReplicationInfo is the replicationInfo a writer records for a new
// version replicated by rule: every site PENDING.
func NewReplicationInfo(rule ReplicationRule, role string, hasData bool) ReplicationInfo {
	info := ReplicationInfo{
		Status:       StatusPending,
		Content:      []string{ContentMetadata},
		Destination:  rule.DestinationBucket,
		StorageClass: rule.StorageClass,
		Role:         role,
	}
	if hasData {
		info.Content = []string{ContentData, ContentMetadata}
	}
	for _, s := range rule.Sites() {
		info.Backends = append(info.Backends, Backend{Site: s, Status: StatusPending})
	}
	return info
}
