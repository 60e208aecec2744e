package main

import (
	"context"
	"fmt"
	"io"
)

// runMigrate applies the schema and exits. It opens the databases and nothing else:
// opening them is what applies their migrations.
func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg Config
	if _, err := cfg.parse("migrate", args, stderr); err != nil {
		return err
	}
	e, err := openStores(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	e.close()
	fmt.Fprintln(stdout, "schema is up to date")
	return nil
}
