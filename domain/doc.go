// Package domain holds the rules of asynchronous cross-region replication:
// replication configurations and how keys match them, object versions and
// their per-site replication status, the replication entry carried on the
// bus, and the retry policy. It depends on the standard library only.
//
// A replication configuration is parsed (replication_config_parse.go, the
// XML and JSON documents), validated (replication_config_validate.go,
// PutBucketReplication's checks) and encoded (replication_config_marshal.go)
// in separate files; Bucket.Refusals decides which sites a version must not
// reach, and IsULID which order its version ids sort in.
package domain
