// Package domain holds the rules of asynchronous cross-region replication:
// replication configurations and how keys match them, object versions and
// their per-site replication status, the replication entry carried on the
// bus, and the retry policy. It depends on the standard library only.
package domain
