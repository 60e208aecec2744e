// Package pgtest gives tests throwaway PostgreSQL databases on the server named by
// TEST_DATABASE_URL (or the local default), so every package tests against a real
// PostgreSQL the same way. Unreachable servers are errors: a skipped PostgreSQL half
// would pass unnoticed.
//
// A database is dropped when its test ends, failed or not. A run killed by go test's
// timeout (or by hand) cannot drop its databases, so their names carry their creation
// time and every Create drops those older than StaleAfter.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultURL is the server used when TEST_DATABASE_URL is unset: the one `make test`
// finds listening locally (trust auth).
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// StaleAfter is the age at which a test database is assumed abandoned: far longer
// than any test run (make test allows 20 minutes), so a run in progress elsewhere on
// the same server keeps its databases.
const StaleAfter = time.Hour

// AdminURL is the server test databases are created on.
func AdminURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// Create makes an empty database named prefix_<random> and returns its URL and a
// function that drops it. It suits TestMain, where there is no testing.TB.
func Create(ctx context.Context, prefix string) (dbURL string, drop func() error, err error) {
	admin := AdminURL()
	u, err := url.Parse(admin)
	if err != nil {
		return "", nil, fmt.Errorf("TEST_DATABASE_URL must be a URL: %w", err)
	}
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", nil, fmt.Errorf("PostgreSQL is required at %s (set TEST_DATABASE_URL): %w", admin, err)
	}
	defer conn.Close(ctx)
	if err := sweep(ctx, conn, time.Now()); err != nil {
		return "", nil, err
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := fmt.Sprintf("%s_t%d_%s", prefix, time.Now().Unix(), hex.EncodeToString(b))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	drop = func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
		return nil
	}
	u.Path = "/" + name
	return u.String(), drop, nil
}

// sweep drops the test databases created before now-StaleAfter. Create names them
// prefix_t<unix seconds>_<12 hex digits>.
func sweep(ctx context.Context, conn *pgx.Conn, now time.Time) error {
	rows, err := conn.Query(ctx, `SELECT datname FROM pg_database WHERE datname ~ '_t[0-9]{10}_[0-9a-f]{12}$'`)
	if err != nil {
		return fmt.Errorf("list test databases: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("list test databases: %w", err)
	}
	for _, name := range names {
		stamp := name[len(name)-len("0123456789_0123456789ab") : len(name)-len("_0123456789ab")]
		created, err := strconv.ParseInt(stamp, 10, 64)
		if err != nil || now.Sub(time.Unix(created, 0)) < StaleAfter {
			continue
		}
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop stale test database %s: %w", name, err)
		}
	}
	return nil
}

// New makes an empty database for t, dropped when t ends, and returns its URL.
func New(t testing.TB, prefix string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dbURL, drop, err := Create(ctx, prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := drop(); err != nil {
			t.Error(err)
		}
	})
	return dbURL
}

// Main runs a package's tests with one database for the whole run, created before and
// dropped after; it returns the exit code for os.Exit.
func Main(m *testing.M, prefix string, dbURL *string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	u, drop, err := Create(ctx, prefix)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	defer func() {
		if err := drop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}()
	*dbURL = u
	return m.Run()
}

// Schema creates a fresh schema in the database at dbURL and returns dbURL with its
// search_path set to it, plus the given connection settings: tests of one run share
// a database and run in parallel, each in its own schema, without seeing each other's
// rows. The schema goes with the database.
func Schema(t testing.TB, dbURL string, settings map[string]string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("database URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	for k, v := range settings {
		q.Set(k, v)
	}
	u.RawQuery = q.Encode()
	return u.String()
}
