package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/scanledger/scanledger/domain/audit"
	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/domain/trail"
)

// runAudit is `scanledger audit key|seal|plaintext`: print the public key seals are
// checked with, seal the event store now, or list the old events that hold personal
// data in clear.
func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("audit: want a subcommand: key (print the seal public key), seal (seal now) or plaintext (old events with personal data in clear)")
	}
	sub, args := args[0], args[1:]
	var cfg Config
	if _, err := cfg.parse("audit "+sub, args, stderr); err != nil {
		return err
	}
	switch sub {
	case "key":
		key, err := cfg.loadAuditKey(true)
		if err != nil {
			return err
		}
		pub := key.Public().(ed25519.PublicKey)
		fmt.Fprintf(stdout, "%s\n", hex.EncodeToString(pub))
		fmt.Fprintf(stderr, "key id %s (from %s)\n", audit.KeyID(pub), cfg.auditKeyPath())
		return nil
	case "seal":
		key, err := cfg.loadAuditKey(true)
		if err != nil {
			return err
		}
		e, err := openStores(ctx, cfg, stderr)
		if err != nil {
			return err
		}
		defer e.close()
		seal, _, err := audit.NewSealer(e.store, key).Seal(ctx)
		if err != nil {
			return fmt.Errorf("seal: %w", err)
		}
		fmt.Fprintf(stdout, "seal %d: %d streams, %d events, root %s, at %s\n",
			seal.Seq, seal.Streams, seal.Count, seal.Root, seal.Time.Format(time.RFC3339))
		return nil
	case "plaintext":
		return runPlaintext(ctx, cfg, stdout, stderr)
	}
	return fmt.Errorf("audit: unknown subcommand %q (key, seal or plaintext)", sub)
}

// publicKey is the key to check seals with: --public-key when given, else the public
// half of the configured seal key.
func publicKey(cfg *Config, flagValue string) (ed25519.PublicKey, error) {
	if flagValue != "" {
		return audit.ParsePublicKey(flagValue)
	}
	key, err := cfg.loadAuditKey(false)
	if err != nil {
		return nil, fmt.Errorf("%w (or pass --public-key, as `scanledger audit key` prints it)", err)
	}
	return key.Public().(ed25519.PublicKey), nil
}

// auditFlags are the flags every audit command shares beside the settings.
func auditFlags(fs *flag.FlagSet, publicKey *string) {
	fs.StringVar(publicKey, "public-key", "", "hex Ed25519 public key seals must be signed with (default: from the audit key file)")
}

// newSealer loads (or on first start generates) the seal key.
func (a *App) newSealer() (*audit.Sealer, error) {
	key, err := a.cfg.loadAuditKey(true)
	if err != nil {
		return nil, err
	}
	a.auditKey = key
	return audit.NewSealer(a.store, key), nil
}

// exporter writes sealed exports with this service's sealer and key.
func (a *App) exporter() *audit.Exporter {
	return &audit.Exporter{Store: a.store, Sealer: a.sealer, Key: a.auditKey}
}

// runSeals seals the event store at the configured interval (nothing is appended when
// nothing changed), and once more on the way out so a clean shutdown leaves everything
// sealed.
func (a *App) runSeals(ctx context.Context) error {
	if every := a.cfg.SealEvery; every > 0 {
		a.sealer.Run(ctx, every, func(format string, args ...any) { a.log.Error(fmt.Sprintf(format, args...)) })
	}
	<-ctx.Done()
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, _, err := a.sealer.Seal(fctx); err != nil {
		a.log.Warn("final audit seal", "err", err)
	}
	return ctx.Err()
}

// verifier checks the store against seals signed with this service's key.
func (a *App) verifier() *audit.Verifier {
	return &audit.Verifier{Store: a.store, Public: a.sealer.PublicKey()}
}

// recordGrant keeps a role grant in the access trail: roles change only on the
// command line, by an operator. The user is named by id: an email in the trail would be
// personal data kept forever.
func recordGrant(ctx context.Context, store event.Store, userID, role string) error {
	err := audit.NewTrail(store).Record(ctx, trail.Entry{ActorRole: "operator", Action: trail.GrantRole,
		Subject: "user:" + userID, OwnerID: userID, Detail: "granted role " + role})
	if err != nil {
		return fmt.Errorf("role granted but not recorded in the access trail: %w", err)
	}
	return nil
}
