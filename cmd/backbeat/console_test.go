package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

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
	// Nothing replicates until the objects below: the page's first sample
	// of the lag histogram is this one.
	before := map[string][]bucket{}
	for _, site := range cfg.SiteNames() {
		before[site] = lagHistogram(t, base, site)
	}
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
		// The counters may still move (the backlog's decrement follows the
		// status write the simulator waited for): the card must show what
		// the API says at some read, within the deadline.
		var backlog, completions int64
		waitFor(t, site+"'s card shows the API's backlog and completions", func() bool {
			backlog, completions = metrics(site)
			return consoletest.Eval[bool](tab, fmt.Sprintf(`(() => { try { return %s === %q && %s === %q } catch (e) { return false } })()`,
				card(site, "completions-count"), fmtInt(completions), card(site, "backlog-count"), fmtInt(backlog)))
		})
		if completions < 20 {
			t.Fatalf("%s: the API counts %d completions, want at least the 20 objects", site, completions)
		}
	}
	// Copies completed since the page opened: the lag's quantiles are the
	// histogram's growth since then, as Prometheus' histogram_quantile
	// gives them.
	after := map[string][]bucket{}
	for _, site := range cfg.SiteNames() {
		after[site] = lagHistogram(t, base, site)
	}
	tab.WaitRefresh(tab.Refreshes())
	for _, site := range cfg.SiteNames() {
		growth := make([]bucket, len(after[site]))
		for i, b := range after[site] {
			growth[i] = bucket{b.le, b.count - countAt(before[site], b.le)}
		}
		want := fmt.Sprintf("p50 %s · p99 %s", quantileText(0.5, growth), quantileText(0.99, growth))
		got := consoletest.Eval[string](tab, card(site, "lag"))
		if got, _, _ = strings.Cut(got, " (since"); !sameLagText(got, want) {
			t.Errorf("%s: lag %q, want %q from the histogram's growth %v", site, got, want, growth)
		}
	}

	tab.Click(`button[aria-label="Pause site-a"]`)
	waitFor(t, "the API says site-a is paused", func() bool { return siteStatus(t, base)["site-a"] == "disabled" })
	backlog, _ := metrics("site-a")
	paused := prefix + "-paused"
	if _, err := simulateInto(ctx, w, cfg, &out, paused, simulateOptions{objects: 5, size: 4096, buckets: 1}); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	waitFor(t, "site-a's backlog holds the 5 objects written while it is paused", func() bool {
		b, _ := metrics("site-a")
		return b == backlog+5
	})
	tab.WaitJS(fmt.Sprintf(`%s === %q && %s === "paused"`, card("site-a", "backlog-count"), fmtInt(backlog+5), card("site-a", "state")))
	tab.Screenshot("real-stack-paused.png", "#sites")

	tab.Click(`button[aria-label="Resume site-a now"]`)
	waitFor(t, "site-a runs and its backlog drains", func() bool {
		b, _ := metrics("site-a")
		return siteStatus(t, base)["site-a"] == "enabled" && b == backlog
	})
	tab.WaitJS(fmt.Sprintf(`%s === %q && %s === "running"`, card("site-a", "backlog-count"), fmtInt(backlog), card("site-a", "state")))
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

// bucket is a histogram bucket: its upper bound and cumulative count.
type bucket struct{ le, count float64 }

// lagHistogram returns the buckets of site's backbeat_replication_lag_seconds
// at /metrics, +Inf last (none before the first copy).
func lagHistogram(t *testing.T, base, site string) []bucket {
	t.Helper()
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out []bucket
	for _, m := range families["backbeat_replication_lag_seconds"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "site" && l.GetValue() == site {
				for _, b := range m.GetHistogram().GetBucket() {
					out = append(out, bucket{b.GetUpperBound(), float64(b.GetCumulativeCount())})
				}
				if len(out) == 0 || !math.IsInf(out[len(out)-1].le, 1) {
					out = append(out, bucket{math.Inf(1), float64(m.GetHistogram().GetSampleCount())})
				}
			}
		}
	}
	return out
}

func countAt(bs []bucket, le float64) float64 {
	for _, b := range bs {
		if b.le == le {
			return b.count
		}
	}
	return 0
}

// quantileText is the q-quantile of the buckets, interpolated within its
// bucket, as the console writes it.
func quantileText(q float64, bs []bucket) string {
	rank := q * bs[len(bs)-1].count
	lo, below := 0.0, 0.0
	for _, b := range bs {
		if b.count >= rank {
			if math.IsInf(b.le, 1) {
				return "> " + secondsText(lo)
			}
			return secondsText(lo + (b.le-lo)*(rank-below)/max(b.count-below, 1))
		}
		lo, below = b.le, b.count
	}
	return "?"
}

// sameLagText reports whether the page's lag text says want's quantiles,
// each to its last digit: JavaScript's toFixed rounds a half up where Go
// rounds it to even (2.25 s is "2.3 s" on the page, "2.2 s" here).
func sameLagText(got, want string) bool {
	g, w := lagFields(got), lagFields(want)
	if len(g) != len(w) || len(g) == 0 {
		return false
	}
	for i := range g {
		if g[i].over != w[i].over || g[i].unit != w[i].unit || math.Abs(g[i].v-w[i].v) > 0.1+1e-9 {
			return false
		}
	}
	return true
}

type lagField struct {
	over bool
	v    float64
	unit string
}

// lagFields parses "p50 2.3 s · p99 > 5.0 s" into its quantiles, nil when
// it is not that shape.
func lagFields(text string) []lagField {
	var fs []lagField
	for _, part := range strings.Split(text, " · ") {
		words := strings.Fields(part)
		if len(words) < 3 {
			return nil
		}
		f := lagField{unit: words[len(words)-1]}
		f.over = len(words) == 4 && words[1] == ">"
		v, err := strconv.ParseFloat(words[len(words)-2], 64)
		if err != nil {
			return nil
		}
		f.v = v
		fs = append(fs, f)
	}
	return fs
}

func secondsText(s float64) string {
	switch {
	case s < 1:
		return fmt.Sprintf("%d ms", int64(math.Round(s*1000)))
	case s < 120:
		return fmt.Sprintf("%.1f s", s)
	default:
		return fmt.Sprintf("%.1f min", s/60)
	}
}

func TestSameLagText(t *testing.T) {
	for _, c := range []struct {
		got, want string
		same      bool
	}{
		{"p50 2.3 s · p99 4.9 s", "p50 2.2 s · p99 4.9 s", true}, // a half rounded up by the page, to even here
		{"p50 2.4 s · p99 4.9 s", "p50 2.2 s · p99 4.9 s", false},
		{"p50 250 ms · p99 > 5.0 s", "p50 250 ms · p99 > 5.0 s", true},
		{"p50 250 ms · p99 5.0 s", "p50 250 ms · p99 > 5.0 s", false},
		{"p50 2.2 min · p99 4.9 s", "p50 2.2 s · p99 4.9 s", false},
		{"collecting…", "p50 2.2 s · p99 4.9 s", false},
	} {
		if got := sameLagText(c.got, c.want); got != c.same {
			t.Errorf("sameLagText(%q, %q) = %v, want %v", c.got, c.want, got, c.same)
		}
	}
}
