package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
)

// OpenReadOnly opens the SQLite file at path for queries only: the file is opened
// read-only and query_only refuses any statement that would change a database, so an
// analyst's SQL cannot alter the read model or the event store even by mistake. It
// reads beside a running server (WAL readers never block the writer).
func OpenReadOnly(ctx context.Context, path string) (*sql.DB, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", "query_only(1)")
	q.Add("_pragma", "busy_timeout(10000)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	return db, nil
}

// CopyTo writes a consistent copy of the SQLite file at path to dest with VACUUM INTO:
// one read transaction, so the copy is the database as of one commit, with everything
// the WAL holds folded in, while other processes keep reading and writing. dest must
// not exist.
func CopyTo(ctx context.Context, path, dest string) error {
	if _, err := os.Stat(dest); err == nil {
		return fmt.Errorf("copy sqlite: %s already exists", dest)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("copy sqlite: %w", err)
	}
	db, err := OpenReadOnly(ctx, path)
	if err != nil {
		return err
	}
	defer db.Close()
	// query_only forbids VACUUM INTO too; this connection is only ever used for it.
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("copy sqlite: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "PRAGMA query_only = 0"); err != nil {
		return fmt.Errorf("copy sqlite: %w", err)
	}
	if _, err := conn.ExecContext(ctx, "VACUUM INTO ?", dest); err != nil {
		return fmt.Errorf("copy sqlite %s to %s: %w", path, dest, err)
	}
	return nil
}
