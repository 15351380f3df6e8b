package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/adapters/console/consoletest"
)

// TestBrowserConsoleOnTheRealStack is the demo of `task dev` in a test:
// the service on the real stack with every role, its console open in
// headless Chromium while objects replicate. The cards follow the API's
// metrics (Redis), the lag gets its quantiles from the service's own
// histogram, and a pause and a resume from the page take effect: while
// site-a is paused its backlog holds what was written, and it drains once
// resumed.
func TestBrowserConsoleOnTheRealStack(t *testing.T) {
	cfg := realStack(t)
	cfg.API.Listen = freeAddr(t)
	base := "http://" + cfg.API.Listen
	w := startService(t, cfg)
	tab := consoletest.Open(t, base)
	tab.Go("/?refresh=1")
	ctx := context.Background()
	var out strings.Builder
	prefix := cfg.Mongo.Journal.BucketPrefix + "-console"
	if _, err := simulateInto(ctx, w, cfg, &out, prefix, simulateOptions{objects: 20, size: 4096, buckets: 1, wait: 2 * time.Minute}); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	card := func(site, field string) string {
		return fmt.Sprintf(`document.querySelector('article[data-site=%q] [data-field=%q]').textContent`, site, field)
	}
	metrics := func(site string) (backlog, completions int64) {
		t.Helper()
		var m struct {
			Backlog, Completions struct{ Results struct{ Count int64 } }
		}
		getInto(t, base+"/_/metrics/crr/"+site, &m)
		return m.Backlog.Results.Count, m.Completions.Results.Count
	}
	for _, site := range cfg.SiteNames() {
		backlog, completions := metrics(site)
		if completions < 20 {
			t.Fatalf("%s: the API counts %d completions, want at least the 20 objects", site, completions)
		}
		tab.WaitJS(fmt.Sprintf(`%s === %q && %s === %q`, card(site, "completions-count"), fmtInt(completions),
			card(site, "backlog-count"), fmtInt(backlog)))
		// Copies completed since the page opened: the lag has quantiles.
		tab.WaitJS(card(site, "lag") + `.startsWith("p50 ")`)
	}

	tab.Click(`button[aria-label="Pause site-a"]`)
	waitFor(t, "the API says site-a is paused", func() bool { return siteStatus(t, base)["site-a"] == "disabled" })
	before, _ := metrics("site-a")
	paused := prefix + "-paused"
	if _, err := simulateInto(ctx, w, cfg, &out, paused, simulateOptions{objects: 5, size: 4096, buckets: 1}); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	waitFor(t, "site-a's backlog holds the 5 objects written while it is paused", func() bool {
		b, _ := metrics("site-a")
		return b == before+5
	})
	tab.WaitJS(fmt.Sprintf(`%s === %q && %s === "paused"`, card("site-a", "backlog-count"), fmtInt(before+5), card("site-a", "state")))
	tab.Screenshot("real-stack-paused.png", "#sites")

	tab.Click(`button[aria-label="Resume site-a now"]`)
	waitFor(t, "site-a runs and its backlog drains", func() bool {
		b, _ := metrics("site-a")
		return siteStatus(t, base)["site-a"] == "enabled" && b == before
	})
	tab.WaitJS(fmt.Sprintf(`%s === %q && %s === "running"`, card("site-a", "backlog-count"), fmtInt(before), card("site-a", "state")))
	tab.Screenshot("real-stack.png", "")
	tab.NoConsoleErrors()
}

// fmtInt formats n as the console does (en-US digit groups).
func fmtInt(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func getInto(t *testing.T, url string, v any) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, res.Status)
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func siteStatus(t *testing.T, base string) map[string]string {
	t.Helper()
	var m map[string]string
	getInto(t, base+"/_/crr/status", &m)
	return m
}

// waitFor polls cond for up to a minute (the stand-in MongoDB is slow on a
// loaded machine).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}
