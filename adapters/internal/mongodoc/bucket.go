package mongodoc

import (
	"encoding/json"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/openbackbeat/backbeat/domain"
)

// bucketInfo is the part of Arsenal's BucketInfo (lib/models/BucketInfo.ts,
// serialize()) that replication reads.
type bucketInfo struct {
	Name                    string `json:"name"`
	VersioningConfiguration *struct {
		Status string `json:"Status"`
	} `json:"versioningConfiguration"`
	ReplicationConfiguration *replicationConfiguration `json:"replicationConfiguration"`
}

// replicationConfiguration is Arsenal's ReplicationConfiguration.getConfig():
// one destination bucket ARN for the whole configuration, and rules naming
// the destination sites in storageClass.
type replicationConfiguration struct {
	Role        string            `json:"role"`
	Destination string            `json:"destination"`
	Rules       []replicationRule `json:"rules"`
}

type replicationRule struct {
	ID           string `json:"id"`
	Prefix       string `json:"prefix"`
	Enabled      bool   `json:"enabled"`
	StorageClass string `json:"storageClass,omitempty"`
}

// decodeBucket converts a __metastore document to the domain.
func decodeBucket(doc bson.Raw) (domain.Bucket, error) {
	b, err := keyFormat(doc)
	if err != nil {
		return domain.Bucket{}, err
	}
	id := b.Name
	v, err := doc.LookupErr("value")
	if err != nil || v.Type == bson.TypeNull {
		return b, nil
	}
	data, err := ValueJSON(v)
	if err != nil {
		return domain.Bucket{}, fmt.Errorf("bucket %q value: %w", id, err)
	}
	var info bucketInfo
	if err := json.Unmarshal(data, &info); err != nil {
		return domain.Bucket{}, fmt.Errorf("bucket %q value: %w", id, err)
	}
	if info.VersioningConfiguration != nil {
		b.VersioningEnabled = info.VersioningConfiguration.Status == "Enabled"
	}
	if rc := info.ReplicationConfiguration; rc != nil {
		cfg := &domain.ReplicationConfig{Role: rc.Role}
		for _, r := range rc.Rules {
			cfg.Rules = append(cfg.Rules, domain.ReplicationRule{
				ID: r.ID, Enabled: r.Enabled, Prefix: r.Prefix,
				DestinationBucket: rc.Destination, StorageClass: r.StorageClass,
			})
		}
		b.Replication = cfg
	}
	return b, nil
}

// keyFormat reads the name and key format of a bucket document, whatever
// the rest of it holds.
func keyFormat(doc bson.Raw) (domain.Bucket, error) {
	id, ok := doc.Lookup("_id").StringValueOK()
	if !ok {
		return domain.Bucket{}, errors.New("bucket document _id is not a string")
	}
	b := domain.Bucket{Name: id, VFormat: "v0"}
	if f, ok := doc.Lookup("vFormat").StringValueOK(); ok && f != "" {
		b.VFormat = f
	}
	if b.VFormat != "v0" && b.VFormat != "v1" {
		return domain.Bucket{}, fmt.Errorf("bucket %q has unknown vFormat %q", id, b.VFormat)
	}
	return b, nil
}

// watchedAnyway returns the name and key format of a bucket document that
// decodeBucket refused, when both are readable and the document holds a
// replication configuration.
func watchedAnyway(doc bson.Raw) (domain.Bucket, bool) {
	b, err := keyFormat(doc)
	if err != nil {
		return domain.Bucket{}, false
	}
	rc, err := doc.LookupErr("value", "replicationConfiguration")
	return b, err == nil && rc.Type != bson.TypeNull
}

// EncodeReplication converts a domain configuration to the stored shape, or
// nil (null) when there is none. The stored shape has one destination for
// all rules, as S3 replication to a Scality destination does.
func EncodeReplication(c *domain.ReplicationConfig) (any, error) {
	if c == nil {
		return nil, nil
	}
	rc := replicationConfiguration{Role: c.Role, Rules: []replicationRule{}}
	for i, r := range c.Rules {
		if i == 0 {
			rc.Destination = r.DestinationBucket
		} else if r.DestinationBucket != rc.Destination {
			return nil, fmt.Errorf("replication rules name different destination buckets (%q, %q): CloudServer stores one per configuration", rc.Destination, r.DestinationBucket)
		}
		rc.Rules = append(rc.Rules, replicationRule{ID: r.ID, Prefix: r.Prefix, Enabled: r.Enabled, StorageClass: r.StorageClass})
	}
	data, err := json.Marshal(rc)
	if err != nil {
		return nil, err
	}
	return ValueBSON(data)
}

func hasEnabledRule(b domain.Bucket) bool {
	if b.Replication == nil {
		return false
	}
	for _, r := range b.Replication.Rules {
		if r.Enabled {
			return true
		}
	}
	return false
}
