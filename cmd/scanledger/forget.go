package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/audit"
	"github.com/scanledger/scanledger/domain/erasure"
	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/domain/scan"
)

// eraser forgets users with this service's stores (DELETE /users/me, forget).
func (a *App) eraser() *erasure.Eraser {
	return &erasure.Eraser{Scans: a.scans, Blobs: a.blobs, Keys: a.scans.Cipher.Keys, Accounts: a.accounts,
		Trail: a.trail, Scrub: a.eng.scrub}
}

// forgetCmd is `scanledger forget --email E`: the operator's way to erase a user (as
// DELETE /api/v1/users/me does for themselves). It opens the same stores as serve and
// works while the service runs.
type forgetCmd struct{ email string }

func (c *forgetCmd) setFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.email, "email", "", "the user's email")
}

func (c *forgetCmd) execute(ctx context.Context, cfg Config, fs *flag.FlagSet, stdout, stderr io.Writer) error {
	if c.email == "" {
		return errors.New("usage: scanledger forget --email EMAIL")
	}
	a, err := Open(ctx, withoutListening(cfg), io.Discard, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	id, err := a.accounts.UserIDByEmail(ctx, c.email)
	if err != nil {
		return fmt.Errorf("forget: %s", domain.ErrorMessage(err))
	}
	op := "forget:" + domain.NewID()
	if err := a.eraser().Forget(ctx, id, erasure.Who{Meta: scan.Meta{CorrelationID: op, CausationID: op}, Role: "operator"}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "user %s forgotten: scans deleted, photos removed, personal key destroyed, account and feed deleted\n", id)
	return nil
}

// runPlaintext is `scanledger audit plaintext`: the events written before personal
// fields were sealed that still hold personal data in clear, which no erasure can reach
// (see docs/audit.md).
func runPlaintext(ctx context.Context, cfg Config, stdout, stderr io.Writer) error {
	e, err := openStores(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer e.close()
	var cursor event.Cursor
	n := 0
	for {
		recs, err := e.store.ReadAll(ctx, cursor, 2000)
		if err != nil {
			return err
		}
		for _, r := range recs {
			cursor = r.Position
			var what string
			switch {
			case strings.HasPrefix(r.StreamID, scan.StreamPrefix) && scan.HoldsPlaintext(r):
				what = "address"
			case r.StreamID == audit.TrailStream && audit.TrailHoldsPlaintext(r):
				what = "email"
			default:
				continue
			}
			n++
			m, _ := event.ParseMetadata(r.Metadata)
			fmt.Fprintf(stdout, "%s\tversion %d\t%s v%d\t%s\tuser %s\n", r.StreamID, r.Version, r.Type, r.SchemaVersion, what, m.UserID)
		}
		if len(recs) < 2000 {
			break
		}
	}
	fmt.Fprintf(stderr, "%d events hold personal data in clear (written before it was sealed)\n", n)
	return nil
}
