package domain

import "fmt"

// Status is the replication status of an object version, per site or in
// aggregate.
type Status string

// Replication statuses, as CloudServer and Backbeat write them.
const (
	StatusNone       Status = ""
	StatusPending    Status = "PENDING"
	StatusProcessing Status = "PROCESSING"
	StatusCompleted  Status = "COMPLETED"
	StatusFailed     Status = "FAILED"
	// StatusReplica marks a version written by replication: it is never
	// replicated again, so two sites replicating to each other cannot loop.
	StatusReplica Status = "REPLICA"
)

// ParseStatus returns the status named by s or an error naming it.
func ParseStatus(s string) (Status, error) {
	switch st := Status(s); st {
	case StatusNone, StatusPending, StatusProcessing, StatusCompleted, StatusFailed, StatusReplica:
		return st, nil
	}
	return "", fmt.Errorf("unknown replication status %q", s)
}

// siteTransitions lists the legal per-site moves. A site goes PENDING ->
// PROCESSING -> COMPLETED | FAILED; an outcome may also be applied straight
// to a PENDING site (the replicator does not spend a metadata write on
// PROCESSING), and a retry moves FAILED back to PENDING. COMPLETED is final.
var siteTransitions = map[Status][]Status{
	StatusPending:    {StatusProcessing, StatusCompleted, StatusFailed},
	StatusProcessing: {StatusCompleted, StatusFailed},
	StatusFailed:     {StatusPending},
}

// CanBecome reports whether a site in status s may move to next.
func (s Status) CanBecome(next Status) bool {
	for _, to := range siteTransitions[s] {
		if to == next {
			return true
		}
	}
	return false
}

// Aggregate computes the status of a version from its sites' statuses, as
// upstream does: FAILED when any site failed, else PROCESSING while any site
// is PENDING or PROCESSING, else COMPLETED. No sites means no replication.
func Aggregate(backends []Backend) Status {
	if len(backends) == 0 {
		return StatusNone
	}
	agg := StatusCompleted
	for _, b := range backends {
		switch b.Status {
		case StatusFailed:
			return StatusFailed
		case StatusPending, StatusProcessing:
			agg = StatusProcessing
		}
	}
	return agg
}
