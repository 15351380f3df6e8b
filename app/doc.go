// Package app holds the use cases of the replication service, wired only to
// ports: the populator (journal -> entries), the per-site replicator
// (entries -> destination copies -> outcomes), the status applier (outcomes
// -> source metadata and failure store), retry of failed entries, and
// pause/resume of sites.
package app
