// Command backbeat runs the replication service: each role as a
// subcommand, every role at once with `all`, the operator CLI with `ctl`,
// and a CloudServer simulator with `simulate`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/openbackbeat/backbeat/cmd/backbeat/internal/ctl"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "backbeat:", err)
		os.Exit(ctl.ExitCode(err))
	}
}
