// Command loadgen measures scanledger's live relay under load: many concurrent SSE and
// WebSocket connections, and a steady rate of scan events appended through the real
// pipeline (scan commands into the SQLite event store, the projection runner writing
// user_feed, the hub, the transports of the real HTTP API).
//
// It runs as two processes so that the server's memory is measured without the
// clients': `loadgen` (the default, "run") starts `loadgen serve` as a child, opens the
// connections, asks the child to append events at the given rate, and prints
// append-to-client latency, delivered/expected and server memory per connection.
//
//	loadgen -conns 10000 -rate 1000 -duration 30s
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "serve" {
		return runServe(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "run" {
		args = args[1:]
	}
	return runLoad(ctx, args, stdout, stderr)
}
