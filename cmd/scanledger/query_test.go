package main_test

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scanledger/scanledger/adapters/sqlite"
	"github.com/scanledger/scanledger/migrations"
)

// queryDataDir is an embedded data dir with one house and one succeeded scan.
func queryDataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "scanledger.db"), migrations.EventStore, migrations.ReadModel)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`INSERT INTO houses (id, user_id, address, status, created_at, updated_at)
		 VALUES ('h1', 'u1', '1 Main St', 'active', '2026-03-02T09:00:00.000Z', '2026-03-02T09:00:00.000Z')`,
		`INSERT INTO scans (id, house_id, status, inputs_snapshot, started_at, finished_at, created_at, user_id, attempt, version, updated_at)
		 VALUES ('s1', 'h1', 'succeeded', '{}', '2026-03-02T09:00:00.000Z', '2026-03-02T09:00:12.500Z',
		         '2026-03-02T09:00:00.000Z', 'u1', 1, 3, '2026-03-02T09:00:12.500Z')`,
	} {
		if _, err := db.Write.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// runCmd runs the binary; the output is stdout, or stderr when it fails.
func runCmd(args ...string) (string, error) {
	var out, errOut bytes.Buffer
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return errOut.String(), fmt.Errorf("%v: %s", err, errOut.String())
	}
	return out.String(), nil
}

func TestQuery_PrintsTheRowsOfTheEmbeddedReadModelAsATableOrCSV(t *testing.T) {
	dir := queryDataDir(t)
	out, err := runCmd("query", "--data-dir", dir, "SELECT scan_id, status, round(duration_seconds, 3) AS seconds, failure_code FROM scan_outcomes")
	if err != nil {
		t.Fatal(err)
	}
	want := "scan_id  status     seconds  failure_code\ns1       succeeded  12.5     NULL\n(1 rows)\n"
	if out != want {
		t.Errorf("table:\n%s\nwant\n%s", out, want)
	}
	out, err = runCmd("query", "SELECT scan_id, status, failure_code FROM scan_outcomes", "--format", "csv", "--data-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := "scan_id,status,failure_code\ns1,succeeded,\n"; out != want {
		t.Errorf("csv:\n%s\nwant\n%s", out, want)
	}
}

func TestQuery_RefusesEveryWriteAndChangesNothing(t *testing.T) {
	dir := queryDataDir(t)
	for _, stmt := range []string{
		"DELETE FROM scans",
		"  -- a comment first\nUPDATE scans SET status = 'failed'",
		"DROP TABLE events",
		"ATTACH DATABASE '" + filepath.Join(dir, "other.db") + "' AS other",
		"PRAGMA query_only = 0",
		"SELECT 1; DELETE FROM scans",
		"WITH x AS (SELECT 1) DELETE FROM scans",
	} {
		if out, err := runCmd("query", "--data-dir", dir, stmt); err == nil {
			t.Errorf("%q was run: %s", stmt, out)
		}
	}
	out, err := runCmd("query", "--data-dir", dir, "--format", "csv", "SELECT count(*) AS n FROM scans WHERE status = 'succeeded'")
	if err != nil || out != "n\n1\n" {
		t.Errorf("after the refused writes: %q %v", out, err)
	}
	if _, err := runCmd("query", "--data-dir", dir, "--format", "csv", "SELECT * FROM events"); err != nil {
		t.Errorf("reading the event store: %v", err)
	}
	if out, err := runCmd("query", "--readmodel", "postgres://x@127.0.0.1/db", "SELECT 1"); err == nil || !strings.Contains(err.Error(), "analyst") {
		t.Errorf("a PostgreSQL read model: %q %v, want a pointer to the analyst role", out, err)
	}
}
