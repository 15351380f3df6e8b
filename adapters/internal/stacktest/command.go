package stacktest

import (
	"fmt"
	"os/exec"
	"testing"
)

// Command is a program on PATH that tests run, installed by a script of
// the project.
type Command struct {
	// Name is how messages name the program.
	Name string
	// Candidates are the executable names to look for, in order.
	Candidates []string
	// Install is the command that installs it.
	Install string
}

// Chromium is the browser of the console's browser tests (Debian's
// chromium package).
var Chromium = Command{
	Name:       "Chromium",
	Candidates: []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"},
	Install:    "bash e2e/stack/chromium.sh",
}

// RequireCommand returns the path of the first of cmd's candidates on
// PATH; when there is none it ends the test as Require does: t.Skipf, or
// t.Fatalf when CI=true.
func RequireCommand(t testing.TB, cmd Command) string {
	t.Helper()
	return requireCommand(t, cmd, InCI(), exec.LookPath)
}

func requireCommand(t testing.TB, cmd Command, inCI bool, look func(string) (string, error)) string {
	t.Helper()
	for _, c := range cmd.Candidates {
		if p, err := look(c); err == nil {
			return p
		}
	}
	msg := fmt.Sprintf("%s is not installed (none of %v is on PATH): install it with `%s`", cmd.Name, cmd.Candidates, cmd.Install)
	if inCI {
		t.Fatalf("%s\n(CI=true: a program the test needs is missing, which fails the test instead of skipping it)", msg)
		return ""
	}
	t.Skipf("SKIPPED: %s\n(set CI=true to make this a failure)", msg)
	return ""
}
