package stacktest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeTB records what require ends the test with. Like the real ones,
// Fatalf and Skipf stop the calling goroutine.
type fakeTB struct {
	testing.TB
	fatal, skip string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (f *fakeTB) Skipf(format string, args ...any) {
	f.skip = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// check runs require in a goroutine of its own, as a test would, and
// reports what it ended with and how long it took.
func check(t *testing.T, svc Service, inCI bool, addrs ...string) (*fakeTB, time.Duration) {
	t.Helper()
	tb := &fakeTB{TB: t}
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		require(tb, svc, inCI, addrs)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("require did not return within 10s")
	}
	return tb, time.Since(start)
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// listen accepts connections on addr ("127.0.0.1:0": any port) until the
// test ends.
func listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}

func wantMessage(t *testing.T, msg string, svc Service, addr string) {
	t.Helper()
	for _, want := range []string{
		svc.Name + " is not answering at " + addr,
		"bash e2e/stack/stack.sh start " + svc.Component,
		"go tool task stack:up",
		svc.Env,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not contain %q", msg, want)
		}
	}
}

func TestDownServiceFailsAtOnceInCI(t *testing.T) {
	addr := closedAddr(t)
	tb, took := check(t, Mongo, true, addr)
	if tb.fatal == "" || tb.skip != "" {
		t.Fatalf("fatal %q, skip %q: want a failure", tb.fatal, tb.skip)
	}
	wantMessage(t, tb.fatal, Mongo, addr)
	if !strings.Contains(tb.fatal, "CI=true") {
		t.Errorf("failure %q does not say CI=true made it one", tb.fatal)
	}
	if took > 2*time.Second {
		t.Errorf("took %s to fail, want at most 2s", took)
	}
}

func TestDownServiceSkipsOutsideCI(t *testing.T) {
	addr := closedAddr(t)
	tb, took := check(t, Kafka, false, addr)
	if tb.skip == "" || tb.fatal != "" {
		t.Fatalf("fatal %q, skip %q: want a skip", tb.fatal, tb.skip)
	}
	if !strings.HasPrefix(tb.skip, "SKIPPED: ") {
		t.Errorf("skip %q is not loud", tb.skip)
	}
	wantMessage(t, tb.skip, Kafka, addr)
	if took > 2*time.Second {
		t.Errorf("took %s to skip, want at most 2s", took)
	}
}

func TestServiceUp(t *testing.T) {
	ln := listen(t, "127.0.0.1:0")
	for _, inCI := range []bool{true, false} {
		if tb, _ := check(t, Redis, inCI, ln.Addr().String()); tb.fatal != "" || tb.skip != "" {
			t.Fatalf("CI %v: fatal %q, skip %q: want neither", inCI, tb.fatal, tb.skip)
		}
	}
}

func TestEveryAddressIsChecked(t *testing.T) {
	up := listen(t, "127.0.0.1:0").Addr().String()
	down := closedAddr(t)
	tb, _ := check(t, Kafka, true, up, down)
	if tb.fatal == "" {
		t.Fatalf("fatal %q, skip %q: want a failure", tb.fatal, tb.skip)
	}
	wantMessage(t, tb.fatal, Kafka, down)
	if tb, _ := check(t, Kafka, true); !strings.Contains(tb.fatal, "no address") {
		t.Errorf("no address: fatal %q, skip %q", tb.fatal, tb.skip)
	}
	if tb, _ := check(t, Kafka, false, ""); !strings.Contains(tb.skip, "empty address") {
		t.Errorf("empty address: fatal %q, skip %q", tb.fatal, tb.skip)
	}
}

// A service that stops in the middle of a run is noticed by the next
// test, and one that comes back is used again: nothing is cached.
func TestNothingIsCached(t *testing.T) {
	ln := listen(t, "127.0.0.1:0")
	addr := ln.Addr().String()
	if tb, _ := check(t, S3Source, true, addr); tb.fatal != "" {
		t.Fatalf("up: %s", tb.fatal)
	}
	_ = ln.Close()
	if tb, _ := check(t, S3Source, true, addr); tb.fatal == "" {
		t.Fatal("stopped service not noticed")
	}
	listen(t, addr)
	if tb, _ := check(t, S3Source, true, addr); tb.fatal != "" {
		t.Fatalf("back up: %s", tb.fatal)
	}
}

func TestInCI(t *testing.T) {
	for v, want := range map[string]bool{"": false, "true": true, "1": true, "TRUE": true, "false": false, "0": false, "no": false} {
		t.Setenv("CI", v)
		if got := InCI(); got != want {
			t.Errorf("CI=%q: InCI() = %v, want %v", v, got, want)
		}
	}
}

func TestMessage(t *testing.T) {
	msg := Message(S3SiteA, "127.0.0.1:1", errors.New("connection refused"))
	want := "S3 site-a server (versitygw) is not answering at 127.0.0.1:1 (connection refused): start it with " +
		"`bash e2e/stack/stack.sh start s3-site-a` (the whole stack: `go tool task stack:up`; status: " +
		"`bash e2e/stack/stack.sh status`), or set BACKBEAT_TEST_S3_SITE_A to a running server"
	if msg != want {
		t.Errorf("message\n%s\nwant\n%s", msg, want)
	}
}

func TestMongoAddrs(t *testing.T) {
	for uri, want := range map[string][]string{
		"mongodb://127.0.0.1:27117":                          {"127.0.0.1:27117"},
		"mongodb://u:p@h1:1,h2/db?replicaSet=rs&w=majority":  {"h1:1", "h2:27017"},
		"mongodb://[::1]:27117,[::1]/?directConnection=true": {"[::1]:27117", "[::1]:27017"},
		"mongodb://h":              {"h:27017"},
		"mongodb+srv://cluster.db": nil,
		"127.0.0.1:27117":          nil,
	} {
		if got := MongoAddrs(uri); !slices.Equal(got, want) {
			t.Errorf("MongoAddrs(%q) = %q, want %q", uri, got, want)
		}
	}
}

// TestRequireInATest runs TestHelperRequire in a child process against a
// closed port, to see what a real test reports: a failure under CI=true,
// a skip when CI is unset.
func TestRequireInATest(t *testing.T) {
	addr := closedAddr(t)
	for _, tc := range []struct {
		ci, want string
		fails    bool
	}{
		{ci: "true", want: "--- FAIL: TestHelperRequire", fails: true},
		{ci: "", want: "--- SKIP: TestHelperRequire"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperRequire$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), "CI="+tc.ci, "STACKTEST_HELPER_ADDR="+addr)
		out, err := cmd.CombinedOutput()
		cancel()
		var exit *exec.ExitError
		if failed := errors.As(err, &exit); failed != tc.fails || (err != nil && !failed) {
			t.Errorf("CI=%q: %v, want failure %v; output:\n%s", tc.ci, err, tc.fails, out)
		}
		if !strings.Contains(string(out), tc.want) {
			t.Errorf("CI=%q: output does not contain %q:\n%s", tc.ci, tc.want, out)
		}
		wantMessage(t, string(out), Mongo, addr)
		if strings.Contains(string(out), "after Require") {
			t.Errorf("CI=%q: the test went on after Require:\n%s", tc.ci, out)
		}
	}
}

// TestHelperRequire is TestRequireInATest's child; it does nothing
// unless STACKTEST_HELPER_ADDR is set.
func TestHelperRequire(t *testing.T) {
	addr := os.Getenv("STACKTEST_HELPER_ADDR")
	if addr == "" {
		return
	}
	Require(t, Mongo, addr)
	t.Log("after Require")
}
