package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/audit"
	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/domain/scan"
)

// exportCmd is `scanledger export [--scan ID | --from T --to T] [--user ID] [--out F]`:
// seal, then write the selected scans with the seal, proofs and public key, for
// `scanledger verify --file`.
type exportCmd struct{ scanID, from, to, user, out string }

func (c *exportCmd) setFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.scanID, "scan", "", "export this scan only")
	fs.StringVar(&c.from, "from", "", "export scans created at or after this RFC 3339 time")
	fs.StringVar(&c.to, "to", "", "export scans created before this RFC 3339 time")
	fs.StringVar(&c.user, "user", "", "export only this user's scans")
	fs.StringVar(&c.out, "out", "", "write to this file (default: standard output)")
}

func (c *exportCmd) execute(ctx context.Context, cfg Config, _ *flag.FlagSet, stdout, stderr io.Writer) error {
	sel, err := scanSelection(c.scanID, c.from, c.to, c.user)
	if err != nil {
		return err
	}
	key, err := cfg.loadAuditKey(true)
	if err != nil {
		return err
	}
	e, err := openStores(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer e.close()
	out := stdout
	if c.out != "" {
		f, err := os.Create(c.out)
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
	if f, ok := out.(*os.File); ok && c.out != "" {
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
