// Command scanledger is the whole service in one binary: `serve` runs it (embedded mode
// by default: SQLite, local photos, built-in analyzer, nothing to install), `token`
// mints an access token, `scan` is a client for newcomers, `migrate` applies the schema
// and `config` prints the settings. This package is the only composition root.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "scanledger:", err)
		}
		os.Exit(1)
	}
}

const usage = `usage: scanledger <command> [flags]    (scanledger <command> --help: its flags)

commands:
  serve     run the service (the default; embedded mode needs no configuration)
  token     print an access token: scanledger token --user ID --role ROLE
  scan      create a scan from photos, process it and print the summary
  scans     list your scans
  role      grant a role: scanledger role --email E --role admin|auditor|analyst|user
  revoke    end every session of a user now: scanledger revoke --email E
  migrate   apply the database schema and exit
  audit     audit key: print the seal public key; audit seal: seal the event store now;
            audit plaintext: list old events that hold personal data in clear
  forget    erase a user (crypto-shredding): scanledger forget --email E
  verify    check every chain and seal: scanledger verify [--all | --scan ID | --file F]
  history   a scan's timeline, or its state: scanledger history --scan ID [--version N | --at T]
  export    write scans with their seal for offline checks: scanledger export [--scan ID | --from T --to T] [--user ID] [--out F]
  query     run a read-only SQL query on the embedded read model: scanledger query "SELECT ..."
  backup    copy the embedded data dir while serving: scanledger backup --to DIR
  restore   make a data dir from a backup: scanledger restore --from DIR --data-dir DIR
  projections  status, rebuild and swap projections, retry or skip parked events (projections help)
  config    print every setting with its flag, environment variable and default;
            config --effective [serve's flags]: the values serve would use, and where each comes from
  loadgen   benchmark the live relay under load on this binary's server: scanledger loadgen -conns N -rate R
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		cmd, args = "help", args[1:]
	}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	if f, ok := commands()[cmd]; ok {
		return f(ctx, args, stdout, stderr)
	}
	switch cmd {
	case "config":
		return runConfig(args, stdout, stderr)
	case "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

// runConfig is `scanledger config`: the settings table, or with --effective the value of
// every setting serve would use here (defaults, then the environment, then the flags
// given after --effective) and where each came from. Secrets are never printed.
func runConfig(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && (args[0] == "--effective" || args[0] == "-effective") {
		var c Config
		if _, err := c.parse("serve", args[1:], stderr); err != nil {
			return err
		}
		c.writeEffective(stdout)
		return nil
	}
	if len(args) > 0 {
		return fmt.Errorf("config takes no arguments (got %q): it prints every setting; "+
			"config --effective [serve's flags] prints the values in force", args[0])
	}
	var c Config
	c.writeDocs(stdout)
	return nil
}
