// Package accounts stores scanledger's users, their sessions (refresh-token state),
// login attempts and checklists in the read-model database (SQLite or PostgreSQL; every
// statement is written once for both), in the original houseScanner tables (contracts
// section 4).
//
// What it adds to the original, on purpose (contracts section 9):
//   - passwords are hashed with argon2id, verified in constant time, and a login for an
//     unknown email costs as much as a wrong password;
//   - refresh tokens are rotated and remembered: a token exchanged less than a grace
//     window ago is still honoured (the PWA refreshes in parallel), one exchanged longer
//     ago is a replay and revokes every token descended from the same login;
//   - failed logins are limited per email and per client address, counted in the
//     database so every instance sees the same counts;
//   - roles are read from the database for admin-only actions, never from the token;
//   - a fresh install gets default base checklists (EnsureDefaults);
//   - base checklists are disabled, never un-based, and every admin change (base
//     checklists, model prices) is recorded in the access trail before it is made.
//
// It also serves the admin console's lists and the model price registry (console.go):
// reads across the read model (houses, scans, agent runs) joined with users.
package accounts

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/scanledger/scanledger/domain/auth"
	"github.com/scanledger/scanledger/domain/trail"
	"github.com/scanledger/scanledger/projections"
)

// Store is the accounts and checklist storage.
//
// Set its exported fields before the first call; their zero values are the defaults.
type Store struct {
	// Now replaces time.Now (tests of windows and expiry). nil means time.Now.
	Now func() time.Time
	// HashParams are the password hash's costs. Zero means DefaultHashParams().
	HashParams HashParams
	// LoginLimits bound failed logins and signups. Zero means DefaultLoginLimits().
	LoginLimits LoginLimits
	// Trail records admin changes. nil: they are not recorded.
	Trail trail.Recorder

	write      projections.DB // SQLite: the single writer connection; Postgres: the pool
	read       projections.DB
	tokens     Tokens
	hasherOnce sync.Once
	hasherSet  *hasher
	// signupLane admits fewer signup hashes at once than the hasher has slots, so a
	// flood of signups always leaves slots to logins.
	signupLane chan struct{}
}

// Tokens signs the sessions the store hands out and verifies the refresh tokens it is
// given back (adapters/token.Issuer, composed in cmd).
type Tokens interface {
	Issue(kind, userID, role string) (string, auth.Claims, error)
	IssueInSession(kind, userID, role, session string) (string, auth.Claims, error)
	Verify(raw, kind string) (auth.Claims, error)
}

// LoginLimits bound failed logins: a login is refused (ERATELIMIT) while the email has
// PerEmail, or the client address PerIP, attempts that did not succeed within Window.
// Signups are refused while the address has SignupsPerIP signups within Window. A limit
// of 0 is no limit.
type LoginLimits struct {
	PerEmail     int
	PerIP        int
	SignupsPerIP int
	Window       time.Duration
}

// DefaultLoginLimits: 10 failures per email in 15 minutes stops online guessing of one
// account; 30 per address also slows spraying one password over many emails, while
// leaving room for a household or office behind one NAT address.
func DefaultLoginLimits() LoginLimits {
	return LoginLimits{PerEmail: 10, PerIP: 30, SignupsPerIP: 10, Window: 15 * time.Minute}
}

// DefaultRefreshGrace is how long a rotated refresh token still works. The PWA fires one
// refresh per concurrent 401, all with the same token, within a second or two.
const DefaultRefreshGrace = 30 * time.Second

// New returns a Store on a migrated read-model database (migrations.ReadModel). With
// SQLite, write is the single-connection write handle and read the reader pool; with
// Postgres both are the same pool. tokens signs the sessions it hands out.
func New(write, read projections.DB, tokens Tokens) *Store {
	s := &Store{
		write:      write,
		read:       read,
		tokens:     tokens,
		signupLane: make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2)),
	}
	return s
}

func (s *Store) clock() time.Time {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	return now().UTC().Truncate(time.Millisecond)
}

// hasher hashes and checks passwords with HashParams, as many at once as there are
// cores: more would only queue on the CPU while holding their memory.
func (s *Store) hasher() *hasher {
	s.hasherOnce.Do(func() {
		p := s.HashParams
		if p == (HashParams{}) {
			p = DefaultHashParams()
		}
		s.hasherSet = newHasher(p, runtime.GOMAXPROCS(0))
	})
	return s.hasherSet
}

func (s *Store) limits() LoginLimits {
	if s.LoginLimits == (LoginLimits{}) {
		return DefaultLoginLimits()
	}
	return s.LoginLimits
}

// inTx runs f in a write transaction and commits when f returns nil. With SQLite the
// write handle has one connection: f must use tx only, never s.write.
func (s *Store) inTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	if err := f(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// t binds a timestamp in the database's representation.
func (s *Store) t(t time.Time) any { return s.write.Dialect.Time(t) }
