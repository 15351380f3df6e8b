// Package memory holds in-memory adapters of every port: first-class
// implementations, safe for concurrent use, that pass the same contract
// suites as the real adapters. They back the in-process component tests
// and the `memory` backend of the binary (demos, local runs without any
// service). Nothing survives the process.
//
//   - Metadata is the source's metadata store, its writer and its journal
//     at once: every write appends an event to an in-memory oplog, as
//     MongoDB's change stream would show it. Checkpoints keeps journal
//     positions.
//   - Bus is a small partitioned log with consumer groups (see below).
//   - Objects is one S3-like site: the source's ObjectSource, or a
//     destination's Destination and ReplicaReader, with fault injection.
//   - Failures, Locker, Metrics and SiteControl keep what Redis keeps in
//     production.
//
// Why Bus is not Watermill's gochannel: the project's guidelines point at
// gochannel for an in-memory bus, but gochannel has no consumer groups, no
// offsets and no redelivery of what was not acknowledged. The application
// relies on all three (a replicator per site is a consumer group; entries
// are acknowledged only once their effect is done, and a restart resumes
// at the first unacknowledged one), and the bus contract suite checks them.
// So Bus is a few hundred lines of partitioned log instead: messages are
// kept per topic partition (hash of the key), each group has an
// acknowledged offset per partition, and a subscription delivers from
// there, up to a window of unacknowledged deliveries per partition.
package memory
