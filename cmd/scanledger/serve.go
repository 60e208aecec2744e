package main

import (
	"context"
	"io"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg Config
	if _, err := cfg.parse("serve", args, stderr); err != nil {
		return err
	}
	unlock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return err
	}
	defer unlock()
	app, err := Open(ctx, cfg, stdout, stderr)
	if err != nil {
		return err
	}
	defer app.Close()
	return app.Run(ctx)
}
