package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/scanledger/scanledger/adapters/accounts"
	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/audit"
)

// runRole is `scanledger role --email E --role R`: roles are granted only here, by an
// operator with access to the database, never through the API.
func runRole(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg Config
	fs, err := cfg.parse("role", nil, stderr)
	if err != nil {
		return err
	}
	email := fs.String("email", "", "the user's email")
	role := fs.String("role", "", "user, admin, auditor or analyst")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *email == "" || *role == "" || fs.NArg() > 0 {
		return errors.New("usage: scanledger role --email EMAIL --role user|admin|auditor|analyst")
	}
	acc, err := openAccounts(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer acc.close()
	if err := acc.SetRole(ctx, *email, *role); err != nil {
		return fmt.Errorf("role: %s", domain.ErrorMessage(err))
	}
	id, err := acc.UserIDByEmail(ctx, *email)
	if err != nil {
		return fmt.Errorf("role: %s", domain.ErrorMessage(err))
	}
	if err := recordGrant(ctx, acc.eng.store, id, *role); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s is now %s\n", *email, *role)
	return nil
}

// runRevoke is `scanledger revoke --email E`: the user's refresh tokens stop at once
// and access tokens within the API's user-check interval (5 s); logging in again works.
func runRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg Config
	fs, err := cfg.parse("revoke", nil, stderr)
	if err != nil {
		return err
	}
	email := fs.String("email", "", "the user's email")
	if err := fs.Parse(args); err != nil {
		return err
	}
	acc, err := openAccounts(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer acc.close()
	if err := acc.RevokeTokens(ctx, *email); err != nil {
		return fmt.Errorf("revoke: %s", domain.ErrorMessage(err))
	}
	fmt.Fprintf(stdout, "every token of %s is revoked\n", *email)
	return nil
}

// accountsOnly is what the one-shot account commands (role, revoke, token's role
// check) need: the databases and the accounts store over them. Nothing listens, no
// photo store, analyzer or live hub is opened, and no token is minted, so no issuer.
type accountsOnly struct {
	*accounts.Store
	eng *engines
}

func openAccounts(ctx context.Context, cfg Config, stderr io.Writer) (*accountsOnly, error) {
	log, err := newLogger(cfg.LogLevel, cfg.LogFormat, stderr)
	if err != nil {
		return nil, err
	}
	eng, err := openEngines(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	// Grants are recorded in the access trail like every other account change.
	st := accounts.New(eng.write, eng.read, nil, accounts.WithTrail(audit.NewTrail(eng.store)))
	return &accountsOnly{Store: st, eng: eng}, nil
}

func (a *accountsOnly) close() { a.eng.close() }

// withoutListening is cfg for a one-shot command: no port, no background roles.
func withoutListening(cfg Config) Config {
	cfg.Addr, cfg.Roles = "127.0.0.1:0", ""
	return cfg
}
