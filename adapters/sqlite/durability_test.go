package sqlite_test

import (
	"testing"
)

// An acknowledged append must survive an OS crash or power cut. In WAL mode SQLite
// only syncs the WAL on commit with synchronous=FULL (2); NORMAL (1) syncs at
// checkpoints, so the commits since the last one can vanish. Every connection the
// event store appends on must therefore be FULL.
func TestWriteConnectionSyncsEveryCommit(t *testing.T) {
	db := openDB(t)
	var level int
	if err := db.Write.QueryRowContext(t.Context(), `PRAGMA synchronous`).Scan(&level); err != nil {
		t.Fatal(err)
	}
	if level != 2 {
		t.Fatalf("synchronous on the write connection = %d, want 2 (FULL)", level)
	}
	var mode string
	if err := db.Write.QueryRowContext(t.Context(), `PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Fatalf("journal_mode = %q, want wal", mode)
	}
}
