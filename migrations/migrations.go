// Package migrations holds scanledger's SQL schema, embedded in the binary, per dialect
// (sqlite, postgres) and per part (eventstore, readmodel), and applies it.
//
// Files are named NNNN_description.sql and applied in name order, each in its own
// transaction, once: applied versions are recorded in schema_migrations. Never edit an
// applied file; add a new one.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

//go:embed all:sqlite all:postgres
var files embed.FS

// Dialects.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Parts of the schema.
const (
	EventStore = "eventstore"
	ReadModel  = "readmodel"
)

// Apply applies every migration of dialect/part not applied yet to db. It is safe to
// call from several processes at once on Postgres: a transaction-level advisory lock
// serialises them.
func Apply(ctx context.Context, db *sql.DB, dialect, part string) error {
	dir := path.Join(dialect, part)
	entries, err := fs.ReadDir(files, dir)
	if err != nil {
		return fmt.Errorf("migrations %s: %w", dir, err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".sql") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)

	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		part TEXT NOT NULL, version TEXT NOT NULL, PRIMARY KEY (part, version))`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	for _, name := range names {
		if err := applyOne(ctx, db, dialect, part, dir, name); err != nil {
			return err
		}
	}
	return nil
}

func applyOne(ctx context.Context, db *sql.DB, dialect, part, dir, name string) error {
	body, err := fs.ReadFile(files, path.Join(dir, name))
	if err != nil {
		return fmt.Errorf("read migration %s: %w", name, err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migration %s: %w", name, err)
	}
	defer tx.Rollback()
	if dialect == Postgres {
		// One migrator at a time across instances; released at commit.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7227060001)`); err != nil {
			return fmt.Errorf("migration lock: %w", err)
		}
	}
	var n int
	q := `SELECT count(*) FROM schema_migrations WHERE part = $1 AND version = $2`
	if err := tx.QueryRowContext(ctx, q, part, name).Scan(&n); err != nil {
		return fmt.Errorf("migration %s: %w", name, err)
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return fmt.Errorf("apply migration %s/%s: %w", dir, name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (part, version) VALUES ($1, $2)`, part, name); err != nil {
		return fmt.Errorf("record migration %s: %w", name, err)
	}
	return tx.Commit()
}
