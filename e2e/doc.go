// Package e2e is the end-to-end suite: it builds the backbeat binary, runs
// each role as a separate process against the local stack (populator, one
// replicator per site, status applier, API), writes objects the way
// CloudServer does, injects faults (SIGKILL, paused sites, poison input,
// service outages), and checks the replication guarantees through the
// services' own APIs with Checker: every written version is at every site
// exactly once, with the source's bytes and metadata, in the source's write
// order per key, and its status is final and never stale.
package e2e
