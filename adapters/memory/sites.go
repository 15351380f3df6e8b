package memory

import (
	"context"
	"sync"

	"github.com/openbackbeat/backbeat/ports"
)

// SiteControl stores each site's state in memory and notifies watchers.
// Every replicator of a process shares one SiteControl, as every process
// shares one Redis in production. It implements ports.SiteControl and is
// safe for concurrent use.
//
// A watcher is sent the latest state: one that reads slowly may skip
// intermediate states, never the last one, and SetState never waits for
// watchers.
type SiteControl struct {
	mu    sync.Mutex
	sites map[string]*siteState
}

type siteState struct {
	st      ports.SiteState
	version uint64        // counts SetState calls
	changed chan struct{} // closed, and replaced, by SetState
}

var _ ports.SiteControl = (*SiteControl)(nil)

// NewSiteControl returns a store where every site is running.
func NewSiteControl() *SiteControl {
	return &SiteControl{sites: map[string]*siteState{}}
}

// siteLocked returns site's record, creating it. The caller holds c.mu.
func (c *SiteControl) siteLocked(site string) *siteState {
	s := c.sites[site]
	if s == nil {
		s = &siteState{changed: make(chan struct{})}
		c.sites[site] = s
	}
	return s
}

// State returns site's state; a site never set is running.
func (c *SiteControl) State(ctx context.Context, site string) (ports.SiteState, error) {
	if err := ctx.Err(); err != nil {
		return ports.SiteState{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.sites[site]; s != nil {
		return s.st, nil
	}
	return ports.SiteState{}, nil
}

// SetState stores st and wakes the watchers of site.
func (c *SiteControl) SetState(ctx context.Context, site string, st ports.SiteState) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.siteLocked(site)
	s.st = st
	s.version++
	close(s.changed)
	s.changed = make(chan struct{})
	return nil
}

// Watch sends site's current state, then its state after every change,
// until ctx ends; then the channel closes.
func (c *SiteControl) Watch(ctx context.Context, site string) (<-chan ports.SiteState, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make(chan ports.SiteState)
	go func() {
		defer close(out)
		var sent uint64
		first := true
		for {
			c.mu.Lock()
			s := c.siteLocked(site)
			st, version, changed := s.st, s.version, s.changed
			c.mu.Unlock()
			if first || version != sent {
				select {
				case out <- st:
					first, sent = false, version
				case <-ctx.Done():
					return
				}
				continue // a change may have come while sending
			}
			select {
			case <-changed:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}
