package accounts_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver

	"github.com/scanledger/scanledger/adapters/postgres/pgtest"
	"github.com/scanledger/scanledger/domain/account"

	"github.com/scanledger/scanledger/adapters/accounts"
	"github.com/scanledger/scanledger/adapters/sqlite"
	"github.com/scanledger/scanledger/adapters/token"
	"github.com/scanledger/scanledger/internal/clocktest"
	"github.com/scanledger/scanledger/migrations"
	"github.com/scanledger/scanledger/projections"
)

// pgURL is this test run's own Postgres database, created by TestMain and dropped after.
var pgURL string

// TestMain fails the run when Postgres is unreachable: half of every test is the
// Postgres dialect, and a skipped half would pass unnoticed.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, "scanledger_accounts", &pgURL)) }

// env is one store on a fresh database, with its clock and issuer.
type env struct {
	store  *accounts.Store
	db     projections.DB   // the write handle, for arranging rows directly
	clock  *clocktest.Clock // shared by the store and the token issuer
	tokens *token.Issuer
}

// cheapHash keeps tests fast; TestPasswordsAreStoredAsArgon2idPHCStrings covers the
// default parameters.
var cheapHash = accounts.HashParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// forEachDB runs f against a fresh SQLite file and a fresh Postgres schema.
// forEachDB runs f on a store on each engine, after tune (if any) changed its fields.
func forEachDB(t *testing.T, f func(t *testing.T, e *env), tune ...func(*accounts.Store)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		w, r := newSQLite(t)
		f(t, newEnv(w, r, tune...))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		db := newPostgres(t)
		f(t, newEnv(db, db, tune...))
	})
}

func newEnv(w, r projections.DB, tune ...func(*accounts.Store)) *env {
	c := clocktest.New(time.Date(2025, 10, 19, 12, 0, 0, 0, time.UTC))
	is := &token.Issuer{Secret: []byte("accounts-test-secret-0123456789"), Issuer: "scanledger", Audience: "scanledger-users",
		Now: c.Now}
	st := accounts.New(w, r, is)
	st.Now, st.HashParams = c.Now, cheapHash
	for _, f := range tune {
		f(st)
	}
	return &env{store: st, db: w, clock: c, tokens: is}
}

// withLimits sets a store's login limits.
func withLimits(l accounts.LoginLimits) func(*accounts.Store) {
	return func(s *accounts.Store) { s.LoginLimits = l }
}

func newSQLite(t testing.TB) (projections.DB, projections.DB) {
	t.Helper()
	sdb, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "accounts.db"), migrations.ReadModel)
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { sdb.Close() })
	return projections.DB{DB: sdb.Write, Dialect: projections.SQLite}, projections.DB{DB: sdb.Read, Dialect: projections.SQLite}
}

// newPostgres gives each test its own schema of this run's database.
func newPostgres(t *testing.T) projections.DB {
	t.Helper()
	ctx := context.Background()
	db, err := sql.Open("pgx", pgtest.Schema(t, pgURL, nil))
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if err := migrations.Apply(ctx, db, migrations.Postgres, migrations.ReadModel); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return projections.DB{DB: db, Dialect: projections.Postgres}
}

func ptr[T any](v T) *T { return &v }

// signup creates a user or fails the test.
func (e *env) signup(t testing.TB, email, password string) account.Session {
	t.Helper()
	s, err := e.store.Signup(context.Background(), account.NewUser{Email: email, Password: password,
		FirstName: ptr("Ada"), LastName: ptr("Lovelace")})
	if err != nil {
		t.Fatalf("signup %s: %v", email, err)
	}
	return s
}

// exec runs arranging SQL on the write handle.
func (e *env) exec(t *testing.T, query string, args ...any) {
	t.Helper()
	if _, err := e.db.ExecContext(context.Background(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}
