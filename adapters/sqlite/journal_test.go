package sqlite_test

import (
	"testing"
)

// The write connection is where projection batches commit: a catch-up batch is 5,000
// events of multi-row statements, and two of SQLite's defaults made it write far more
// than its rows (docs/benchmarks.md, "SQLite catch-up").
func TestWriteConnectionIsSetUpForProjectionBatches(t *testing.T) {
	db := openDB(t)
	for _, c := range []struct {
		name, pragma string
		want         int
	}{
		// A multi-row statement journals every page it changes, so that a failing row
		// can undo the rows before it. Past 64 KiB SQLite spills that journal to a
		// temporary file, a write system call per page, unless temporary storage is in
		// memory (2).
		{"statement journals in memory", "temp_store", 2},
		// A batch changes a few thousand pages: at the default 2 MB (500 pages) it
		// spilled changed pages to the log before its commit and read index pages back
		// from the file. Negative: KiB.
		{"a page cache that holds a batch", "cache_size", -32768},
	} {
		var got int
		if err := db.Write.QueryRowContext(t.Context(), `PRAGMA `+c.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%s: %s on the write connection = %d, want %d", c.name, c.pragma, got, c.want)
		}
	}
}
