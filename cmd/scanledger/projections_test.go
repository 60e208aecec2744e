package main_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to reach the PostgreSQL read model

	"github.com/scanledger/scanledger/adapters/sqlite"
)

// readModelDB opens the read-model database of a server started with env in dataDir.
func readModelDB(t *testing.T, dataDir string, env []string) *sql.DB {
	t.Helper()
	for _, kv := range env {
		if u, ok := strings.CutPrefix(kv, "SCANLEDGER_EVENTSTORE="); ok {
			db, err := sql.Open("pgx", u)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		}
	}
	db, err := sqlite.Open(context.Background(), filepath.Join(dataDir, "scanledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db.Write
}

// projectionsCmd runs `scanledger projections args...` against the server's data.
func projectionsCmd(dataDir string, env []string, args ...string) (string, error) {
	cmd := exec.Command(binary, append(append([]string{"projections"}, args...), "--data-dir", dataDir)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestProjections_RebuildBesideAndSwapWhileServingSendsNothingAgainKeepsSessionsAndRepairsRows(t *testing.T) {
	for _, m := range modes()[:2] { // embedded, postgres+s3: the two read-model engines
		t.Run(m.name, func(t *testing.T) {
			env := m.env(t)
			dir := t.TempDir()
			srv := startServer(t, dir, env...)
			db := readModelDB(t, dir, env)

			email := "ops-" + strings.ReplaceAll(m.name, "+", "-") + "@example.com"
			if r := srv.json("POST", "/api/v1/auth/signup", "", `{"email":"`+email+`","password":"secret1","firstName":"O","lastName":"P"}`); r.Status != http.StatusCreated {
				t.Fatalf("signup: %d %s", r.Status, r.Body)
			}
			var session struct{ AccessToken, RefreshToken string }
			srv.json("POST", "/api/v1/auth/login", "", `{"email":"`+email+`","password":"secret1"}`).data(t, &session)
			tok := session.AccessToken

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			live := srv.follow(ctx, tok, "", "")
			scanID, scanPath := srv.submitScan(tok, `{"address":"12 Harbour Road"}`, photos(t), map[string]string{"rooms": `[{"imageIndices":[0]},{"imageIndices":[1]}]`})
			got := until(t, live, "scan:completed", 120*time.Second)
			lastID := got[len(got)-1].ID

			owned := []string{"houses", "scans", "rooms", "house_room_images", "house_scan_summary", "agents_runs", "scan_attempts", "scan_checklist_items"}
			waitFor(t, 30*time.Second, "every projection at the same position", func() bool {
				var n int
				return db.QueryRow(`SELECT count(DISTINCT position) FROM projection_checkpoints`).Scan(&n) == nil && n == 1
			})
			liveRows := scanRows(t, db, scanID, owned...)
			// A row gone wrong, as a since-fixed bug or a hand edit leaves it.
			if _, err := db.Exec(`UPDATE scans SET status = 'failed', failure_code = 'corrupted' WHERE id = $1`, scanID); err != nil {
				t.Fatal(err)
			}

			if out, err := projectionsCmd(dir, env, "rebuild", "readmodel"); err == nil || !strings.Contains(out, "needs") {
				t.Fatalf("rebuild in place while serving: %v\n%s", err, out)
			}
			if out, err := projectionsCmd(dir, env, "rebuild", "readmodel", "--beside"); err != nil {
				t.Fatalf("rebuild --beside: %v\n%s", err, out)
			}
			// The API answers throughout the swap, and events keep coming (scans created:
			// no live message), so the swap has events to catch up under its lock.
			stop := make(chan struct{})
			answered := make(chan error, 1)
			go func() {
				defer close(answered)
				for {
					select {
					case <-stop:
						return
					default:
					}
					if r := srv.do("GET", scanPath, tok, "", nil); r.Status != http.StatusOK {
						answered <- fmt.Errorf("GET the scan during the swap: %d %s", r.Status, r.Body)
						return
					}
					if r := srv.json("POST", "/api/v1/scans", tok, `{"address":"14 Harbour Road"}`); r.Status != http.StatusCreated {
						answered <- fmt.Errorf("POST a scan during the swap: %d %s", r.Status, r.Body)
						return
					}
				}
			}()
			out, err := projectionsCmd(dir, env, "swap", "readmodel")
			close(stop)
			if err != nil {
				t.Fatalf("swap: %v\n%s", err, out)
			}
			if err := <-answered; err != nil {
				t.Error(err)
			}

			if out, err := projectionsCmd(dir, env, "rebuild", "analytics", "--beside"); err != nil {
				t.Fatalf("rebuild analytics --beside: %v\n%s", err, out)
			}
			if out, err := projectionsCmd(dir, env, "swap", "analytics"); err != nil {
				t.Fatalf("swap analytics: %v\n%s", err, out)
			}
			// Row for row what the read model held of the scan before the corruption.
			for table, rows := range scanRows(t, db, scanID, owned...) {
				if strings.Join(rows, "\n") != strings.Join(liveRows[table], "\n") {
					t.Errorf("%s after the swaps:\n%s\nwant\n%s", table, strings.Join(rows, "\n"), strings.Join(liveRows[table], "\n"))
				}
			}
			// Still logged in: the access token works and the refresh token rotates.
			if r := srv.do("GET", scanPath, tok, "", nil); r.Status != http.StatusOK {
				t.Errorf("GET the scan after the swap: %d %s", r.Status, r.Body)
			}
			if r := srv.json("POST", "/api/v1/auth/refresh", "", `{"refreshToken":"`+session.RefreshToken+`"}`); r.Status != http.StatusCreated {
				t.Errorf("refresh after the swap: %d %s", r.Status, r.Body)
			}
			// Nothing was sent again: the next message is the next new one, with the next id.
			var second struct{ ScanID string }
			srv.json("POST", "/api/v1/scans", tok, `{"address":"13 Harbour Road"}`).data(t, &second)
			if r := srv.upload("/api/v1/scans/"+second.ScanID+"/images", tok, photos(t)[:1], map[string]string{"rooms": `[{"imageIndices":[0]}]`}); r.Status != http.StatusCreated {
				t.Fatalf("upload: %d %s", r.Status, r.Body)
			}
			next := until(t, live, "scan:uploaded", 30*time.Second)
			if len(next) != 1 || next[0].ID != lastID+1 || next[0].Data["scanId"] != second.ScanID {
				t.Errorf("after the swap the live client got %+v; want only the new upload, id %d", next, lastID+1)
			}
			if out, err := projectionsCmd(dir, env, "status"); err != nil || !strings.Contains(out, "readmodel") {
				t.Errorf("status: %v\n%s", err, out)
			}

			// Stopped, a rebuild runs in place (holding the data dir or the projection's lock).
			srv.stop()
			liveRows = scanRows(t, db, scanID, owned...)
			if out, err := projectionsCmd(dir, env, "rebuild", "readmodel"); err != nil || !strings.Contains(out, "readmodel swapped") {
				t.Fatalf("rebuild in place: %v\n%s", err, out)
			}
			for table, rows := range scanRows(t, db, scanID, owned...) {
				if strings.Join(rows, "\n") != strings.Join(liveRows[table], "\n") {
					t.Errorf("%s changed in a rebuild in place:\n%s\nwant\n%s", table, strings.Join(rows, "\n"), strings.Join(liveRows[table], "\n"))
				}
			}
		})
	}
}

func TestProjections_ParkedEventsAreListedShownAndSkippedWithTheDecisionRecorded(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, dir)
	srv.stop()
	// A poison event: a scan's first event that no projector can decode.
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "scanledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	poison := "6a3f0c8e-0000-4000-8000-0000000000aa"
	if _, err := db.Write.Exec(`INSERT INTO events (position, event_id, stream_id, version, type, schema_version, data, metadata, recorded_at)
		VALUES ((SELECT coalesce(max(position), 0) + 1 FROM events), $1, 'scan-6a3f0c8e-0000-4000-8000-0000000000bb', 0,
		        'Created', 1, CAST('not json' AS BLOB), CAST('{}' AS BLOB), '2026-03-02T09:00:00.000000Z')`, poison); err != nil {
		t.Fatal(err)
	}
	db.Close()
	srv = startServer(t, dir)

	var out string
	waitFor(t, 60*time.Second, "the poison event parked by readmodel", func() bool {
		out, _ = projectionsCmd(dir, nil, "parked", "list", "readmodel")
		return strings.Contains(out, poison)
	})
	if !strings.Contains(out, "(1 parked)") {
		t.Errorf("parked list:\n%s", out)
	}
	if out, err := projectionsCmd(dir, nil, "status"); err != nil || !regexpMatch(`readmodel\s+\S+\s+0\s+0s\s+1\s`, out) {
		t.Errorf("status with one parked event: %v\n%s", err, out)
	}
	if out, err := projectionsCmd(dir, nil, "parked", "show", poison); err != nil || !strings.Contains(out, "not json") || !strings.Contains(out, "readmodel") {
		t.Errorf("parked show: %v\n%s", err, out)
	}
	// The projector has not been fixed: a retry fails and changes nothing.
	if out, err := projectionsCmd(dir, nil, "parked", "retry", poison); err == nil || !strings.Contains(out, "still fails") {
		t.Errorf("retry of an event that still fails: %v\n%s", err, out)
	}
	if out, err := projectionsCmd(dir, nil, "parked", "skip", poison); err == nil {
		t.Errorf("skip without a reason was accepted:\n%s", out)
	}
	if out, err := projectionsCmd(dir, nil, "parked", "skip", poison, "--note", "written by hand in a test"); err != nil {
		t.Fatalf("skip: %v\n%s", err, out)
	}
	if out, _ := projectionsCmd(dir, nil, "parked", "list", "readmodel"); !strings.Contains(out, "(0 parked)") {
		t.Errorf("parked list after the skip:\n%s", out)
	}
	if out, _ := projectionsCmd(dir, nil, "parked", "show", poison); !strings.Contains(out, "skipped at") || !strings.Contains(out, "written by hand in a test") {
		t.Errorf("parked show after the skip:\n%s", out)
	}

	// Stopped, the rebuild runs in place; the projection parks the event again.
	srv.stop()
	if out, err := projectionsCmd(dir, nil, "rebuild", "analytics"); err != nil || !strings.Contains(out, "analytics swapped") {
		t.Fatalf("rebuild in place: %v\n%s", err, out)
	}
	if out, _ := projectionsCmd(dir, nil, "parked", "list", "analytics"); !strings.Contains(out, poison) {
		t.Errorf("the rebuild did not list the event it parked:\n%s", out)
	}
	if out, err := projectionsCmd(dir, nil, "rebuild", "jobs"); err == nil || !strings.Contains(out, "not rebuilt") {
		t.Errorf("rebuild jobs: %v\n%s", err, out)
	}
}

func regexpMatch(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) }

// scanRows reads, as sorted text rows, what each table holds of one scan (its house
// too).
func scanRows(t *testing.T, db *sql.DB, scanID string, tables ...string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, table := range tables {
		where := "scan_id = $1"
		switch table {
		case "scans":
			where = "id = $1"
		case "houses":
			where = "id IN (SELECT house_id FROM scans WHERE id = $1)"
		}
		rows, err := db.Query(`SELECT * FROM `+table+` WHERE `+where, scanID)
		if err != nil {
			t.Fatalf("read %s: %v", table, err)
		}
		// database/sql converts every column to its text: a row compares as one string.
		cols, _ := rows.Columns()
		cells := make([]any, len(cols))
		for i := range cells {
			cells[i] = new(sql.NullString)
		}
		for rows.Next() {
			if err := rows.Scan(cells...); err != nil {
				t.Fatalf("read %s: %v", table, err)
			}
			var b strings.Builder
			for _, c := range cells {
				if c := c.(*sql.NullString); c.Valid {
					b.WriteString(c.String)
				} else {
					b.WriteString("<nil>")
				}
				b.WriteString("|")
			}
			out[table] = append(out[table], b.String())
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("read %s: %v", table, err)
		}
		rows.Close()
		sort.Strings(out[table])
	}
	return out
}
