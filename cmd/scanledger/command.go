package main

import (
	"context"
	"flag"
	"fmt"
	"io"
)

// A command is a one-shot subcommand: it declares its own flags beside the settings
// and runs once with both read. oneShot is the one place that reads them, so every
// command takes its settings from defaults, the environment and flags alike.
type command interface {
	setFlags(fs *flag.FlagSet)
	execute(ctx context.Context, cfg Config, fs *flag.FlagSet, stdout, stderr io.Writer) error
}

// withArgs is a command that takes arguments besides its flags (query's statement).
// oneShot refuses arguments to every other command.
type withArgs interface{ takesArgs() }

// runner is how main runs a command: its arguments after the command's name.
type runner func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// commands are the commands by name, but config and help, which need no context.
func commands() map[string]runner {
	return map[string]runner{
		"serve":       runServe,
		"token":       runToken,
		"scan":        runScan,
		"scans":       runScans,
		"migrate":     oneShot("migrate", migrateCmd{}),
		"audit":       runAudit,
		"loadgen":     runLoadgen,
		"projections": runProjections,
		"role":        oneShot("role", &roleCmd{}),
		"revoke":      oneShot("revoke", &revokeCmd{}),
		"verify":      oneShot("verify", &verifyCmd{}),
		"export":      oneShot("export", &exportCmd{}),
		"history":     oneShot("history", &historyCmd{}),
		"forget":      oneShot("forget", &forgetCmd{}),
		"query":       oneShot("query", &queryCmd{}),
		"backup":      oneShot("backup", &backupCmd{}),
		"restore":     oneShot("restore", &restoreCmd{}),
	}
}

// oneShot runs c as the command name: it reads the settings that command uses and c's
// flags from args, then executes c.
func oneShot(name string, c command) runner {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		var cfg Config
		fs, err := cfg.parse(name, nil, stderr)
		if err != nil {
			return err
		}
		c.setFlags(fs)
		// Flags may follow the arguments too (query "SELECT ..." --format csv); the
		// arguments are left in fs.Args(), "--" keeping any that look like flags.
		rest, err := parseInterspersed(fs, args)
		if err != nil {
			return err
		}
		if err := fs.Parse(append([]string{"--"}, rest...)); err != nil {
			return err
		}
		if _, ok := c.(withArgs); !ok && fs.NArg() > 0 {
			// Refused rather than ignored: `revoke stray --email x` must not revoke x.
			return fmt.Errorf("%s takes no arguments, only flags (got %q); see scanledger %s -h", name, fs.Arg(0), name)
		}
		return c.execute(ctx, cfg, fs, stdout, stderr)
	}
}

// openStores opens the databases for a one-shot command, which logs to stderr as the
// settings say.
func openStores(ctx context.Context, cfg Config, stderr io.Writer) (*engines, error) {
	return openEngines(ctx, cfg, newLogger(cfg.LogLevel, cfg.LogFormat, stderr))
}
