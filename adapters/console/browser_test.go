package console_test

// Browser tests: the console's page in headless Chromium against the API's
// real handler over in-memory adapters (the checks need no real service:
// the page only reads and calls the API). `go tool task test:browser` runs
// them; names start with TestBrowser.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/chromedp"

	"github.com/openbackbeat/backbeat/adapters/console/consoletest"
	"github.com/openbackbeat/backbeat/adapters/httpapi/httpapitest"
	"github.com/openbackbeat/backbeat/ports"
)

type countResults struct {
	Count int64 `json:"count"`
	Size  int64 `json:"size"`
}

type siteMetrics struct {
	Backlog     struct{ Results countResults } `json:"backlog"`
	Completions struct{ Results countResults } `json:"completions"`
	Failures    struct{ Results countResults } `json:"failures"`
}

type failedPage struct {
	IsTruncated bool
	NextMarker  int64
	Versions    []struct{ Bucket, Key, VersionId string }
}

// record adds n operations of size bytes each to kind at site.
func record(t *testing.T, s *httpapitest.Server, site string, kind ports.MetricKind, n int, size int64) {
	t.Helper()
	for range n {
		if err := s.Metrics.Record(context.Background(), site, kind, 1, size, ports.Op{}); err != nil {
			t.Fatal(err)
		}
	}
}

// eventually polls cond until it holds, for up to 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

func siteStatus(t *testing.T, s *httpapitest.Server, site string) string {
	t.Helper()
	return getJSON[map[string]string](t, s.URL+"/_/crr/status")[site]
}

func card(site, field string) string {
	return fmt.Sprintf(`article[data-site=%q] [data-field=%q]`, site, field)
}

func TestBrowserSiteCardsShowTheMetrics(t *testing.T) {
	s := httpapitest.Start(t, "", nil)
	record(t, s, "site-a", ports.MetricQueued, 5, 1<<20)
	record(t, s, "site-a", ports.MetricCompleted, 2, 1<<20)
	record(t, s, "site-b", ports.MetricQueued, 1234, 1000)
	record(t, s, "site-b", ports.MetricCompleted, 1000, 1000)
	record(t, s, "site-b", ports.MetricFailed, 7, 1000)
	tb := consoletest.Open(t, s.URL)
	tb.Go("/")
	for _, site := range httpapitest.Sites {
		want := getJSON[siteMetrics](t, s.URL+"/_/metrics/crr/"+site)
		for name, r := range map[string]countResults{"backlog": want.Backlog.Results, "completions": want.Completions.Results, "failures": want.Failures.Results} {
			got := strings.ReplaceAll(tb.Text(card(site, name+"-count")), ",", "")
			if got != strconv.FormatInt(r.Count, 10) {
				t.Errorf("%s %s: the card shows %q entries, the API says %d", site, name, got, r.Count)
			}
			if got := tb.Attr(card(site, name+"-size"), "title"); got != fmt.Sprintf("%d bytes", r.Size) {
				t.Errorf("%s %s: the card's size is %q, the API says %d bytes", site, name, got, r.Size)
			}
		}
		if got := tb.Text(card(site, "state")); got != "running" {
			t.Errorf("%s: state %q, want running", site, got)
		}
	}
	// What a reader sees, for values the API gives above.
	for sel, want := range map[string]string{
		card("site-a", "backlog-count"): "3", card("site-a", "backlog-size"): "3.0 MiB",
		card("site-b", "completions-count"): "1,000", card("site-b", "completions-size"): "976.6 KiB",
		card("site-b", "completions-window"): "24 h", card("site-b", "throughput-window"): "15 min",
		card("site-b", "throughput-count"): "1.11", // 1000 completions over 15 minutes
	} {
		if got := tb.Text(sel); got != want {
			t.Errorf("%s: %q, want %q", sel, got, want)
		}
	}
	tb.Screenshot("site-cards.png", "#sites")
	tb.NoConsoleErrors()
}

func TestBrowserPauseAndResume(t *testing.T) {
	s := httpapitest.Start(t, "", nil)
	tb := consoletest.Open(t, s.URL)
	tb.Go("/")

	tb.Click(`button[aria-label="Pause site-a"]`)
	eventually(t, "the API says site-a is paused", func() bool { return siteStatus(t, s, "site-a") == "disabled" })
	tb.WaitJS(`document.querySelector('article[data-site="site-a"] [data-field="state"]').textContent === "paused"`)
	if got := siteStatus(t, s, "site-b"); got != "enabled" {
		t.Errorf("site-b is %s, want enabled: pausing site-a paused it", got)
	}

	// A paused site offers a scheduled resume, prefilled 6 hours ahead.
	tb.Click(`button[aria-label="Schedule the resume of site-a"]`)
	eventually(t, "the API has a resume scheduled for site-a", func() bool {
		return getJSON[map[string]string](t, s.URL+"/_/crr/resume/site-a")["site-a"] != "none"
	})
	at, err := time.Parse(time.RFC3339, getJSON[map[string]string](t, s.URL+"/_/crr/resume/site-a")["site-a"])
	if err != nil || at.Before(time.Now().Add(5*time.Hour)) || at.After(time.Now().Add(7*time.Hour)) {
		t.Errorf("scheduled resume at %v (%v), want in about 6 hours", at, err)
	}
	tb.WaitJS(`document.querySelector('article[data-site="site-a"] [data-field="state"]').textContent.startsWith("paused, resumes ")`)
	tb.Screenshot("site-paused.png", `article[data-site="site-a"]`)

	tb.Click(`button[aria-label="Resume site-a now"]`)
	eventually(t, "the API says site-a runs", func() bool { return siteStatus(t, s, "site-a") == "enabled" })
	if got := getJSON[map[string]string](t, s.URL+"/_/crr/resume/site-a")["site-a"]; got != "none" {
		t.Errorf("after resume the schedule is %q, want none", got)
	}
	tb.WaitJS(`document.querySelector('article[data-site="site-a"] [data-field="state"]').textContent === "running"`)
	tb.NoConsoleErrors()
}

func TestBrowserRetryFailedEntries(t *testing.T) {
	s := httpapitest.Start(t, "", nil)
	now := time.Now()
	const n = 104 // more than a page (100)
	for i := range n {
		s.PutFailed(t, "bkt", fmt.Sprintf("k%03d", i), fmt.Sprintf("v%03d", i), "site-a", 2048, now.Add(-time.Duration(i)*time.Second))
	}
	tb := consoletest.Open(t, s.URL)
	tb.Go("/")
	rows := `#failed-table tbody tr`
	firstKey := `#failed-table tbody tr:first-child td.key`

	// Newest first, paginated with the API's marker.
	tb.WaitJS(fmt.Sprintf(`document.querySelectorAll(%q).length === 100`, rows))
	if got := tb.Text(firstKey); got != "k000" {
		t.Errorf("first entry %q, want the newest, k000", got)
	}
	if got := tb.Text(`#failed-table tbody tr:first-child td.reason`); got != "AccessDenied: k000" {
		t.Errorf("first entry's reason %q, want the site's failure reason", got)
	}
	// Its time is when it failed (the listing's FailedAt), not when written.
	tb.WaitJS(fmt.Sprintf(`document.querySelector("#failed-table tbody tr:first-child td:nth-child(5)").textContent === new Date(%q).toLocaleString()`,
		now.UTC().Truncate(time.Millisecond).Format("2006-01-02T15:04:05.000Z")))
	tb.Screenshot("failures-104.png", "#failures")
	tb.Click("#failed-older")
	tb.WaitJS(fmt.Sprintf(`document.querySelectorAll(%q).length === 4`, rows))
	if got := tb.Text(firstKey); got != "k100" {
		t.Errorf("first entry of the second page %q, want k100", got)
	}
	tb.Click("#failed-newer")
	tb.WaitJS(fmt.Sprintf(`document.querySelectorAll(%q).length === 100`, rows))

	// One entry: confirmed, retried, gone from the page and the API.
	tb.Click(`button[aria-label="Retry bkt/k003 version v003"]`)
	tb.WaitJS(`document.querySelector("#confirm").open`)
	if got := tb.Text("#confirm-text"); !strings.HasPrefix(got, "Retry 1 failed entry of site-a") {
		t.Errorf("confirmation %q, want it to say 1 entry", got)
	}
	tb.Click("#confirm-ok")
	tb.WaitJS(`![...document.querySelectorAll("#failed-table td.key")].some(td => td.textContent === "k003")`)
	if got := tb.Text("#notice"); got != "1 of 1 failed entry of site-a re-queued" {
		t.Errorf("notice %q", got)
	}
	listed := func() map[string]bool {
		keys := map[string]bool{}
		for marker := int64(0); ; {
			p := getJSON[failedPage](t, fmt.Sprintf("%s/_/crr/failed?sitename=site-a&marker=%d", s.URL, marker))
			for _, v := range p.Versions {
				keys[v.Key] = true
			}
			if !p.IsTruncated {
				return keys
			}
			marker = p.NextMarker
		}
	}
	if keys := listed(); keys["k003"] || len(keys) != n-1 {
		t.Fatalf("the API lists %d entries (k003: %v), want %d without k003", len(keys), keys["k003"], n-1)
	}

	// A page, cancelled: nothing is retried.
	tb.Click("#retry-page")
	tb.WaitJS(`document.querySelector("#confirm").open`)
	if got := tb.Text("#confirm-text"); got != "Retry the 100 failed entries of this page of site-a?" {
		t.Errorf("confirmation %q", got)
	}
	tb.Click("#confirm-cancel")
	tb.WaitJS(`!document.querySelector("#confirm").open`)
	if keys := listed(); len(keys) != n-1 {
		t.Fatalf("after a cancelled retry the API lists %d entries, want %d", len(keys), n-1)
	}

	// All of the site's, across pages.
	tb.Click("#retry-all")
	tb.WaitJS(`document.querySelector("#confirm").open`)
	if got, want := tb.Text("#confirm-text"), fmt.Sprintf("Retry all %d failed entries of site-a?", n-1); got != want {
		t.Errorf("confirmation %q, want %q", got, want)
	}
	tb.Click("#confirm-ok")
	tb.WaitJS(fmt.Sprintf(`document.querySelectorAll(%q).length === 0`, rows))
	if keys := listed(); len(keys) != 0 {
		t.Errorf("after retrying all the API still lists %d entries", len(keys))
	}
	if got := tb.Text("#failed-caption"); got != "no failed entry at site-a" {
		t.Errorf("caption %q", got)
	}
	tb.NoConsoleErrors()
}

func TestBrowserTokenRefusedThenAsked(t *testing.T) {
	const token = "console-s3cret"
	s := httpapitest.Start(t, token, nil)
	tb := consoletest.Open(t, s.URL)
	tb.Go("/")

	tb.Click(`button[aria-label="Pause site-a"]`)
	tb.WaitJS(`document.querySelector("#notice").textContent.startsWith("Refused")`)
	if got := tb.Text("#notice"); !strings.Contains(got, "401 Unauthorized") || !strings.Contains(got, "Enter the API token") {
		t.Errorf("notice %q: want it to say the action was refused for want of a token", got)
	}
	if got := siteStatus(t, s, "site-a"); got != "enabled" {
		t.Fatalf("site-a is %s after a refused pause", got)
	}
	tb.WaitJS(`!document.querySelector("#token-form").hidden`)

	// A wrong token is refused too, and asked again.
	tb.Do(chromedp.SendKeys(chromedp.CSS("#token"), "wrong"))
	tb.Click(`#token-form button[type="submit"]`)
	tb.WaitJS(`document.querySelector("#notice").textContent.includes("403 AccessDenied")`)
	if got := siteStatus(t, s, "site-a"); got != "enabled" {
		t.Fatalf("site-a is %s after a pause with a wrong token", got)
	}
	tb.Screenshot("token-refused.png", "")

	// The right one: the refused action runs, and later ones send it.
	tb.Do(chromedp.SendKeys(chromedp.CSS("#token"), token))
	tb.Click(`#token-form button[type="submit"]`)
	eventually(t, "the API says site-a is paused", func() bool { return siteStatus(t, s, "site-a") == "disabled" })
	tb.Click(`button[aria-label="Resume site-a now"]`)
	eventually(t, "the API says site-a runs", func() bool { return siteStatus(t, s, "site-a") == "enabled" })
	tb.WaitJS(`document.querySelector("#notice").textContent === "site-a resumed"`)
	if !consoletest.Eval[bool](tb, `document.querySelector("#token-form").hidden`) {
		t.Error("the page asked for the token again")
	}
	tb.NoConsoleErrors(http.StatusUnauthorized, http.StatusForbidden)
}

func TestBrowserHealthShowsServiceErrors(t *testing.T) {
	s := httpapitest.Start(t, "", map[string]func(context.Context) error{
		"mongo": func(context.Context) error { return nil },
		"redis": func(context.Context) error {
			return errors.New("dial tcp 127.0.0.1:16379: connect: connection refused")
		},
	})
	tb := consoletest.Open(t, s.URL)
	tb.Go("/")
	tb.WaitJS(`document.querySelector('#health-list li[data-service="redis"]') !== null`)
	if got := tb.Text(`#health-list li[data-service="redis"]`); got != "redis"+"error"+"dial tcp 127.0.0.1:16379: connect: connection refused" {
		t.Errorf("redis: %q, want its state and error", got)
	}
	if got := tb.Text(`#health-list li[data-service="mongo"]`); got != "mongo"+"ok" {
		t.Errorf("mongo: %q, want ok", got)
	}
	if got := tb.Text("#health-status"); got != "status: error" {
		t.Errorf("health status %q", got)
	}
	tb.Screenshot("health-error.png", "#health")
	tb.NoConsoleErrors(http.StatusInternalServerError) // the healthcheck answers 500 when a service is down
}

// TestBrowserAccessibilityAndViews fills every view, saves a screenshot of
// each (laptop and phone), and checks that every button has an accessible
// name, that the page logged no error and that a phone needs no sideways
// scrolling.
func TestBrowserAccessibilityAndViews(t *testing.T) {
	s := httpapitest.Start(t, "", map[string]func(context.Context) error{
		"mongo": func(context.Context) error { return nil }, "redis": func(context.Context) error { return nil },
	})
	record(t, s, "site-a", ports.MetricQueued, 40, 4096)
	record(t, s, "site-a", ports.MetricCompleted, 30, 4096)
	for i := range 3 {
		s.PutFailed(t, "bkt", fmt.Sprintf("photos/%d.jpg", i), fmt.Sprintf("v%d", i), "site-a", 1<<20, time.Now().Add(-time.Duration(i)*time.Minute))
	}
	if err := s.Control.SetState(context.Background(), "site-b", ports.SiteState{Paused: true, ScheduledResume: time.Now().Add(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	for _, job := range []struct{ path, body string }{{"/_/backfill", `{"bucket":"bkt","dryRun":true}`}, {"/_/verify", `{"bucket":"bkt"}`}} {
		res, err := http.Post(s.URL+job.path, "application/json", strings.NewReader(job.body))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("POST %s: %s", job.path, res.Status)
		}
	}
	s.RunJobs(t, 10, 0)
	eventually(t, "both jobs end", func() bool {
		var ended int
		for _, p := range []string{"/_/backfill", "/_/verify"} {
			for _, j := range getJSON[[]struct{ State string }](t, s.URL+p) {
				if j.State != "running" {
					ended++
				}
			}
		}
		return ended == 2
	})

	tb := consoletest.Open(t, s.URL)
	tb.Go("/_/console?refresh=1")
	tb.WaitJS(`document.querySelectorAll("#job-list article.job").length === 2 && document.querySelectorAll("#failed-table tbody tr").length === 3`)
	tb.WaitRefresh(tb.Refreshes()) // a second sample in the charts
	for _, v := range []struct{ name, sel string }{{"sites", "#sites"}, {"failures", "#failures"}, {"jobs", "#jobs"}, {"health", "#health"}} {
		tb.Screenshot(v.name+".png", v.sel)
	}
	tb.Screenshot("laptop.png", "")

	// Every button the page shows has an accessible name, as the browser
	// computes it for assistive technologies.
	tree, err := chromedp.Call(tb.Ctx(), accessibility.GetFullAXTree, accessibility.GetFullAXTreeParams{})
	if err != nil {
		t.Fatal(err)
	}
	buttons := 0
	for _, n := range tree.Nodes {
		if n.Ignored || axString(n.Role) != "button" {
			continue
		}
		buttons++
		if strings.TrimSpace(axString(n.Name)) == "" {
			t.Errorf("a button has no accessible name (DOM node %d)", n.BackendDOMNodeID)
		}
	}
	// Pause (site-a), resume, schedule, cancel (site-b), 3 retries, retry
	// page and all, newer and older.
	if buttons < 11 {
		t.Errorf("only %d buttons in the accessibility tree, want at least 11", buttons)
	}

	// A phone: one column, nothing wider than the screen.
	tb.Do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(1), chromedp.EmulateMobile, chromedp.EmulatePortrait))
	tb.WaitRefresh(tb.Refreshes())
	if overflow := consoletest.Eval[int](tb, `document.documentElement.scrollWidth - window.innerWidth`); overflow > 0 {
		t.Errorf("on a phone the page is %d px wider than the screen", overflow)
	}
	tb.Screenshot("phone.png", "")
	tb.NoConsoleErrors()
}

// axString is the string of an accessibility value.
func axString(v *accessibility.Value) string {
	if v == nil || len(v.Value) == 0 {
		return ""
	}
	var s string
	if err := json.Unmarshal(v.Value, &s); err != nil {
		return ""
	}
	return s
}

// getJSON reads an API route as the test's own client.
func getJSON[T any](t *testing.T, url string) T {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var v T
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, res.Status)
	}
	if err := json.NewDecoder(res.Body).Decode(&v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return v
}
