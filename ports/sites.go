package ports

import (
	"context"
	"time"
)

// SiteState is whether a site's replication runs.
type SiteState struct {
	Paused bool `json:"paused"`
	// ScheduledResume, when set on a paused site, is when it resumes.
	ScheduledResume time.Time `json:"scheduledResume,omitzero"`
}

// SiteControl stores and broadcasts each site's state, so that every
// replicator process, including one started later, follows it.
type SiteControl interface {
	// State returns the stored state of site (zero value: running).
	State(ctx context.Context, site string) (SiteState, error)
	// SetState stores st and notifies watchers.
	SetState(ctx context.Context, site string, st SiteState) error
	// Watch sends the current state, then changes as they happen, until ctx
	// ends. A slow reader may miss intermediate states but always receives
	// the latest one.
	Watch(ctx context.Context, site string) (<-chan SiteState, error)
}
