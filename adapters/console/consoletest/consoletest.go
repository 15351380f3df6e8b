// Package consoletest drives the operator console (adapters/console) in
// headless Chromium through chromedp, for the browser tests of the console
// and of the service: Open starts a browser for the test and loads the
// console of an API, a Tab's methods read and click the page, collect what
// it logs as errors and save screenshots. Without Chromium the test is
// skipped, loudly, or fails when CI=true (stacktest.RequireCommand);
// e2e/stack/chromium.sh installs it.
package consoletest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/openbackbeat/backbeat/adapters/internal/stacktest"
)

// Timeout bounds what a test does with its tab.
const Timeout = 90 * time.Second

// Tab is the browser tab of a test, and what the page logged as errors.
type Tab struct {
	t      *testing.T
	ctx    context.Context
	base   string
	mu     sync.Mutex
	errors []string
}

// Open starts headless Chromium for the test (closed when it ends) and
// returns its tab, on the API at base (http://host:port); or skips the test
// when Chromium is not installed (fails it when CI=true).
func Open(t *testing.T, base string) *Tab {
	t.Helper()
	exe := stacktest.RequireCommand(t, stacktest.Chromium)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe),
		chromedp.NoSandbox, // tests may run as root, where Chromium's sandbox refuses to start
		chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		_ = chromedp.Cancel(bctx) // closes the browser and waits for it
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(bctx); err != nil { // starts the browser, for as long as bctx lives
		t.Fatalf("start Chromium (%s): %v", exe, err)
	}
	ctx, cancelTimeout := context.WithTimeout(bctx, Timeout)
	tb := &Tab{t: t, ctx: ctx, base: base}
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

func (tb *Tab) logError(s string) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.errors = append(tb.errors, s)
}

// ConsoleErrors returns what the page logged as errors so far.
func (tb *Tab) ConsoleErrors() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]string(nil), tb.errors...)
}

// Do runs the actions, failing the test on an error.
func (tb *Tab) Do(actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	if err := chromedp.Do(tb.ctx, actions...); err != nil {
		tb.t.Fatalf("browser: %v (console errors: %v)", err, tb.ConsoleErrors())
	}
}

// Eval evaluates a JavaScript expression in the page.
func Eval[T any](tb *Tab, expr string) T {
	tb.t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		tb.t.Fatalf("evaluate %s: %v (console errors: %v)", expr, err, tb.ConsoleErrors())
	}
	return v
}

// Go loads the console at path and waits for its first refresh.
func (tb *Tab) Go(path string) {
	tb.t.Helper()
	tb.Do(chromedp.Navigate(tb.base + path))
	tb.WaitRefresh(0)
}

// Refreshes is how many times the page has read the API.
func (tb *Tab) Refreshes() int {
	tb.t.Helper()
	return Eval[int](tb, `Number(document.body.dataset.refreshes || 0)`)
}

// WaitRefresh waits until the page has read the API more than after times.
func (tb *Tab) WaitRefresh(after int) {
	tb.t.Helper()
	tb.WaitJS(fmt.Sprintf(`Number(document.body.dataset.refreshes || 0) > %d`, after))
}

// WaitJS waits until the expression is true in the page.
func (tb *Tab) WaitJS(expr string) {
	tb.t.Helper()
	_, err := chromedp.Run(tb.ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil {
		tb.t.Fatalf("waiting for %s: %v (console errors: %v)", expr, err, tb.ConsoleErrors())
	}
}

// Text returns the text of the first element matching the CSS selector.
func (tb *Tab) Text(sel string) string {
	tb.t.Helper()
	s, err := chromedp.Run(tb.ctx, chromedp.TextContent(chromedp.CSS(sel)))
	if err != nil {
		tb.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// Attr returns an attribute of the first element matching sel.
func (tb *Tab) Attr(sel, name string) string {
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

// Click clicks the (visible) element matching sel.
func (tb *Tab) Click(sel string) {
	tb.t.Helper()
	tb.Do(chromedp.Click(chromedp.CSS(sel)))
}

// NoConsoleErrors fails the test if the page logged an error, other than
// the browser's own line for an answer with one of the allowed statuses
// (a refused action is one the page expects, and says so itself).
func (tb *Tab) NoConsoleErrors(allowedStatus ...int) {
	tb.t.Helper()
	var errs []string
next:
	for _, e := range tb.ConsoleErrors() {
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

// Screenshot saves a PNG of the element matching sel ("" for the whole
// page) as name under the screenshot folder.
func (tb *Tab) Screenshot(name, sel string) {
	tb.t.Helper()
	var png []byte
	var err error
	if sel == "" {
		png, err = chromedp.Run(tb.ctx, chromedp.FullScreenshot(100))
	} else {
		tb.Do(chromedp.ScrollIntoView(chromedp.CSS(sel)))
		png, err = chromedp.Run(tb.ctx, chromedp.Screenshot(chromedp.CSS(sel)))
	}
	if err != nil {
		tb.t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(ScreenshotDir(tb.t), name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		tb.t.Fatal(err)
	}
	tb.t.Logf("screenshot %s (%d bytes)", p, len(png))
}

// ScreenshotDir is $BACKBEAT_SCREENSHOTS, or .bench/console at the root of
// the module (ignored by git).
func ScreenshotDir(t *testing.T) string {
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

// Ctx is the tab's context, for chromedp calls of the test's own.
func (tb *Tab) Ctx() context.Context { return tb.ctx }
