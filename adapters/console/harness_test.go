package console_test

// The browser tests' harness: one headless Chromium for the package (each
// test has its own tab), the API's real handler over in-memory adapters
// (httpapitest), the page's console errors, and screenshots.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/openbackbeat/backbeat/adapters/internal/stacktest"
)

// testTimeout bounds each browser test.
const testTimeout = 45 * time.Second

var browser struct {
	once   sync.Once
	ctx    context.Context
	cancel func()
	err    error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if browser.cancel != nil {
		browser.cancel()
	}
	os.Exit(code)
}

// tab is a browser tab of a test, and what the page logged as errors.
type tab struct {
	t      *testing.T
	ctx    context.Context
	base   string
	mu     sync.Mutex
	errors []string
}

// newTab opens a tab on Chromium (started once for the package), or
// skips the test when Chromium is not installed (fails it when CI=true).
func newTab(t *testing.T, base string) *tab {
	t.Helper()
	exe := stacktest.RequireCommand(t, stacktest.Chromium)
	browser.once.Do(func() {
		opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe),
			chromedp.NoSandbox, // tests may run as root, where Chromium's sandbox refuses to start
			chromedp.WindowSize(1280, 900))
		actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		ctx, cancel := chromedp.NewContext(actx)
		browser.ctx, browser.cancel = ctx, func() { cancel(); cancelAlloc() }
		browser.err = chromedp.Do(ctx) // starts the browser, for as long as ctx lives
	})
	if browser.err != nil {
		t.Fatalf("start Chromium (%s): %v", exe, browser.err)
	}
	tabCtx, cancel := chromedp.NewContext(browser.ctx)
	t.Cleanup(cancel)
	if err := chromedp.Do(tabCtx); err != nil { // opens the tab, for as long as tabCtx lives
		t.Fatalf("open a tab: %v", err)
	}
	ctx, cancelTimeout := context.WithTimeout(tabCtx, testTimeout)
	t.Cleanup(cancelTimeout)
	tb := &tab{t: t, ctx: ctx, base: base}
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException {
				tb.logError(fmt.Sprintf("%s: %s (%s:%d)", m.Type, m.Text, m.URL, m.Line))
			}
		}
	}()
	t.Cleanup(func() { cancelTimeout(); <-done })
	return tb
}

func (tb *tab) logError(s string) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.errors = append(tb.errors, s)
}

// consoleErrors returns what the page logged as errors so far.
func (tb *tab) consoleErrors() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]string(nil), tb.errors...)
}

// do runs the actions, failing the test on an error.
func (tb *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	if err := chromedp.Do(tb.ctx, actions...); err != nil {
		tb.t.Fatalf("browser: %v (console errors: %v)", err, tb.consoleErrors())
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](tb *tab, expr string) T {
	tb.t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		tb.t.Fatalf("evaluate %s: %v (console errors: %v)", expr, err, tb.consoleErrors())
	}
	return v
}

// open loads the console at path and waits for its first refresh.
func (tb *tab) open(path string) {
	tb.t.Helper()
	tb.do(chromedp.Navigate(tb.base + path))
	tb.waitRefresh(0)
}

// refreshes is how many times the page has read the API.
func (tb *tab) refreshes() int {
	tb.t.Helper()
	return eval[int](tb, `Number(document.body.dataset.refreshes || 0)`)
}

// waitRefresh waits until the page has read the API more than after times.
func (tb *tab) waitRefresh(after int) {
	tb.t.Helper()
	tb.waitJS(fmt.Sprintf(`Number(document.body.dataset.refreshes || 0) > %d`, after))
}

// waitJS waits until the expression is true in the page.
func (tb *tab) waitJS(expr string) {
	tb.t.Helper()
	_, err := chromedp.Run(tb.ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(15*time.Second)))
	if err != nil {
		tb.t.Fatalf("waiting for %s: %v (console errors: %v)", expr, err, tb.consoleErrors())
	}
}

// text returns the text of the first element matching the CSS selector.
func (tb *tab) text(sel string) string {
	tb.t.Helper()
	s, err := chromedp.Run(tb.ctx, chromedp.TextContent(chromedp.CSS(sel)))
	if err != nil {
		tb.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// attr returns an attribute of the first element matching sel.
func (tb *tab) attr(sel, name string) string {
	tb.t.Helper()
	a, err := chromedp.Run(tb.ctx, chromedp.AttributeValue(chromedp.CSS(sel), name))
	if err != nil {
		tb.t.Fatalf("attribute %s of %s: %v", name, sel, err)
	}
	if !a.Exists {
		tb.t.Fatalf("%s has no attribute %s", sel, name)
	}
	return a.Value
}

// click clicks the (visible) element matching sel.
func (tb *tab) click(sel string) {
	tb.t.Helper()
	tb.do(chromedp.Click(chromedp.CSS(sel)))
}

// noConsoleErrors fails the test if the page logged an error, other than
// the browser's own line for an answer with one of the allowed statuses
// (a refused action is one the page expects, and says so itself).
func (tb *tab) noConsoleErrors(allowedStatus ...int) {
	tb.t.Helper()
	var errs []string
next:
	for _, e := range tb.consoleErrors() {
		for _, st := range allowedStatus {
			if strings.Contains(e, fmt.Sprintf("the server responded with a status of %d", st)) {
				continue next
			}
		}
		errs = append(errs, e)
	}
	if len(errs) > 0 {
		tb.t.Errorf("the page logged %d errors:\n%s", len(errs), strings.Join(errs, "\n"))
	}
}

// screenshot saves a PNG of the element matching sel ("" for the whole
// page) as name under the screenshot folder.
func (tb *tab) screenshot(name, sel string) {
	tb.t.Helper()
	var png []byte
	var err error
	if sel == "" {
		png, err = chromedp.Run(tb.ctx, chromedp.FullScreenshot(100))
	} else {
		tb.do(chromedp.ScrollIntoView(chromedp.CSS(sel)))
		png, err = chromedp.Run(tb.ctx, chromedp.Screenshot(chromedp.CSS(sel)))
	}
	if err != nil {
		tb.t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(screenshotDir(tb.t), name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		tb.t.Fatal(err)
	}
	tb.t.Logf("screenshot %s (%d bytes)", p, len(png))
}

// screenshotDir is $BACKBEAT_SCREENSHOTS, or .bench/console at the root of
// the module (ignored by git).
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("BACKBEAT_SCREENSHOTS")
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			t.Fatal(err)
		}
		for root := wd; ; root = filepath.Dir(root) {
			if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
				dir = filepath.Join(root, ".bench", "console")
				break
			}
			if filepath.Dir(root) == root {
				t.Fatalf("no go.mod above %s", wd)
			}
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
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
