package stacktest

import (
	"errors"
	"strings"
	"testing"
)

// checkCommand runs requireCommand as check runs require.
func checkCommand(t *testing.T, cmd Command, inCI bool, look func(string) (string, error)) (*fakeTB, string) {
	t.Helper()
	tb := &fakeTB{TB: t}
	var path string
	done := make(chan struct{})
	go func() {
		defer close(done)
		path = requireCommand(tb, cmd, inCI, look)
	}()
	<-done
	return tb, path
}

func lookOnly(names ...string) func(string) (string, error) {
	return func(name string) (string, error) {
		for _, n := range names {
			if n == name {
				return "/usr/bin/" + name, nil
			}
		}
		return "", errors.New("not found")
	}
}

func TestMissingCommandFailsInCI(t *testing.T) {
	tb, _ := checkCommand(t, Chromium, true, lookOnly())
	if tb.fatal == "" || tb.skip != "" {
		t.Fatalf("fatal %q skip %q, want a failure", tb.fatal, tb.skip)
	}
	for _, want := range []string{"Chromium is not installed", "bash e2e/stack/chromium.sh", "CI=true"} {
		if !strings.Contains(tb.fatal, want) {
			t.Errorf("message %q does not say %q", tb.fatal, want)
		}
	}
}

func TestMissingCommandSkipsOutsideCI(t *testing.T) {
	tb, _ := checkCommand(t, Chromium, false, lookOnly())
	if tb.skip == "" || tb.fatal != "" || !strings.Contains(tb.skip, "SKIPPED: Chromium") {
		t.Fatalf("fatal %q skip %q, want a loud skip", tb.fatal, tb.skip)
	}
}

func TestCommandFoundByAnyCandidate(t *testing.T) {
	tb, path := checkCommand(t, Chromium, true, lookOnly("google-chrome", "chromium-browser"))
	if tb.fatal != "" || tb.skip != "" || path != "/usr/bin/chromium-browser" {
		t.Fatalf("fatal %q skip %q path %q, want the first candidate found", tb.fatal, tb.skip, path)
	}
}
