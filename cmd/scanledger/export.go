package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/audit"
	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/domain/scan"
)

// runExport is `scanledger export [--scan ID | --from T --to T] [--user ID] [--out F]`:
// seal, then write the selected scans with the seal, proofs and public key, for
// `scanledger verify --file`.
func runExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg Config
	fs, err := cfg.parse("export", nil, stderr)
	if err != nil {
		return err
	}
	scanID := fs.String("scan", "", "export this scan only")
	from := fs.String("from", "", "export scans created at or after this RFC 3339 time")
	to := fs.String("to", "", "export scans created before this RFC 3339 time")
	user := fs.String("user", "", "export only this user's scans")
	outPath := fs.String("out", "", "write to this file (default: standard output)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	sel, err := scanSelection(*scanID, *from, *to, *user)
	if err != nil {
		return err
	}
	key, err := cfg.loadAuditKey(true)
	if err != nil {
		return err
	}
	e, err := openEngines(ctx, cfg, slog.New(slog.NewTextHandler(stderr, nil)))
	if err != nil {
		return err
	}
	defer e.close()
	out := stdout
	if *outPath != "" {
		f, err := os.Create(*outPath)
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		defer f.Close()
		out = f
	}
	x := &audit.Exporter{Store: e.store, Sealer: audit.NewSealer(e.store, key), Key: key}
	if err := x.Export(ctx, out, sel); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if f, ok := out.(*os.File); ok && *outPath != "" {
		return f.Sync()
	}
	return nil
}

// scanSelection turns the export filters into a Selection of scan streams: created in
// [from, to) by user, or the one scan.
func scanSelection(scanID, from, to, user string) (audit.Selection, error) {
	sel := audit.Selection{Prefix: scan.StreamPrefix, Query: fmt.Sprintf("scan=%s from=%s to=%s user=%s", scanID, from, to, user)}
	if scanID != "" {
		if !domain.ValidID(scanID) {
			return sel, domain.Errorf(domain.EINVALID, "scan id %q is not a UUID", scanID)
		}
		sel.Streams = []string{scan.StreamName(scanID)}
	}
	parse := func(name, v string) (time.Time, error) {
		if v == "" {
			return time.Time{}, nil
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return t, domain.Errorf(domain.EINVALID, "%s must be an RFC 3339 time", name)
		}
		return t, nil
	}
	f, err := parse("from", from)
	if err != nil {
		return sel, err
	}
	t, err := parse("to", to)
	if err != nil {
		return sel, err
	}
	if from == "" && to == "" && user == "" {
		return sel, nil
	}
	sel.Keep = func(first event.Recorded) bool {
		e, err := scan.Decode(first)
		created, ok := e.(scan.Created)
		if err != nil || !ok || (user != "" && created.UserID != user) {
			return false
		}
		m, err := event.ParseMetadata(first.Metadata)
		if err != nil {
			return false
		}
		return (f.IsZero() || !m.OccurredAt.Before(f)) && (t.IsZero() || m.OccurredAt.Before(t))
	}
	return sel, nil
}
