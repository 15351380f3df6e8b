package ctl

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/openbackbeat/backbeat/adapters/apiclient"
)

func (c *ctl) health(ctx context.Context) error {
	h, err := call(ctx, c, c.client.Health)
	if err != nil {
		return err
	}
	if c.json {
		if err := c.printJSON(h); err != nil {
			return err
		}
	} else {
		tw := c.table()
		fmt.Fprintln(tw, "SERVICE\tSTATUS\tERROR")
		for _, name := range slices.Sorted(maps.Keys(h.InternalConnections)) {
			s := h.InternalConnections[name]
			fmt.Fprintf(tw, "%s\t%s\t%s\n", name, s.Status, s.Error)
		}
		if h.ISRHealth != "" {
			fmt.Fprintf(tw, "isrHealth\t%s\t\n", h.ISRHealth)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if h.Status != "ok" {
		var bad []string
		for _, name := range slices.Sorted(maps.Keys(h.InternalConnections)) {
			if h.InternalConnections[name].Status != "ok" {
				bad = append(bad, name)
			}
		}
		return fmt.Errorf("unhealthy: %s", strings.Join(bad, ", "))
	}
	return nil
}

// sites returns the configured sites, as the API's status route lists
// them.
func (c *ctl) sites(ctx context.Context) ([]string, error) {
	st, err := call(ctx, c, func(ctx context.Context) (map[string]string, error) { return c.client.Status(ctx, "all") })
	if err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(st)), nil
}

func (c *ctl) status(ctx context.Context, site string) error {
	st, err := call(ctx, c, func(ctx context.Context) (map[string]string, error) { return c.client.Status(ctx, site) })
	if err != nil {
		return err
	}
	sched, err := call(ctx, c, func(ctx context.Context) (map[string]string, error) { return c.client.ResumeSchedule(ctx, site) })
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(map[string]any{"status": st, "resume": sched})
	}
	tw := c.table()
	fmt.Fprintln(tw, "SITE\tREPLICATION\tSCHEDULED RESUME")
	for _, s := range slices.Sorted(maps.Keys(st)) {
		state := st[s]
		switch state {
		case "enabled":
			state = "running"
		case "disabled":
			state = "paused"
		}
		resume := sched[s]
		if resume == "" || resume == "none" {
			resume = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s, state, resume)
	}
	return tw.Flush()
}

func (c *ctl) metrics(ctx context.Context, site string) error {
	names := []string{site}
	if site == "" {
		sites, err := c.sites(ctx)
		if err != nil {
			return err
		}
		names = append(sites, "all")
	}
	ms := make(map[string]apiclient.SiteMetrics, len(names))
	for _, n := range names {
		m, err := call(ctx, c, func(ctx context.Context) (apiclient.SiteMetrics, error) { return c.client.SiteMetrics(ctx, n) })
		if err != nil {
			return err
		}
		ms[n] = m
	}
	if c.json {
		if site != "" {
			return c.printJSON(ms[site])
		}
		return c.printJSON(ms)
	}
	tw := c.table()
	fmt.Fprintln(tw, "SITE\tPENDING\tPENDING BYTES\tCOMPLETED\tCOMPLETED BYTES\tFAILED\tFAILED BYTES\tOPS/S\tBYTES/S")
	for _, n := range names {
		m := ms[n]
		ops := func(x *apiclient.Metric) string {
			if x == nil {
				return "-"
			}
			return x.Results.Count.String()
		}
		size := func(x *apiclient.Metric) string {
			if x == nil {
				return "-"
			}
			return humanBytes(x.Results.Size.Int64())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n,
			ops(m.Pending), size(m.Pending), ops(m.Completions), size(m.Completions),
			ops(m.Failures), size(m.Failures), ops(m.Throughput), rate(m.Throughput))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if m := ms[names[0]]; m.Completions != nil && m.Throughput != nil && m.Completions.WindowSeconds > 0 && m.Throughput.WindowSeconds > 0 {
		fmt.Fprintf(c.out, "\ncompleted and failed over the last %s; throughput over the last %s; pending is now\n",
			windowText(m.Completions.WindowSeconds), windowText(m.Throughput.WindowSeconds))
	}
	return nil
}

func rate(x *apiclient.Metric) string {
	if x == nil {
		return "-"
	}
	return humanBytes(int64(x.Results.Size.Float64())) + "/s"
}

// windowText says a window of n seconds the short way: 24h, 15m, 1m30s.
func windowText(n int64) string {
	d := time.Duration(n) * time.Second
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", n/3600)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", n/60)
	}
	return d.String()
}

// humanBytes formats n bytes with binary units.
func humanBytes(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v := float64(n)
	for _, unit := range []string{"KiB", "MiB", "GiB", "TiB", "PiB"} {
		v /= 1024
		if v < 1024 {
			return fmt.Sprintf("%.1f %s", v, unit)
		}
	}
	return fmt.Sprintf("%.1f EiB", v/1024)
}

func sitesText(site string) string {
	if site == "" || site == "all" {
		return "every site"
	}
	return site
}

func (c *ctl) pause(ctx context.Context, site string) error {
	if _, err := call(ctx, c, func(ctx context.Context) (struct{}, error) { return struct{}{}, c.client.Pause(ctx, site) }); err != nil {
		return err
	}
	if c.json {
		return c.printJSON(struct{}{})
	}
	fmt.Fprintf(c.out, "paused replication to %s\n", sitesText(site))
	return nil
}

func (c *ctl) resume(ctx context.Context, site, at string, in time.Duration, cancel bool) error {
	n := 0
	for _, set := range []bool{at != "", in != 0, cancel} {
		if set {
			n++
		}
	}
	if n > 1 {
		return errors.New("ctl: give one of --at, --in and --cancel")
	}
	switch {
	case cancel:
		if _, err := call(ctx, c, func(ctx context.Context) (struct{}, error) {
			return struct{}{}, c.client.CancelScheduledResume(ctx, site)
		}); err != nil {
			return err
		}
		if c.json {
			return c.printJSON(struct{}{})
		}
		fmt.Fprintf(c.out, "cancelled the scheduled resume of %s; paused sites stay paused\n", sitesText(site))
		return nil
	case at != "" || in != 0:
		var when time.Time
		if at != "" {
			t, err := time.Parse(time.RFC3339, at)
			if err != nil {
				return fmt.Errorf("ctl: --at must be an RFC 3339 time such as 2030-01-02T15:04:05Z: %w", err)
			}
			when = t
		} else {
			if in < 0 {
				return fmt.Errorf("ctl: --in must be positive, got %s", in)
			}
			when = time.Now().Add(in)
		}
		if _, err := call(ctx, c, func(ctx context.Context) (struct{}, error) {
			return struct{}{}, c.client.ScheduleResumeAt(ctx, site, when)
		}); err != nil {
			return err
		}
		sched, err := call(ctx, c, func(ctx context.Context) (map[string]string, error) { return c.client.ResumeSchedule(ctx, site) })
		if err != nil {
			return err
		}
		if c.json {
			return c.printJSON(sched)
		}
		for _, s := range slices.Sorted(maps.Keys(sched)) {
			if sched[s] == "none" {
				fmt.Fprintf(c.out, "%s is not paused: nothing to resume later\n", s)
			} else {
				fmt.Fprintf(c.out, "%s resumes at %s\n", s, sched[s])
			}
		}
		return nil
	}
	if _, err := call(ctx, c, func(ctx context.Context) (struct{}, error) { return struct{}{}, c.client.Resume(ctx, site) }); err != nil {
		return err
	}
	if c.json {
		return c.printJSON(struct{}{})
	}
	fmt.Fprintf(c.out, "resumed replication to %s\n", sitesText(site))
	return nil
}
