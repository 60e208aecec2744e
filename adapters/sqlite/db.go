// Package sqlite is scanledger's embedded engine: an event store and the read-model
// database in one SQLite file, through the pure Go driver (no cgo).
package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/scanledger/scanledger/migrations"
)

// DB is one SQLite database file opened twice: Write has a single connection, so every
// write transaction in this process is serialised without SQLITE_BUSY churn, and Read
// has several for concurrent readers (WAL lets them run beside the writer).
//
// Write runs with synchronous=FULL: in WAL mode that fsyncs the WAL at every commit, so
// an append the store acknowledged survives an OS crash or power cut. NORMAL would only
// sync at checkpoints and could lose up to a checkpoint's worth of acknowledged appends.
// Read never commits anything, so its setting does not matter.
type DB struct {
	Write *sql.DB
	Read  *sql.DB
	Path  string
}

// Open opens (creating if needed) the SQLite file at path in WAL mode and applies the
// embedded migrations of the given parts (migrations.EventStore, migrations.ReadModel).
func Open(ctx context.Context, path string, parts ...string) (*DB, error) {
	dsn := func(synchronous string, extra ...string) string {
		q := url.Values{}
		for _, p := range append([]string{
			"journal_mode(WAL)",
			"busy_timeout(10000)",
			"synchronous(" + synchronous + ")",
			"foreign_keys(ON)",
			// Deleted rows are overwritten, not left in free space: forgetting a user
			// (Scrub) must leave no readable copy of their rows in the file.
			"secure_delete(ON)",
		}, extra...) {
			q.Add("_pragma", p)
		}
		q.Set("_txlock", "immediate")
		return "file:" + path + "?" + q.Encode()
	}

	// The writer's page cache holds a 5,000-event projection batch's changed pages
	// (SQLite's default 2 MB spilled them to the log before the commit), and its
	// statement journals (the undo of a multi-row statement, which projection batches
	// are made of) stay in memory instead of spilling to a temporary file a page per
	// write system call. Readers keep the defaults: eight of them, and their sorts may
	// be large.
	w, err := sql.Open("sqlite", dsn("FULL", "cache_size(-32768)", "temp_store(MEMORY)"))
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	r, err := sql.Open("sqlite", dsn("NORMAL"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	// Keep every reader: a connection closed as surplus takes its prepared statements
	// with it, and reopening and preparing again cost a tenth of the live pipeline.
	r.SetMaxIdleConns(8)
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

// Scrub makes rows deleted so far unreadable in the files: deleted content is already
// overwritten in the database pages (secure_delete), and the write-ahead log, which
// still holds the pages as they were before, is checkpointed into the database and
// truncated to nothing. Readers of another process can hold the log for a moment, so
// it retries until ctx ends.
func (db *DB) Scrub(ctx context.Context) error {
	for {
		var busy, logFrames, done int
		err := db.Write.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logFrames, &done)
		if err != nil {
			return fmt.Errorf("scrub %s: %w", db.Path, err)
		}
		if busy == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("scrub %s: the write-ahead log is still in use: %w", db.Path, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Close closes both handles.
func (db *DB) Close() error {
	err := db.Read.Close()
	if err2 := db.Write.Close(); err == nil {
		err = err2
	}
	return err
}
