package app

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/openbackbeat/backbeat/ports"
)

// SiteService pauses and resumes replication to sites, now or at a set
// time. The state is stored, so replicators started later follow it.
type SiteService struct {
	Control ports.SiteControl
	Sites   []string
}

// ErrUnknownSite says a request named a site the service does not know.
var ErrUnknownSite = fmt.Errorf("site does not exist")

// Resolve expands "all" (or "") to every site and checks a named one.
func (s *SiteService) Resolve(site string) ([]string, error) {
	if site == "" || site == "all" {
		return s.Sites, nil
	}
	if !slices.Contains(s.Sites, site) {
		return nil, fmt.Errorf("%w: %q", ErrUnknownSite, site)
	}
	return []string{site}, nil
}

// Pause stops replication to site ("all" for every site); it cancels a
// scheduled resume.
func (s *SiteService) Pause(ctx context.Context, site string) error {
	return s.set(ctx, site, ports.SiteState{Paused: true})
}

// Resume restarts replication to site now.
func (s *SiteService) Resume(ctx context.Context, site string) error {
	return s.set(ctx, site, ports.SiteState{})
}

// ScheduleResume resumes paused site at the given time. A running site
// is left as it is: there is nothing to resume.
func (s *SiteService) ScheduleResume(ctx context.Context, site string, at time.Time) error {
	sites, err := s.Resolve(site)
	if err != nil {
		return err
	}
	for _, name := range sites {
		st, err := s.Control.State(ctx, name)
		if err != nil {
			return err
		}
		if !st.Paused {
			continue
		}
		if err := s.Control.SetState(ctx, name, ports.SiteState{Paused: true, ScheduledResume: at.UTC()}); err != nil {
			return err
		}
	}
	return nil
}

// CancelScheduledResume keeps site paused with no resume planned.
func (s *SiteService) CancelScheduledResume(ctx context.Context, site string) error {
	sites, err := s.Resolve(site)
	if err != nil {
		return err
	}
	for _, name := range sites {
		st, err := s.Control.State(ctx, name)
		if err != nil {
			return err
		}
		if st.Paused && !st.ScheduledResume.IsZero() {
			if err := s.Control.SetState(ctx, name, ports.SiteState{Paused: true}); err != nil {
				return err
			}
		}
	}
	return nil
}

// States returns the state of site, or of every site for "all".
func (s *SiteService) States(ctx context.Context, site string) (map[string]ports.SiteState, error) {
	sites, err := s.Resolve(site)
	if err != nil {
		return nil, err
	}
	out := make(map[string]ports.SiteState, len(sites))
	for _, name := range sites {
		st, err := s.Control.State(ctx, name)
		if err != nil {
			return nil, err
		}
		out[name] = st
	}
	return out, nil
}

func (s *SiteService) set(ctx context.Context, site string, st ports.SiteState) error {
	sites, err := s.Resolve(site)
	if err != nil {
		return err
	}
	for _, name := range sites {
		if err := s.Control.SetState(ctx, name, st); err != nil {
			return fmt.Errorf("set state of site %s: %w", name, err)
		}
	}
	return nil
}
