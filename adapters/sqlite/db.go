// Package sqlite is scanledger's embedded engine: an event store and the read-model
// database in one SQLite file, through the pure Go driver (no cgo).
package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/scanledger/scanledger/migrations"
)

// DB is one SQLite database file opened twice: Write has a single connection, so every
// write transaction in this process is serialised without SQLITE_BUSY churn, and Read
// has several for concurrent readers (WAL lets them run beside the writer).
type DB struct {
	Write *sql.DB
	Read  *sql.DB
	Path  string
}

// Open opens (creating if needed) the SQLite file at path in WAL mode and applies the
// embedded migrations of the given parts (migrations.EventStore, migrations.ReadModel).
func Open(ctx context.Context, path string, parts ...string) (*DB, error) {
	q := url.Values{}
	for _, p := range []string{
		"journal_mode(WAL)",
		"busy_timeout(10000)",
		"synchronous(NORMAL)",
		"foreign_keys(ON)",
	} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()

	w, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	r, err := sql.Open("sqlite", dsn)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	db := &DB{Write: w, Read: r, Path: path}
	if err := w.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	for _, part := range parts {
		if err := migrations.Apply(ctx, w, migrations.SQLite, part); err != nil {
			db.Close()
			return nil, err
		}
	}
	return db, nil
}

// Close closes both handles.
func (db *DB) Close() error {
	err := db.Read.Close()
	if err2 := db.Write.Close(); err == nil {
		err = err2
	}
	return err
}
