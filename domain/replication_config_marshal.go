package domain

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
)

// Encoding of a replication configuration in the forms the parsers read.

// MarshalReplicationConfigXML encodes c as the XML document of S3
// GetBucketReplication, which ParseReplicationConfigXML reads back.
func MarshalReplicationConfigXML(c ReplicationConfig) ([]byte, error) {
	doc := xmlConfig{Xmlns: s3Namespace, Role: []string{c.Role}}
	for _, r := range c.Rules {
		doc.Rules = append(doc.Rules, xmlRule{
			ID:     []string{r.ID},
			Status: []string{ruleStatus(r)},
			Prefix: []string{r.Prefix},
			Destination: []xmlDestination{{
				Bucket:       []string{r.DestinationBucket},
				StorageClass: []string{r.StorageClass},
			}},
		})
	}
	out, err := xml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("replication configuration: %w", err)
	}
	return append([]byte(xml.Header), out...), nil
}

func ruleStatus(r ReplicationRule) string {
	if r.Enabled {
		return ruleEnabled
	}
	return ruleDisabled
}

// MarshalReplicationConfigJSON encodes c in the JSON form that
// ParseReplicationConfigJSON reads back.
func MarshalReplicationConfigJSON(c ReplicationConfig) ([]byte, error) {
	doc := jsonConfig{Role: c.Role, Rules: make([]jsonRule, len(c.Rules))}
	for i, r := range c.Rules {
		doc.Rules[i] = jsonRule{
			ID:          r.ID,
			Status:      ruleStatus(r),
			Prefix:      &r.Prefix,
			Destination: &jsonDestination{Bucket: r.DestinationBucket, StorageClass: r.StorageClass},
		}
	}
	return json.Marshal(doc)
}
