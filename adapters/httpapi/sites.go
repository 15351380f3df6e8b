package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/openbackbeat/backbeat/ports"
)

// Scheduled resume bounds.
const (
	// DefaultResumeHours is the delay of a scheduled resume whose body
	// gives none, as upstream.
	DefaultResumeHours = 6
	// MaxResumeDelay bounds how far ahead a resume may be scheduled.
	MaxResumeDelay = 365 * 24 * time.Hour
)

// empty is upstream's answer to pause and resume: {}.
type empty struct{}

// pause answers POST /_/crr/pause[/<site>]. The state is stored, so every
// replicator, including one started later, follows it; it cancels a
// scheduled resume.
func (a *api) pause(w http.ResponseWriter, r *http.Request, p params) error {
	if _, err := a.sites(p); err != nil {
		return err
	}
	if err := a.deps.Sites.Pause(r.Context(), p["site"]); err != nil {
		return fmt.Errorf("pause: %w", err)
	}
	return writeJSON(w, http.StatusOK, empty{})
}

// resume answers POST /_/crr/resume[/<site>]: resume now.
func (a *api) resume(w http.ResponseWriter, r *http.Request, p params) error {
	if _, err := a.sites(p); err != nil {
		return err
	}
	if err := a.deps.Sites.Resume(r.Context(), p["site"]); err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	return writeJSON(w, http.StatusOK, empty{})
}

// scheduleResume answers POST /_/crr/resume/<site>/schedule with body
// {"hours": N} (default 6, as upstream), or, our addition, {"at":
// "<RFC 3339 time>"}. As upstream, only paused sites get a schedule.
func (a *api) scheduleResume(w http.ResponseWriter, r *http.Request, p params) error {
	if _, err := a.sites(p); err != nil {
		return err
	}
	body, err := readBody(r, a.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	at, err := parseScheduleBody(body, a.cfg.Now())
	if err != nil {
		return err
	}
	if err := a.deps.Sites.ScheduleResume(r.Context(), p["site"], at); err != nil {
		return fmt.Errorf("schedule resume: %w", err)
	}
	return writeJSON(w, http.StatusOK, empty{})
}

// parseScheduleBody returns when to resume. The body is empty (6 hours),
// or an object with hours (a positive integer, or a string holding one, as
// upstream parses it with parseInt) or at, not both.
func parseScheduleBody(body []byte, now time.Time) (time.Time, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return now.Add(DefaultResumeHours * time.Hour), nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return time.Time{}, errMalformed("body must be a JSON object such as {\"hours\": 6}: %v", err)
	}
	if fields == nil {
		return now.Add(DefaultResumeHours * time.Hour), nil
	}
	hoursRaw, hasHours := fields["hours"]
	hasHours = hasHours && string(hoursRaw) != "null"
	atRaw, hasAt := fields["at"]
	hasAt = hasAt && string(atRaw) != "null"
	maxHours := int64(MaxResumeDelay / time.Hour)
	switch {
	case hasHours && hasAt:
		return time.Time{}, errMalformed("give hours or at, not both")
	case hasAt:
		var s string
		if err := json.Unmarshal(atRaw, &s); err != nil {
			return time.Time{}, errMalformed("at must be a string holding an RFC 3339 time")
		}
		at, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return time.Time{}, errMalformed("at must be an RFC 3339 time such as 2030-01-02T15:04:05Z: %v", err)
		}
		if !at.After(now) {
			return time.Time{}, errMalformed("at (%s) must be in the future", s)
		}
		if at.Sub(now) > MaxResumeDelay {
			return time.Time{}, errMalformed("at (%s) must be within %d hours", s, maxHours)
		}
		return at, nil
	case hasHours:
		var n int64
		var err error
		var s string
		if json.Unmarshal(hoursRaw, &s) == nil {
			n, err = strconv.ParseInt(s, 10, 64)
		} else {
			err = json.Unmarshal(hoursRaw, &n)
		}
		if err != nil || n <= 0 {
			return time.Time{}, errMalformed("hours must be an integer greater than 0")
		}
		if n > maxHours {
			return time.Time{}, errMalformed("hours must be at most %d", maxHours)
		}
		return now.Add(time.Duration(n) * time.Hour), nil
	}
	return now.Add(DefaultResumeHours * time.Hour), nil
}

// cancelScheduledResume answers DELETE /_/crr/resume/<site>[/schedule]:
// the site stays paused with no resume planned.
func (a *api) cancelScheduledResume(w http.ResponseWriter, r *http.Request, p params) error {
	if _, err := a.sites(p); err != nil {
		return err
	}
	if err := a.deps.Sites.CancelScheduledResume(r.Context(), p["site"]); err != nil {
		return fmt.Errorf("cancel scheduled resume: %w", err)
	}
	return writeJSON(w, http.StatusOK, empty{})
}

// resumeSchedule answers GET /_/crr/resume[/<site>[/schedule]]:
// {"<site>": "<ISO time>" | "none"}.
func (a *api) resumeSchedule(w http.ResponseWriter, r *http.Request, p params) error {
	states, err := a.states(r, p)
	if err != nil {
		return err
	}
	out := make(map[string]string, len(states))
	for site, st := range states {
		out[site] = "none"
		if st.Paused && !st.ScheduledResume.IsZero() {
			out[site] = isoTime(st.ScheduledResume)
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

// siteStatus answers GET /_/crr/status[/<site>]:
// {"<site>": "enabled" | "disabled"}.
func (a *api) siteStatus(w http.ResponseWriter, r *http.Request, p params) error {
	states, err := a.states(r, p)
	if err != nil {
		return err
	}
	out := make(map[string]string, len(states))
	for site, st := range states {
		out[site] = "enabled"
		if st.Paused {
			out[site] = "disabled"
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (a *api) states(r *http.Request, p params) (map[string]ports.SiteState, error) {
	if _, err := a.sites(p); err != nil {
		return nil, err
	}
	states, err := a.deps.Sites.States(r.Context(), p["site"])
	if err != nil {
		return nil, fmt.Errorf("read site states: %w", err)
	}
	return states, nil
}
