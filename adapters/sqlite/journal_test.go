package sqlite_test

import (
	"testing"
)

// A statement that writes many rows (a projection's multi-row INSERT) keeps a statement
// journal of every page it changes, so that a failing row can undo the rows before it.
// Past 64 KiB SQLite spills that journal to a temporary file, one write system call per
// page, unless temporary storage is in memory: in a 5,000-event projection batch that
// was most of the writes the process made (docs/benchmarks.md, "SQLite catch-up").
func TestWriteConnectionKeepsStatementJournalsInMemory(t *testing.T) {
	db := openDB(t)
	var store int
	if err := db.Write.QueryRowContext(t.Context(), `PRAGMA temp_store`).Scan(&store); err != nil {
		t.Fatal(err)
	}
	if store != 2 {
		t.Fatalf("temp_store on the write connection = %d, want 2 (MEMORY)", store)
	}
}

// The write connection's page cache holds what a 5,000-event projection batch changes
// (a few thousand pages): at SQLite's default 2 MB the batch spilled changed pages to the
// log before its commit and read index pages back from the file.
func TestWriteConnectionCachesAProjectionBatch(t *testing.T) {
	db := openDB(t)
	var size int
	if err := db.Write.QueryRowContext(t.Context(), `PRAGMA cache_size`).Scan(&size); err != nil {
		t.Fatal(err)
	}
	if size != -32768 {
		t.Fatalf("cache_size on the write connection = %d, want -32768 (32 MiB)", size)
	}
}
