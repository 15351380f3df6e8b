// Package app holds the use cases of the replication service, wired only to
// ports: the populator (journal -> entries), the per-site replicator
// (entries -> destination copies -> outcomes), the status applier (outcomes
// -> source metadata and failure store), retry of failed entries,
// pause/resume of sites, backfill and verify jobs, and the operators'
// queries (Operator: failed entries joined with their metadata, metrics
// summed over sites, an object's copy progress).
//
// The pipeline's use cases and the operator queries are made by
// constructors (NewReplicator, NewPopulator, NewStatusApplier, NewOperator)
// that take their ports as a Deps struct and their settings as a Config,
// apply the settings' defaults and refuse a missing dependency or a bad
// setting with an error naming each (NewBackfillService and
// NewVerifyService take theirs as arguments). SiteService, FailedRetrier,
// JobRunner and Leadership are still filled in as struct literals.
// The Config types (config.go) carry YAML names: the service
// configuration embeds them as they are. Decisions (rule matching, site
// refusals, status transitions, retry) are domain methods; the use cases
// orchestrate them and the ports. The spans and upstream's stage metrics of
// the replicator's reads and writes are decorators of its ports
// (instrument.go), so the use case calls plain ports.
package app
