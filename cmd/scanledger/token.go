package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/scanledger/scanledger/adapters/token"
	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/auth"
)

// runToken is `scanledger token --user ID --role ROLE`: an access token signed with
// the configured (or the data dir's generated) secret.
func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c Config
	fs, err := c.parseToken(args, stderr)
	if err != nil {
		return err
	}
	user, role := fs.Lookup("user").Value.String(), fs.Lookup("role").Value.String()
	if !domain.ValidID(user) {
		return errors.New("token: --user must be a UUID (user ids are UUIDs)")
	}
	if !auth.ValidRole(role) {
		return fmt.Errorf("token: unknown role %q (user, admin, auditor, analyst)", role)
	}
	is, err := c.issuer()
	if err != nil {
		return err
	}
	user = strings.ToLower(user)
	if role != auth.RoleUser {
		if err := checkStoredRole(ctx, c, user, role); err != nil {
			return err
		}
	}
	raw, _, err := is.Issue(auth.Access, user, role)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, raw)
	return nil
}

func (c *Config) parseToken(args []string, stderr io.Writer) (*flagSet, error) {
	fs, err := c.parse("token", nil, stderr)
	if err != nil {
		return nil, err
	}
	fs.String("user", "", "user id (a UUID)")
	fs.String("role", auth.RoleUser, "role: user, admin, auditor or analyst")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return fs, nil
}

type flagSet = flag.FlagSet

// issuer returns the token issuer for this configuration.
func (c *Config) issuer() (*token.Issuer, error) {
	secret, err := readSecret(c.JWTSecret, c.DataDir)
	if err != nil {
		return nil, err
	}
	return &token.Issuer{Secret: derive(secret, "jwt"), Issuer: c.JWTIssuer, Audience: c.JWTAudience,
		AccessTTL: c.AccessTTL, RefreshTTL: c.RefreshTTL}, nil
}

// localToken mints a token for the local command-line user of an embedded install, so
// `scanledger scan` works with no set-up. The user id is kept in the data dir.
func localToken(dataDir string) (string, error) {
	var c Config
	if _, err := c.parse("scan", nil, io.Discard); err != nil {
		return "", err
	}
	c.DataDir = dataDir
	is, err := c.issuer()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dataDir, "cli-user")
	b, err := os.ReadFile(path)
	user := strings.TrimSpace(string(b))
	if err != nil || !domain.ValidID(user) {
		// The data dir exists (it holds the secret): remember one user for this machine.
		user = domain.NewID()
		if err := os.WriteFile(path, []byte(user+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("remember the local user: %w", err)
		}
	}
	raw, _, err := is.Issue(auth.Access, user, auth.RoleUser)
	return raw, err
}

// checkStoredRole refuses a token whose role the user does not hold in the database:
// every right beyond a user's comes from the stored role, never from the token, so
// such a token would silently grant nothing.
func checkStoredRole(ctx context.Context, c Config, user, role string) error {
	acc, err := openAccounts(ctx, c, io.Discard)
	if err != nil {
		return fmt.Errorf("token: read the user's role: %w", err)
	}
	defer acc.close()
	stored, err := acc.Role(ctx, user)
	if domain.ErrorCode(err) == domain.ENOTFOUND {
		return fmt.Errorf("token: user %s has no account in this server's database, and %s rights come from the "+
			"stored role, not from the token: sign up first, then `scanledger role --email EMAIL --role %s`", user, role, role)
	}
	if err != nil {
		return fmt.Errorf("token: read the user's role: %w", err)
	}
	if stored != role {
		return fmt.Errorf("token: user %s is %s in the database, so a %s token would grant nothing more: "+
			"first `scanledger role --email EMAIL --role %s`", user, stored, role, role)
	}
	return nil
}
