package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/scanledger/scanledger/adapters/accounts"
	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/audit"
)

// roleCmd is `scanledger role --email E --role R`: roles are granted only here, by an
// operator with access to the database, never through the API.
type roleCmd struct{ email, role string }

func (c *roleCmd) setFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.email, "email", "", "the user's email")
	fs.StringVar(&c.role, "role", "", "user, admin, auditor or analyst")
}

func (c *roleCmd) execute(ctx context.Context, cfg Config, fs *flag.FlagSet, stdout, stderr io.Writer) error {
	if c.email == "" || c.role == "" {
		return errors.New("usage: scanledger role --email EMAIL --role user|admin|auditor|analyst")
	}
	acc, err := openAccounts(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer acc.close()
	if err := acc.SetRole(ctx, c.email, c.role); err != nil {
		return fmt.Errorf("role: %s", domain.ErrorMessage(err))
	}
	id, err := acc.UserIDByEmail(ctx, c.email)
	if err != nil {
		return fmt.Errorf("role: %s", domain.ErrorMessage(err))
	}
	if err := recordGrant(ctx, acc.eng.store, id, c.role); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s is now %s\n", c.email, c.role)
	return nil
}

// revokeCmd is `scanledger revoke --email E`: the user's refresh tokens stop at once
// and access tokens within the API's user-check interval (5 s); logging in again works.
type revokeCmd struct{ email string }

func (c *revokeCmd) setFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.email, "email", "", "the user's email")
}

func (c *revokeCmd) execute(ctx context.Context, cfg Config, _ *flag.FlagSet, stdout, stderr io.Writer) error {
	acc, err := openAccounts(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer acc.close()
	if err := acc.RevokeTokens(ctx, c.email); err != nil {
		return fmt.Errorf("revoke: %s", domain.ErrorMessage(err))
	}
	fmt.Fprintf(stdout, "every token of %s is revoked\n", c.email)
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
	eng, err := openStores(ctx, cfg, stderr)
	if err != nil {
		return nil, err
	}
	// Grants are recorded in the access trail like every other account change.
	st := accounts.New(eng.write, eng.read, nil)
	st.Trail = audit.NewTrail(eng.store)
	return &accountsOnly{Store: st, eng: eng}, nil
}

func (a *accountsOnly) close() { a.eng.close() }

// withoutListening is cfg for a one-shot command: no port, no background roles.
func withoutListening(cfg Config) Config {
	cfg.Addr, cfg.Roles = "127.0.0.1:0", Roles{}
	return cfg
}
