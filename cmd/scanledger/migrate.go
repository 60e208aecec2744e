package main

import (
	"context"
	"flag"
	"fmt"
	"io"
)

// migrateCmd applies the schema and exits. It opens the databases and nothing else:
// opening them is what applies their migrations.
type migrateCmd struct{}

func (migrateCmd) setFlags(*flag.FlagSet) {} // the settings are all it reads

func (migrateCmd) execute(ctx context.Context, cfg Config, _ *flag.FlagSet, stdout, stderr io.Writer) error {
	e, err := openStores(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	e.close()
	fmt.Fprintln(stdout, "schema is up to date")
	return nil
}
